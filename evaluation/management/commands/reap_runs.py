"""Requeue or fail jobs whose worker vanished, and republish jobs whose message was lost, now (every worker also
does this on a timer)."""

from django.core.management.base import BaseCommand

from evaluation import lifecycle, services, transfer_services


def _describe(label: str, report: lifecycle.ReapReport) -> str:
    return (
        f"{label}: requeued {len(report.requeued)} {report.requeued}, failed {len(report.failed)} {report.failed}, "
        f"republished {len(report.republished)} {report.republished}"
    )


class Command(BaseCommand):
    help = (
        "Requeue (or fail, with the reason) running benchmark runs and transfer rankings whose heartbeat stopped, "
        "and publish again those queued longer than DEPOT_RUN_QUEUED_TIMEOUT, and dataset deletions that made no "
        "progress for DEPOT_DATASET_DELETE_TIMEOUT."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(_describe("runs", services.runs_reap()))
        self.stdout.write(_describe("rankings", transfer_services.rankings_reap()))
        republished = services.datasets_deletion_reap()
        self.stdout.write(f"dataset deletions: republished {len(republished)} {republished}")
