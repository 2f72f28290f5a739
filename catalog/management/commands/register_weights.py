"""Register a local weights file as a model's weights (safetensors; pickle only with --convert-pickle)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import selectors, services
from catalog.models import ModelEntry, SourceKind
from core import weights


class Command(BaseCommand):
    help = "Check a local weights file and attach it to a catalog model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="namespace/name")
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--convert-pickle",
            action="store_true",
            help="Convert a pickle checkpoint once (weights_only=True).",
        )

    def handle(self, *args, model_id: str, path: Path, convert_pickle: bool, **options) -> None:
        namespace, _, name = model_id.partition("/")
        try:
            model = selectors.model_get(namespace=namespace, name=name)
        except ModelEntry.DoesNotExist:
            raise CommandError(f"No model {model_id}.") from None
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            weights_file = services.weights_attach(
                model=model,
                path=path,
                original_name=path.name,
                source_kind=SourceKind.LOCAL,
                convert_pickle=convert_pickle,
            )
        except weights.WeightsError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{model_id}: weights {weights_file.sha256} ({weights_file.size_bytes} bytes) registered."
        )
