"""Register a transformers model directory (config.json, tokenizer files, model.safetensors) as a text model."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import text_services
from core import weights
from core.textmodels import TEXT_TASKS


class Command(BaseCommand):
    help = "Check a local transformers model directory and register it as an nlp model (files served via HF)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="namespace/name")
        parser.add_argument("directory", type=Path)
        parser.add_argument("--task", choices=TEXT_TASKS, default="text-classification")
        parser.add_argument("--license", default="")
        parser.add_argument(
            "--base-model", default="", help="The model it was fine-tuned from (namespace/name)"
        )
        parser.add_argument("--pretrained-on", default="")
        parser.add_argument("--title", default="")
        parser.add_argument("--summary", default="")
        parser.add_argument("--tags", default="")

    def handle(self, *args, model_id: str, directory: Path, **options) -> None:
        namespace, slash, name = model_id.partition("/")
        if not slash:
            raise CommandError(f"{model_id!r} is not namespace/name.")
        try:
            model = text_services.text_model_register(
                namespace=namespace, name=name, directory=directory, task=options["task"],
                license=options["license"], base_model=options["base_model"],
                pretrained_on=options["pretrained_on"], title=options["title"], summary=options["summary"],
                tags=options["tags"],
            )  # fmt: skip
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        except weights.WeightsError as error:
            raise CommandError(str(error)) from error
        details = model.text_details
        self.stdout.write(
            f"{model.model_id}: {model.architecture}, {model.num_params:,} parameters, "
            f"{model.weights_size_bytes:,} bytes of weights ({model.weights.sha256[:12]}), "
            f"{details.max_sequence_length} tokens, vocabulary {details.vocab_size}, revision {model.revision[:12]}."
        )
