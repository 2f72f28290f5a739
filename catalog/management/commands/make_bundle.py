"""Write a fine-tuning starter bundle for a catalog model to a zip file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import bundles
from catalog.models import ModelEntry
from core.options import Schema
from core.starter.builder import BundleConfigError
from core.starter.options import BUNDLE_OPTIONS, TEXT_BUNDLE_OPTIONS

# Text bundles' own options (max_length), as flags beside the image ones; the model's kind decides which apply,
# and a flag of the other kind is refused by name (as the API refuses an unknown field).
TEXT_ONLY_OPTIONS = Schema(
    name="target", options=tuple(o for o in TEXT_BUNDLE_OPTIONS if o.name not in BUNDLE_OPTIONS.names)
)


class Command(BaseCommand):
    help = (
        "Build a starter bundle (a runnable transfer-learning project) for namespace/name: an image bundle, "
        "or a text bundle for an nlp model (defaults differ: see the API schema)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id")
        BUNDLE_OPTIONS.add_arguments(
            parser
        )  # --num-classes, --batch-size, ...: the API's options, same checks
        TEXT_ONLY_OPTIONS.add_arguments(parser)
        parser.add_argument(
            "--hub-url", default="http://127.0.0.1:8000", help="Where train.py fetches weights from"
        )
        parser.add_argument("--output", "-o", type=Path, default=None)

    def handle(self, *args, model_id: str, hub_url: str, output: Path | None, **options) -> None:
        namespace, _, name = model_id.partition("/")
        model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
        if model is None:
            raise CommandError(f"No model {model_id}.")
        try:
            data, filename, etag = bundles.starter_bundle(
                model=model, raw_target=_given(options), hub_url=hub_url.rstrip("/")
            )
        except BundleConfigError as error:
            raise CommandError(str(error)) from error  # "<field>: <message>", the field named once
        path = output or Path.cwd() / filename
        path.write_bytes(data)
        self.stdout.write(f"Wrote {path} ({len(data):,} bytes, etag {etag[:12]}).")


def _given(options: dict) -> dict:
    """The bundle options given on the command line, of either kind (the defaults of neither)."""
    return {**BUNDLE_OPTIONS.arguments(options), **TEXT_ONLY_OPTIONS.arguments(options)}
