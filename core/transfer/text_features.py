"""Frozen features of a transformers encoder over a text split: the last hidden states, mean-pooled or [CLS].

The text sibling of core.transfer.features: the same FeatureSet, the same thread setting and latency measure,
and the model directory, tokenizer, truncation and split reading of the text harness (core.textharness), so a
ranking sees each text exactly as a benchmark run of the same model does. The encoder is loaded with
AutoModel from model.safetensors only (never remote code): a sequence classifier's checkpoint gives its base
encoder (its head is not used), a bare encoder gives itself.

Pooling: "mean" averages the last hidden states over the real tokens (the attention mask, so padding never
counts), as sentence encoders are trained to be used; "cls" takes the first token's state, what BERT's
classification head reads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import transformers

from core.harness import HarnessError
from core.textdata import TextSplit
from core.textharness import (
    TextDatasetSource,
    TextModelSource,
    _check_directory,
    _read_split,
    checked_fit,
    encode,
    load_config,
    load_tokenizer,
    max_sequence_length,
    tokenizer_sha256,
)
from core.transfer.features import FeatureSet, ProgressCallback, median_latency_ms, threads_set_to

POOLINGS = ("mean", "cls")
# AutoModel builds BERT-like encoders with a pooler (a dense layer over [CLS]) that sentence encoders and some
# exports leave out; its output is never used here, so its absence is not a misfit.
_UNUSED_PREFIXES = ("pooler.",)


def load_encoder(directory: Path) -> torch.nn.Module:
    """The directory's encoder (AutoModel, safetensors only): missing weights are refused, never initialised
    at random; weights beyond the encoder (a classifier's head) are left unused."""
    try:
        model, info = transformers.AutoModel.from_pretrained(
            directory, local_files_only=True, use_safetensors=True, trust_remote_code=False,
            output_loading_info=True,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise HarnessError(f"Cannot load an encoder from {Path(directory).name}: {error}") from error
    missing = [key for key in info.get("missing_keys", ()) if not key.startswith(_UNUSED_PREFIXES)]
    return checked_fit(
        model, {**info, "missing_keys": missing}, keys=("missing_keys", "mismatched_keys", "error_msgs")
    )


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, tokens, d) hidden states to (batch, d): the mean over real tokens, or the first token's."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling != "mean":
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def read_split(dataset: TextDatasetSource) -> TextSplit:
    """The split, read strictly and checked against the content hash it was registered with (HarnessError)."""
    return _read_split(dataset)


def split_labels(
    split: TextSplit, class_names: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels (n,) in split order, and the class names they index (default: the split's, sorted)."""
    names = tuple(class_names) if class_names else tuple(sorted(set(split.labels)))
    index_of = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(split.labels) - set(index_of))
    if unknown:
        raise HarnessError(f"Labels not among the dataset's classes: {', '.join(unknown)}", unknown)
    return np.array([index_of[label] for label in split.labels], dtype=np.int64), names


def extract_text_features(
    model_source: TextModelSource,
    split: TextSplit,
    *,
    pooling: str = "mean",
    class_names: Sequence[str] | None = None,
    batch_size: int = 64,
    threads: int | None = None,
    measure_latency: bool = True,
    on_progress: ProgressCallback | None = None,
) -> FeatureSet:
    """Load the encoder (weights sha256-checked) and pool its last hidden states for every text, batched."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    labels, names = split_labels(split, class_names)
    started = time.perf_counter()
    directory = _check_directory(model_source)
    tokenizer = load_tokenizer(directory)
    max_length = max_sequence_length(load_config(directory), tokenizer)
    texts = split.texts
    with threads_set_to(threads), torch.inference_mode():
        model = load_encoder(directory)
        chunks = []
        starts = range(0, len(texts), batch_size)
        for number, first in enumerate(starts, start=1):
            inputs = encode(tokenizer, texts[first : first + batch_size], max_length)
            hidden = model(**inputs).last_hidden_state
            chunks.append(pool(hidden, inputs["attention_mask"], pooling).float().numpy())
            if on_progress is not None:
                on_progress(number / len(starts), f"features: batch {number}/{len(starts)}")
        latency = None
        if measure_latency and texts:
            one = encode(tokenizer, texts[:1], max_length)
            latency = median_latency_ms(lambda: model(**one))
    return FeatureSet(
        features=np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32),
        labels=labels,
        class_names=names,
        seconds=time.perf_counter() - started,
        latency_ms=latency,
        num_params=sum(p.numel() for p in model.parameters()),
        preprocessing={
            "pooling": pooling,
            "max_length": max_length,
            "tokenizer": type(tokenizer).__name__,
            "tokenizer_sha256": tokenizer_sha256(directory),
            "truncation": "longest_first",
        },
    )
