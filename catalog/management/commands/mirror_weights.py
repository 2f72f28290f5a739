"""Mirror a model's weights from the Hugging Face Hub at a pinned commit: the same job the page's button and the
API queue, run here in this process (a worker need not be running); the job row records its progress."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import services
from catalog.models import MirrorStatus, ModelEntry


class Command(BaseCommand):
    help = "Copy a model's weights from its Hugging Face repository at a pinned commit into this hub."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="namespace/name")
        parser.add_argument(
            "--revision", default="", help="The 40-character commit sha (default: the entry's)."
        )

    def handle(self, *args, model_id: str, revision: str, **options) -> None:
        namespace, _, name = model_id.partition("/")
        model = ModelEntry.objects.filter(namespace=namespace, name=name).first()
        if model is None:
            raise CommandError(f"No model {model_id}.")
        try:
            mirror, created = services.weights_mirror_request(model=model, revision=revision, enqueue=False)
        except ValidationError as error:
            raise CommandError(" ".join(" ".join(text) for text in error.message_dict.values())) from None
        if not created:
            raise CommandError(f"Mirror #{mirror.pk} of {model_id} is already {mirror.status}; wait for it.")
        self.stdout.write(f"Mirror #{mirror.pk}: {mirror.repo_id}@{mirror.revision[:12]}/{mirror.filename}")
        mirror = services.weights_mirror_execute(mirror_id=mirror.pk)
        if mirror.status != MirrorStatus.SUCCEEDED:
            raise CommandError(f"Mirror #{mirror.pk} failed: {mirror.error}")
        self.stdout.write(
            f"{model_id}: weights {mirror.weights_sha256} ({mirror.bytes_done:,} bytes) stored."
        )
