"""Seed the offline demo catalog: the digits dataset and small timm models trained on digits 0-4."""

import time

from django.core.management.base import BaseCommand, CommandParser

from demo.seed import demo_catalog_seed


class Command(BaseCommand):
    help = (
        "Build the digits dataset and train/register the demo models (idempotent; seconds when done before)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, seed: int, **options) -> None:
        started = time.perf_counter()
        summary = demo_catalog_seed(report=lambda line: self.stdout.write(line), seed=seed)
        self.stdout.write(
            f"Demo catalog ready in {time.perf_counter() - started:.1f}s: "
            f"{len(summary.trained)} trained, {len(summary.converted)} converted, {len(summary.kept)} already there."
        )
