"""Seed the offline demo catalog: the digits dataset and small timm models trained on digits 0-4, the
ImageNet-pretrained EfficientNet-Lite0, and the text catalog (MiniLM and a sentiment classifier fine-tuned here)."""

import time

from django.core.management.base import BaseCommand, CommandParser

from demo.seed import demo_catalog_seed
from demo.text_seed import text_catalog_seed


class Command(BaseCommand):
    help = (
        "Build the demo datasets and train/register the demo models, vision and text (idempotent; seconds when "
        "done before)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-text",
            action="store_true",
            help="Skip the text catalog (it downloads its data at first run).",
        )

    def handle(self, *args, seed: int, no_text: bool, **options) -> None:
        started = time.perf_counter()
        summary = demo_catalog_seed(report=lambda line: self.stdout.write(line), seed=seed)
        self.stdout.write(
            f"Demo catalog ready in {time.perf_counter() - started:.1f}s: "
            f"{len(summary.trained)} trained, {len(summary.converted)} converted, {len(summary.kept)} already there."
        )
        if no_text:
            return
        text_started = time.perf_counter()
        text = text_catalog_seed(report=lambda line: self.stdout.write(line), seed=seed)
        verdicts = ", ".join(f"{name} {v['status']}" for name, v in text.verdicts.items())
        self.stdout.write(
            f"Demo text catalog ready in {time.perf_counter() - text_started:.1f}s: "
            f"{len(text.registered)} registered, {len(text.kept)} already there; verdicts: {verdicts}."
        )
