"""Run a transformers sequence classifier over a text dataset split and measure it.

The text sibling of core.harness: the same run config (HarnessConfig), the same result shape (a
BenchmarkResult, with macro-F1, per-class precision/recall/F1 and the truncation count beside it), the same
label mapping (core.harness.class_mapping) and the same Wilson interval, so the run lifecycle, verdicts and run
pages treat both alike. Pure python (no Django import).

The model is a local directory as the Hugging Face Hub lays it out: config.json, the tokenizer's files and
model.safetensors. It is loaded with AutoModelForSequenceClassification from safetensors only, never with
remote code, and strictly: a checkpoint whose keys do not fit (a bare encoder without its classification
head, say) is refused rather than run with a randomly initialised head, which transformers would only warn
about. Texts longer than the model's maximum length are truncated, and the result counts them.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers
import torch
import torch.nn.functional as F
import transformers

from core.harness import (
    DEPOT_VERSION,
    OTHER_COLUMN,
    BenchmarkResult,
    HarnessConfig,
    HarnessError,
    ProgressCallback,
    _device_name,
    _inverse_mapping,
    _jsonable,
    _peak_memory_mb,
    _resolve_device,
    _run_settings,
    class_mapping,
)
from core.textdata import TextDatasetError, TextSplit, read_text_split
from core.verdict import wilson_interval
from core.weights import sha256_file

CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.safetensors"
# The files a tokenizer may be saved as (transformers' save_pretrained and the tokenizers library); the
# tokenizer's hash in provenance is over those present, so any change to the vocabulary or rules shows.
TOKENIZER_FILENAMES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt",
    "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
)  # fmt: skip
_LATENCY_WARMUP = 3
_DEFAULT_LABEL = "LABEL_{}"  # what transformers names outputs of a config without id2label


@dataclass(frozen=True)
class TextModelSource:
    """A sequence classifier in a local directory, and the sha256 its model.safetensors must have."""

    directory: Path
    weights_sha256: str


@dataclass(frozen=True)
class TextDatasetSource:
    name: str
    split: str
    root: Path  # the dataset's file or folder (core.textdata)
    content_hash: str  # the split's hash at registration: other rows are refused, not measured


@dataclass
class TextBenchmarkResult(BenchmarkResult):
    """A BenchmarkResult (top1 is the accuracy) with the figures text classification reports besides."""

    macro_f1: float = 0.0  # percent, over the classes that occur in the split or its predictions
    per_class: dict[str, dict[str, float | int | None]] = field(default_factory=dict)  # precision, recall, f1
    truncated: int = 0  # texts longer than max_length tokens, cut to it
    modality: str = "text"
    sample_unit: str = "texts"  # how pages and logs count the samples


# ----------------------------------------------------------------------------------------------------
# Checking the inputs


def _check_directory(source: TextModelSource) -> Path:
    directory = Path(source.directory)
    if not directory.is_dir():
        raise HarnessError(f"Model directory not found: {directory}")
    missing = [name for name in (CONFIG_FILENAME, WEIGHTS_FILENAME) if not (directory / name).is_file()]
    if not any((directory / name).is_file() for name in TOKENIZER_FILENAMES):
        missing.append(f"a tokenizer file ({', '.join(TOKENIZER_FILENAMES)})")
    if missing:
        raise HarnessError(f"The model directory {directory.name} lacks {', '.join(missing)}", missing)
    actual = sha256_file(directory / WEIGHTS_FILENAME)
    if actual != source.weights_sha256.strip().lower():
        raise HarnessError(
            f"Weights sha256 mismatch for {WEIGHTS_FILENAME}: expected {source.weights_sha256}, file has {actual}"
        )
    return directory


def tokenizer_sha256(directory: Path) -> str:
    """sha256 over the tokenizer files present, each framed by its name and length, in TOKENIZER_FILENAMES order."""
    digest = hashlib.sha256()
    for name in TOKENIZER_FILENAMES:
        path = Path(directory) / name
        if path.is_file():
            data = path.read_bytes()
            digest.update(f"{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def model_label_names(config: transformers.PretrainedConfig) -> list[str]:
    """Output index -> label from config.id2label; [] when they are transformers' LABEL_i placeholders."""
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    return [] if names == [_DEFAULT_LABEL.format(i) for i in range(len(names))] else names


