"""Writes for text datasets, and the text measurement a benchmark run dispatches to (evaluation.services).

A text dataset is an EvalDataset with modality "text": its root is a TSV/CSV/JSONL file or a folder of them
(core.textdata), its split sizes and hashes those of the reader. A run on it follows the same lifecycle as an
image run; only the measurement differs: core.textharness over the model's stored repository files.
"""

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import services as catalog_services
from catalog.models import ModelEntry, RepoFile
from core import textdata
from core.hfconfig import WEIGHTS_FILENAME
from evaluation.models import DatasetKind, EvalDataset, Modality

# What evaluation can measure for each catalog domain: a run pairs a model with data of its own modality.
DOMAIN_MODALITY = {"vision": Modality.IMAGE, "nlp": Modality.TEXT}


def _describe(root: Path, field_name: str) -> textdata.TextDataset:
    if not root.exists():
        raise ValidationError({field_name: f"{root} does not exist."})
    try:
        return textdata.read_text_dataset(root)
    except textdata.TextDatasetError as error:
        raise ValidationError({field_name: str(error)}) from error


@transaction.atomic
def dataset_register_text(
    *,
    name: str,
    root: Path,
    title: str = "",
    description: str = "",
    kind: str = DatasetKind.DIRECTORY,
    field_name: str = "root",
) -> EvalDataset:
    """Register (or refresh) a text dataset: a TSV/CSV/JSONL file or a folder of them (core.textdata).

    Unread files and columns are recorded in unused_files; a bad row or byte refuses the whole dataset,
    naming the file and line, under `field_name`.
    """
    root = Path(root).resolve()
    if EvalDataset.objects.filter(name=name).exclude(modality=Modality.TEXT).exists():
        raise ValidationError({"name": f"{name} is an image dataset; pick another name."})
    described = _describe(root, field_name)
    dataset = EvalDataset.objects.filter(name=name).first() or EvalDataset(name=name)
    dataset.title, dataset.description, dataset.kind, dataset.root = (
        title or name,
        description,
        kind,
        str(root),
    )
    dataset.modality = Modality.TEXT
    dataset.class_names = list(described.class_names)
    dataset.split_sizes, dataset.split_hashes = described.split_sizes, described.split_hashes
    dataset.unused_files = [{"path": path, "reason": reason} for path, reason in described.unused]
    dataset.decode_counts = {}
    dataset.full_clean()
    dataset.save()
    catalog_services.model_derived_refresh_for_dataset(dataset=name)
    return dataset


def is_text_upload(filename: str) -> bool:
    return Path(filename).suffix.lower() in textdata.FORMATS


def dataset_register_text_upload(
    *, name: str, path: Path, original_name: str, title: str = "", description: str = ""
) -> EvalDataset:
    """Keep an uploaded TSV/CSV/JSONL file under media/datasets/ and register it; a refusal keeps nothing."""
    if EvalDataset.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A dataset named {name!r} already exists."})
    stem = Path(original_name).stem
    if not textdata.SPLIT_NAME.match(stem):
        stem = "data"  # the split column names the splits then; a file without one is refused by the reader
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    destination = Path(settings.MEDIA_ROOT) / "datasets" / f"{name}-{digest}"
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, destination / f"{stem}{Path(original_name).suffix.lower()}")
    try:  # the folder, not the file, is the root: deleting the dataset removes the folder (dataset_delete)
        return dataset_register_text(
            name=name, root=destination, title=title, description=description, kind=DatasetKind.UPLOAD,
            field_name="file",
        )  # fmt: skip
    except Exception:
        shutil.rmtree(destination, ignore_errors=True)
        raise


# --- runs -----------------------------------------------------------------------------------------------


def check_modalities(model: ModelEntry, dataset: EvalDataset) -> None:
    """A run measures a model on data of its own modality; a text run needs a classifier."""
    expected = DOMAIN_MODALITY.get(model.domain)
    if expected != dataset.modality:
        raise ValidationError(
            {
                "dataset": f"{dataset.name} holds {dataset.modality} data; {model.model_id} is a {model.domain} model."
            }
        )
    if dataset.modality == Modality.TEXT and model.task != "text-classification":
        raise ValidationError(
            {"model": f"{model.model_id} is a {model.task} model; a text dataset measures text classifiers."}
        )


@contextmanager
def model_directory(model: ModelEntry) -> Iterator[Path]:
    """The model's repository as a directory (links to the stored files), for transformers to load."""
    settings.VAR_DIR.joinpath("tmp").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR / "tmp", prefix="text-model-") as work_dir:
        directory = Path(work_dir)
        for repo_file in RepoFile.objects.filter(model=model):
            (directory / repo_file.filename).symlink_to(Path(repo_file.file.path))
        (directory / WEIGHTS_FILENAME).symlink_to(Path(model.weights.file.path))
        yield directory


def text_run_measure(
    run: Any, config: Any, log: Callable[[str], None], report: Callable[[float, str], None]
) -> Any:
    """Measure a run's text classifier on its text split (the harness re-checks the split's content hash)."""
    # Imported here, as services imports core.harness: transformers is for workers, not for every web process.
    from core.textharness import TextDatasetSource, TextModelSource, evaluate_text_model

    dataset = TextDatasetSource(
        name=run.dataset.name, split=run.split, root=Path(run.dataset.root), content_hash=run.dataset_hash
    )
    with model_directory(run.model) as directory:
        log(f"measuring {run.model.model_id} on {run.dataset.name}/{run.split} (text)")
        source = TextModelSource(directory=directory, weights_sha256=run.weights_sha256)
        return evaluate_text_model(
            source, dataset, config, on_progress=report, class_names=list(run.dataset.class_names)
        )
