"""Writes for text models: register a transformers model directory (config.json, tokenizer files and
model.safetensors) as a catalog entry whose files the Hugging Face protocol serves unchanged.

The directory is checked by core.textmodels before anything is written (safetensors only, keys loaded strictly
for the task); a refusal is a ValidationError naming `directory`. The repository's files are fixed at
registration: they enter the entry's revision (catalog.services._stamp), so a client's cache never mixes them.
"""

import hashlib
import mimetypes
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from catalog import services
from catalog.models import Domain, Library, ModelEntry, RepoFile, SourceKind, TextModelDetails
from core.hfconfig import WEIGHTS_FILENAME

# A tokenizer.json of a large vocabulary is a few MB; a config is a few KB. Anything bigger is not one of those.
REPO_FILE_MAX_BYTES = 50_000_000


def _storage_name(sha256: str, filename: str) -> str:
    return f"repo-files/{sha256[:2]}/{sha256}/{filename}"


def _store_repo_file(model: ModelEntry, path: Path) -> RepoFile:
    size = path.stat().st_size
    if size > REPO_FILE_MAX_BYTES:
        limit = f"{REPO_FILE_MAX_BYTES:,}"
        raise ValidationError(
            {"directory": f"{path.name} is {size:,} bytes, over the {limit} a repository file may be."}
        )
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    name = _storage_name(sha256, path.name)
    if not default_storage.exists(name):  # content-addressed: an existing copy holds these very bytes
        with path.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
        if stored != name:
            default_storage.delete(stored)
            raise RuntimeError(f"storage renamed {name} to {stored}; refusing a non-content-addressed name")
    return RepoFile.objects.create(model=model, filename=path.name, file=name, sha256=sha256, size_bytes=size)


def text_model_register(
    *,
    namespace: str,
    name: str,
    directory: Path,
    task: str = "text-classification",
    license: str = "",
    base_model: str = "",
    pretrained_on: str = "",
    fine_tuned_on: str = "",
    title: str = "",
    summary: str = "",
    card: str = "",
    tags: str = "",
) -> ModelEntry:
    """Register a transformers model directory (domain nlp, library transformers) with its files and weights."""
    # Imported here: transformers takes seconds to import, and web processes (hfcompat imports this module)
    # never register text models.
    from core import textmodels

    directory = Path(directory)
    try:
        info = textmodels.inspect_text_model(directory, task=task)
    except textmodels.TextModelError as error:
        raise ValidationError({"directory": str(error)}) from error
    with transaction.atomic():
        model = services.model_register(
            namespace=namespace, name=name, domain=Domain.NLP, task=task, library=Library.TRANSFORMERS,
            architecture=info.architecture, license=license, pretrained_on=pretrained_on, title=title,
            summary=summary, card=card, tags=tags, num_params=info.num_params, num_classes=info.num_labels,
            label_names=info.label_names, base_model=base_model, fine_tuned_on=fine_tuned_on,
        )  # fmt: skip
        for filename in info.files:
            _store_repo_file(model, directory / filename)
        TextModelDetails.objects.create(
            model=model, model_type=info.model_type, max_sequence_length=info.max_sequence_length,
            vocab_size=info.vocab_size, tokenizer_sha256=info.tokenizer_sha256, base_model=base_model,
        )  # fmt: skip
        # Last: it stamps the revision, which the repository files just stored enter.
        services.weights_attach(
            model=model,
            path=directory / WEIGHTS_FILENAME,
            original_name=WEIGHTS_FILENAME,
            source_kind=SourceKind.LOCAL,
        )
    model.refresh_from_db()
    return model


def repo_file_content_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
