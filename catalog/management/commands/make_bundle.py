"""Write a fine-tuning starter bundle for a catalog model to a zip file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import bundles
from catalog.models import ModelEntry
from core.starter.builder import STRATEGIES, BundleConfigError


class Command(BaseCommand):
    help = "Build a starter bundle (a runnable transfer-learning project) for namespace/name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id")
        parser.add_argument("--num-classes", type=int, required=True)
        parser.add_argument("--class-names", default="", help="Comma-separated")
        parser.add_argument("--strategy", choices=STRATEGIES, default="freeze_then_unfreeze")
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr-head", type=float, default=1e-3)
        parser.add_argument("--lr-backbone", type=float, default=1e-4)
        parser.add_argument("--image-size", type=int, default=None)
        parser.add_argument("--augmentation", default="light")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="auto")
        parser.add_argument(
            "--hub-url", default="http://127.0.0.1:8000", help="Where train.py fetches weights from"
        )
        parser.add_argument("--output", "-o", type=Path, default=None)

    def handle(self, *args, model_id: str, hub_url: str, output: Path | None, **options) -> None:
        namespace, _, name = model_id.partition("/")
        model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
        if model is None:
            raise CommandError(f"No model {model_id}.")
        keys = ("num_classes", "class_names", "strategy", "epochs", "batch_size", "lr_head", "lr_backbone",
                "image_size", "augmentation", "seed", "device")  # fmt: skip
        raw = {key: options[key] for key in keys if options[key] not in (None, "")}
        try:
            data, filename, etag = bundles.starter_bundle(
                model=model, raw_target=raw, hub_url=hub_url.rstrip("/")
            )
        except BundleConfigError as error:
            raise CommandError(str(error)) from error  # "<field>: <message>", the field named once
        path = output or Path.cwd() / filename
        path.write_bytes(data)
        self.stdout.write(f"Wrote {path} ({len(data):,} bytes, etag {etag[:12]}).")
