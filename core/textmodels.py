"""What a transformers model directory holds, checked before the catalog stores any of it.

A directory laid out like a Hugging Face repository: config.json, the tokenizer's files and model.safetensors.
The weights are checked as safetensors (core.weights: header, offsets, no pickles) and loaded strictly into
the class the task names (AutoModelForSequenceClassification for text-classification, AutoModel for
feature-extraction): keys that do not fit are a refusal, never a silently re-initialised layer.
Pure python (no Django import).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import transformers

from core import weights
from core.harness import HarnessError
from core.textharness import (
    CONFIG_FILENAME,
    TOKENIZER_FILENAMES,
    WEIGHTS_FILENAME,
    load_classifier,
    load_config,
    load_tokenizer,
    max_sequence_length,
    model_label_names,
    tokenizer_sha256,
)

TEXT_TASKS = ("text-classification", "feature-extraction")


class TextModelError(ValueError):
    """The directory is not a text model Depot accepts; the message names the file or the problem."""


@dataclass(frozen=True)
class TextModelInfo:
    architecture: str  # config.architectures[0], e.g. BertForSequenceClassification
    model_type: str  # e.g. bert
    num_params: int
    max_sequence_length: int
    vocab_size: int
    num_labels: int | None  # classifiers only
    label_names: list[str]
    weights: weights.SafetensorsInfo
    tokenizer_sha256: str
    files: list[str] = field(default_factory=list)  # the repository's files besides the weights, sorted


def _check_files(directory: Path) -> list[str]:
    if not directory.is_dir():
        raise TextModelError(f"{directory} is not a directory")
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in weights.PICKLE_SUFFIXES)
    if not (directory / WEIGHTS_FILENAME).is_file():
        found = f" (found {', '.join(pickles)}: pickle checkpoints are refused)" if pickles else ""
        raise TextModelError(f"{directory.name} has no {WEIGHTS_FILENAME}{found}")
    if not (directory / CONFIG_FILENAME).is_file():
        raise TextModelError(f"{directory.name} has no {CONFIG_FILENAME}")
    tokenizer_files = [name for name in TOKENIZER_FILENAMES if (directory / name).is_file()]
    if not tokenizer_files:
        raise TextModelError(f"{directory.name} has no tokenizer file ({', '.join(TOKENIZER_FILENAMES)})")
    return sorted([CONFIG_FILENAME, *tokenizer_files])


def _load_strictly(directory: Path, task: str) -> object:
    if task == "text-classification":
        return load_classifier(directory)
    try:
        model, info = transformers.AutoModel.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, trust_remote_code=False,
            output_loading_info=True,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise TextModelError(f"Cannot load an encoder from {directory.name}: {error}") from error
    problems = [
        f"{len(info[key])} {key.replace('_', ' ')}"
        for key in ("missing_keys", "mismatched_keys")
        if info[key]
    ]
    if problems:
        raise TextModelError(f"The weights do not fit {type(model).__name__}: {'; '.join(problems)}")
    return model


def inspect_text_model(directory: Path, *, task: str) -> TextModelInfo:
    """Check a transformers model directory for the task; TextModelError names what is wrong."""
    if task not in TEXT_TASKS:
        raise TextModelError(f"Task {task!r} is not a text task Depot evaluates ({', '.join(TEXT_TASKS)})")
    directory = Path(directory)
    files = _check_files(directory)
    try:
        info = weights.inspect_safetensors(directory / WEIGHTS_FILENAME)
    except weights.WeightsError as error:
        raise TextModelError(f"{WEIGHTS_FILENAME}: {error}") from error
    try:
        config = load_config(directory)
        tokenizer = load_tokenizer(directory)
        model = _load_strictly(directory, task)
        max_length = max_sequence_length(config, tokenizer)
    except HarnessError as error:
        raise TextModelError(str(error)) from error
    classifier = task == "text-classification"
    return TextModelInfo(
        architecture=(config.architectures or [type(model).__name__])[0],
        model_type=config.model_type,
        num_params=sum(math.prod(tensor.shape) for tensor in info.tensors.values()),
        max_sequence_length=max_length,
        vocab_size=len(tokenizer),
        num_labels=config.num_labels if classifier else None,
        label_names=model_label_names(config) if classifier else [],
        weights=info,
        tokenizer_sha256=tokenizer_sha256(directory),
        files=files,
    )
