"""Requeue or fail runs whose worker vanished, now (every worker also does this on a timer)."""

from django.core.management.base import BaseCommand

from evaluation import services


class Command(BaseCommand):
    help = "Requeue (or fail, with the reason) running benchmark runs whose heartbeat stopped."

    def handle(self, *args, **options) -> None:
        report = services.runs_reap()
        self.stdout.write(
            f"requeued {len(report.requeued)} run(s) {report.requeued}, failed {len(report.failed)} {report.failed}"
        )
