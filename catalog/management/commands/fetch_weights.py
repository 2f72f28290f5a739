"""Fetch a model's safetensors from its pinned Hugging Face source (honours HF_HUB_OFFLINE and the HF cache)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import selectors, services
from catalog.models import ModelEntry
from core import weights


class Command(BaseCommand):
    help = "Download a model's weights from its Hugging Face repo at the pinned revision and store them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="namespace/name")
        parser.add_argument("--revision", help="Pin this 40-character commit sha first.")

    def handle(self, *args, model_id: str, revision: str | None, **options) -> None:
        namespace, _, name = model_id.partition("/")
        try:
            model = selectors.model_get(namespace=namespace, name=name)
        except ModelEntry.DoesNotExist:
            raise CommandError(f"No model {model_id}.") from None
        if revision:
            model = services.model_update(model=model, hf_revision=revision)
        try:
            weights_file = services.weights_fetch_from_hugging_face(model=model)
        except weights.WeightsError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{model_id}: weights {weights_file.sha256} from {model.hf_repo_id}@{model.hf_revision[:12]}."
        )