def load_config(directory: Path) -> transformers.PretrainedConfig:
    """The directory's config.json as a transformers config (never remote code); HarnessError if it is not one."""
    try:
        return transformers.AutoConfig.from_pretrained(
            directory, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError) as error:
        raise HarnessError(f"{CONFIG_FILENAME} is not a transformers config: {error}") from error


def load_classifier(directory: Path) -> torch.nn.Module:
    """AutoModelForSequenceClassification from model.safetensors, strictly: keys that do not fit are refused."""
    try:
        model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, trust_remote_code=False,
            output_loading_info=True,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise HarnessError(f"Cannot load a sequence classifier from {directory.name}: {error}") from error
    return checked_fit(model, info, keys=("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"))


def checked_fit(model: torch.nn.Module, info: Mapping[str, Any], *, keys: Sequence[str]) -> torch.nn.Module:
    """The model in eval mode, or HarnessError listing what from_pretrained's loading info reports under `keys`
    (missing keys that transformers would initialise at random, unexpected or mismatched ones, errors)."""
    problems = [
        f"{len(info[key])} {key.replace('_', ' ')}: {', '.join(map(str, list(info[key])[:10]))}"
        for key in keys
        if info.get(key)
    ]
    if problems:
        raise HarnessError(
            f"The weights do not fit {type(model).__name__} (transformers would initialise the rest at random): "
            + "; ".join(problems),
            problems,
        )
    return model.eval()


def load_tokenizer(directory: Path) -> transformers.PreTrainedTokenizerBase:
    """AutoTokenizer from the directory's tokenizer files (never remote code)."""
    try:
        return transformers.AutoTokenizer.from_pretrained(
            directory, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise HarnessError(f"Cannot load the tokenizer from {directory.name}: {error}") from error


def max_sequence_length(config: transformers.PretrainedConfig, tokenizer: object | None = None) -> int:
    """The longest input the model takes: its position embeddings, or the tokenizer's limit when smaller."""
    limits = [getattr(config, "max_position_embeddings", None)]
    # A tokenizer saved without a limit reports a huge sentinel (about 1e30): not a limit.
    limits.append(getattr(tokenizer, "model_max_length", None))
    bounded = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    if not bounded:
        raise HarnessError("Neither the config nor the tokenizer states a maximum sequence length")
    return min(bounded)


def _read_split(source: TextDatasetSource) -> TextSplit:
    try:
        split = read_text_split(Path(source.root), source.split)
    except (TextDatasetError, OSError) as error:
        raise HarnessError(f"Dataset {source.name!r} split {source.split!r}: {error}") from error
    if source.content_hash and split.content_hash != source.content_hash:
        raise HarnessError(
            f"Dataset {source.name!r} split {source.split!r} changed since it was registered (content hash "
            f"{source.content_hash[:12]} then, {split.content_hash[:12]} now); nothing was measured"
        )
    return split


@dataclass(frozen=True)
class _Checked:
    split: TextSplit
    class_names: tuple[str, ...]
    mapping: list[int]  # dataset class index -> model output index
    device: torch.device
    model: torch.nn.Module
    tokenizer: transformers.PreTrainedTokenizerBase
    max_length: int
    directory: Path


def _validate(
    model_source: TextModelSource,
    dataset_source: TextDatasetSource,
    config: HarnessConfig,
    class_names: Sequence[str] | None,
) -> _Checked:
    """Every check before the first forward pass, cheapest first; raises HarnessError on the first problem."""
    device = _resolve_device(config.device)
    directory = _check_directory(model_source)
    model_config = load_config(directory)
    split = _read_split(dataset_source)
    # The dataset's classes (all splits') when the caller knows them, so split indices match the registration.
    names = tuple(class_names) if class_names else tuple(sorted(set(split.labels)))
    unknown = sorted(set(split.labels) - set(names))
    if unknown:
        raise HarnessError(f"Labels not among the dataset's classes: {', '.join(unknown)}", unknown)
    mapping = class_mapping(list(names), model_label_names(model_config), model_config.num_labels)
    tokenizer = load_tokenizer(directory)
    model = load_classifier(directory)
    return _Checked(
        split=split, class_names=names, mapping=mapping, device=device, model=model, tokenizer=tokenizer,
        max_length=max_sequence_length(model_config, tokenizer), directory=directory,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# Measuring


@dataclass
class _Tally:
    class_count: int
    num_outputs: int
    inverse: np.ndarray  # model output index -> dataset class index, or class_count for "other"
    top1: int = 0
    top5: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    truncated: int = 0
    predictions: list[int] = field(default_factory=list)
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.class_count, self.class_count + 1), dtype=np.int64)

    def add(self, logits: torch.Tensor, targets: torch.Tensor, dataset_targets: torch.Tensor) -> None:
        logits = logits.float()
        predicted = logits.argmax(dim=1)
        hit1 = predicted == targets
        top_k = logits.topk(min(5, self.num_outputs), dim=1).indices
        self.top1 += int(hit1.sum())
        self.top5 += int((hit1 | (top_k == targets[:, None]).any(dim=1)).sum())
        self.loss_sum += float(F.cross_entropy(logits, targets, reduction="sum").double())
        self.seen += len(targets)
        predicted_list = predicted.tolist()
        self.predictions.extend(predicted_list)
        np.add.at(self.confusion, (dataset_targets.numpy(), self.inverse[predicted_list]), 1)


