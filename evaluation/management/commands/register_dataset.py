"""Register an evaluation dataset on this server: an ImageFolder directory (root/<split>/<class>/<image>), or with
--modality text a TSV/CSV/JSONL file or folder of them (core.textdata).

--preset checks the directory against one of timm's test sets (ImageNet-1k, -ReaL, V2, -Sketch, -A, -R: class
folders, and ReaL's file names) and registers it under the name that set's claims use.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import dataset_presets, imagedecode
from evaluation import services, text_services
from evaluation.models import Modality


class Command(BaseCommand):
    help = "Register or refresh an evaluation dataset from a directory on this server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("root", type=Path)
        parser.add_argument("--title", default="")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--preset",
            choices=dataset_presets.PRESET_NAMES,
            help="Check the layout of one of timm's test sets.",
        )
        parser.add_argument(
            "--modality", choices=Modality.values, default=Modality.IMAGE,
            help="image: an ImageFolder directory; text: a .tsv/.csv/.jsonl file or a folder of them.",
        )  # fmt: skip

    def handle(
        self, *args, name: str, root: Path, title: str, description: str, preset: str | None, **options
    ) -> None:
        if preset and name != preset:
            raise CommandError(
                f"The claims on {preset} name the dataset {preset!r}: register it as {preset}."
            )
        if preset and options["modality"] == Modality.TEXT:
            raise CommandError(
                f"--preset {preset} is an image test set; it cannot be combined with --modality text."
            )
        try:
            if preset:
                dataset, checked = services.dataset_register_preset(
                    preset=preset, root=root, title=title, description=description
                )
                self.stdout.write(checked.summary() + ".")
            elif options["modality"] == Modality.TEXT:
                dataset = text_services.dataset_register_text(
                    name=name, root=root, title=title, description=description
                )
            else:
                dataset = services.dataset_register_directory(
                    name=name, root=root, title=title, description=description
                )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        splits = ", ".join(f"{split} {size}" for split, size in dataset.split_sizes.items())
        self.stdout.write(f"Dataset {dataset.name}: {len(dataset.class_names)} classes; {splits}.")
        if dataset.unused_files:
            self.stdout.write(f"{len(dataset.unused_files)} files are not used:")
            for item in dataset.unused_files:
                self.stdout.write(f"  {item['path']}: {item['reason']}")
        for split, counts in dataset.decode_counts.items():
            for sentence in imagedecode.describe_counts(counts):
                self.stdout.write(f"{split}: {sentence}")
