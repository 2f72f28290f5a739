"""Create the broker's job queues (scripts/serve.sh runs it before starting the worker and the web server)."""

from django.core.management.base import BaseCommand

from hub.celery import declare_queues


class Command(BaseCommand):
    help = "Declare the broker's queues (benchmarks, default) before any worker or web process starts."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Broker queues declared: {', '.join(declare_queues())}")