def encode(tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str], max_length: int) -> dict:
    """Token ids for a batch: truncated to max_length, padded to the batch's longest, as tensors."""
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def _count_truncated(
    tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str], max_length: int
) -> int:
    full = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
    return sum(len(ids) > max_length for ids in full)


def _evaluate(
    checked: _Checked, config: HarnessConfig, tally: _Tally, on_progress: ProgressCallback | None
) -> float:
    """One pass in dataset order, batch_size texts at a time; returns the seconds (tokenizing included)."""
    index_of = {name: i for i, name in enumerate(checked.class_names)}
    texts, labels = checked.split.texts, checked.split.labels
    mapping = torch.tensor(checked.mapping)
    total, batches = len(texts), -(-len(texts) // config.batch_size)
    start = time.perf_counter()
    for number, first in enumerate(range(0, total, config.batch_size), start=1):
        batch = texts[first : first + config.batch_size]
        dataset_targets = torch.tensor([index_of[label] for label in labels[first : first + len(batch)]])
        tally.truncated += _count_truncated(checked.tokenizer, batch, checked.max_length)
        inputs = encode(checked.tokenizer, batch, checked.max_length).to(checked.device)
        logits = checked.model(**inputs).logits
        tally.add(logits.cpu(), mapping[dataset_targets], dataset_targets)
        if on_progress is not None:
            on_progress(tally.seen / total, f"batch {number}/{batches}: {tally.seen}/{total} texts")
    if checked.device.type == "cuda":
        torch.cuda.synchronize(checked.device)
    return time.perf_counter() - start


def _measure_latency(checked: _Checked, count: int) -> tuple[float | None, float | None]:
    """p50 and p95 of one text's forward time (ms) on the first `count` texts; tokenizing not timed."""
    texts = checked.split.texts[: min(count, len(checked.split.texts))]
    if not texts:
        return None, None
    inputs = [encode(checked.tokenizer, [text], checked.max_length).to(checked.device) for text in texts]
    for item in inputs[:_LATENCY_WARMUP]:  # first calls pay for allocation
        checked.model(**item)
    timings = []
    for item in inputs:
        start = time.perf_counter()
        checked.model(**item)
        if checked.device.type == "cuda":
            torch.cuda.synchronize(checked.device)
        timings.append((time.perf_counter() - start) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    return float(p50), float(p95)


def per_class_scores(confusion: np.ndarray, class_names: Sequence[str]) -> dict[str, dict]:
    """Precision, recall and F1 (percent) and support per dataset class, from the confusion matrix.

    A prediction outside the dataset's classes (the last column) is a miss for its row and nobody's hit.
    Precision is None for a class never predicted, recall None for a class absent from the split.
    """
    scores = {}
    for i, name in enumerate(class_names):
        hits, support, predicted = int(confusion[i, i]), int(confusion[i].sum()), int(confusion[:, i].sum())
        precision = 100.0 * hits / predicted if predicted else None
        recall = 100.0 * hits / support if support else None
        both = (precision or 0.0) + (recall or 0.0)
        f1 = 2 * (precision or 0.0) * (recall or 0.0) / both if both else 0.0
        scores[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return scores


def macro_f1(scores: dict[str, dict]) -> float:
    """Mean F1 over the classes that occur in the split or are predicted (as scikit-learn's labels=seen)."""
    seen = [s["f1"] for s in scores.values() if s["support"] or s["precision"] is not None]
    return sum(seen) / len(seen) if seen else 0.0


def _provenance(
    checked: _Checked, model_source: TextModelSource, dataset_source: TextDatasetSource, config: HarnessConfig
) -> dict:
    model_config = checked.model.config
    return {
        "modality": "text",
        "weights_sha256": model_source.weights_sha256.strip().lower(),
        "dataset_hash": checked.split.content_hash,
        "dataset_name": dataset_source.name,
        "split": dataset_source.split,
        "architecture": (model_config.architectures or [type(checked.model).__name__])[0],
        "model_type": model_config.model_type,
        "tokenizer": {
            "class": type(checked.tokenizer).__name__,
            "sha256": tokenizer_sha256(checked.directory),
            "max_length": checked.max_length,
            "vocab_size": len(checked.tokenizer),
            "truncation": "longest_first",
            "padding": f"longest in batch, {checked.tokenizer.padding_side}",
        },
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "python": platform.python_version(),
        "depot": DEPOT_VERSION,
        "device": str(checked.device),
        "device_name": _device_name(checked.device),
        "threads": torch.get_num_threads(),
        "seed": config.seed,
        "batch_size": config.batch_size,
        "num_workers": 0,  # tokenizing runs in the process; the config's loader workers do not apply
    }


def _result_fields(tally: _Tally, class_names: Sequence[str], elapsed: float) -> dict:
    n = tally.seen
    scores = per_class_scores(tally.confusion, class_names)
    return {
        "top1": 100.0 * tally.top1 / n,
        "top5": 100.0 * tally.top5 / n,
        "loss": tally.loss_sum / n,
        "top1_ci95": wilson_interval(tally.top1, n),
        "num_samples": n,
        "top1_correct": tally.top1,
        "per_class_accuracy": {name: score["recall"] for name, score in scores.items()},
        "confusion_matrix": tally.confusion.tolist(),
        "confusion_columns": [*class_names, OTHER_COLUMN],
        "class_names": list(class_names),
        "throughput_ips": n / elapsed,
        "predictions": tally.predictions,
        "macro_f1": macro_f1(scores),
        "per_class": _jsonable(scores),
        "truncated": tally.truncated,
    }


def evaluate_text_model(
    model_source: TextModelSource,
    dataset_source: TextDatasetSource,
    config: HarnessConfig | None = None,
    on_progress: ProgressCallback | None = None,
    class_names: Sequence[str] | None = None,
) -> TextBenchmarkResult:
    """Validate the inputs, then measure the classifier over the split in one deterministic pass.

    class_names: the dataset's classes (every split's), in its order; default: the split's own labels.
    Raises HarnessError (before any forward pass) for bad input; an exception from on_progress aborts the run.
    """
    config = config or HarnessConfig(num_workers=0)
    checked = _validate(model_source, dataset_source, config, class_names)
    num_outputs = checked.model.config.num_labels
    tally = _Tally(len(checked.class_names), num_outputs, _inverse_mapping(checked.mapping, num_outputs))
    with _run_settings(config, checked.device), torch.inference_mode():
        checked.model.to(checked.device)
        elapsed = _evaluate(checked, config, tally, on_progress)
        p50, p95 = _measure_latency(checked, config.latency_samples)
        provenance = _provenance(checked, model_source, dataset_source, config)
        peak = _peak_memory_mb(checked.device)
    return TextBenchmarkResult(
        **_result_fields(tally, checked.class_names, elapsed),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        peak_memory_mb=peak,
        provenance=provenance,
    )
