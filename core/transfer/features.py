"""Frozen features of a timm model over an ImageFolder split: pooled pre-logits, the model's own preprocessing.

The model is built, and the images read and transformed, by the benchmark harness's public functions, so a
ranking sees each image exactly as a benchmark run of the same model does (and picks up any change to how the
harness decodes images). Features are timm's `forward_head(forward_features(x), pre_logits=True)`: the pooled
representation the classifier head would see, whatever the head's size.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import harness
from core.imagefolder import DatasetError, ImageFolderScan, scan_imagefolder, verify_images

ProgressCallback = Callable[[float, str], None]
LATENCY_RUNS = 10  # timed single-image forwards (after warm-up) whose median is the reported latency
_WARMUP = 2


@dataclass(frozen=True)
class FeatureSet:
    """Features (n, d) float32 in dataset order, the labels (n,) and what it took to get them."""

    features: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    seconds: float  # building the model, reading every image and the forward passes
    latency_ms: (
        float | None
    )  # median single-image forward of the full model (head included), decoding excluded
    num_params: int
    preprocessing: dict


def scan_split(dataset: harness.DatasetSource) -> ImageFolderScan:
    """The split's images and classes, every image checked decodable (HarnessError names the bad files)."""
    try:
        scan = scan_imagefolder(Path(dataset.root))
    except DatasetError as error:
        raise harness.HarnessError(f"Dataset {dataset.name!r} split {dataset.split!r}: {error}") from error
    unreadable = verify_images(scan)
    if unreadable:
        shown = ", ".join(unreadable[:20]) + (
            f" and {len(unreadable) - 20} more" if len(unreadable) > 20 else ""
        )
        raise harness.HarnessError(f"{len(unreadable)} unreadable or non-image files: {shown}", unreadable)
    return scan


@contextmanager
def threads_set_to(count: int | None):
    previous = torch.get_num_threads()
    try:
        if count is not None:
            torch.set_num_threads(count)
        yield
    finally:
        torch.set_num_threads(previous)


def pooled_features(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """timm's pre-logits features: the pooled (and, for ViTs, normed) vector fed to the classifier."""
    return model.forward_head(model.forward_features(images), pre_logits=True)


def _batches(samples: Sequence[tuple[Path, int]], batch_size: int) -> list[Sequence[tuple[Path, int]]]:
    return [samples[start : start + batch_size] for start in range(0, len(samples), batch_size)]


def median_latency_ms(forward: Callable[[], object]) -> float:
    """The median of LATENCY_RUNS timed calls of one single-sample forward, after _WARMUP untimed ones."""
    for _ in range(_WARMUP):
        forward()
    timings = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        forward()
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.median(timings))


def extract_features(
    model_source: harness.ModelSource,
    scan: ImageFolderScan,
    *,
    batch_size: int = 64,
    threads: int | None = None,
    measure_latency: bool = True,
    on_progress: ProgressCallback | None = None,
) -> FeatureSet:
    """Build the model (weights sha256-checked, strict load) and extract features of every image, batched."""
    started = time.perf_counter()
    with threads_set_to(threads), torch.inference_mode():
        model = harness.build_model(model_source)
        data_config = harness.resolve_preprocessing(model_source, model)
        batch_transform = harness.BatchTransform(harness.create_eval_transform(data_config))
        chunks, first_image = [], None
        batches = _batches(scan.samples, batch_size)
        for index, batch in enumerate(batches, start=1):
            images = batch_transform([harness.load_image(path) for path, _ in batch])
            first_image = images[:1] if first_image is None else first_image
            chunks.append(pooled_features(model, images).float().flatten(1).numpy())
            if on_progress is not None:
                on_progress(index / len(batches), f"features: batch {index}/{len(batches)}")
        latency = (
            median_latency_ms(lambda: model(first_image))
            if measure_latency and first_image is not None
            else None
        )
    return FeatureSet(
        features=np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32),
        labels=np.array([label for _, label in scan.samples], dtype=np.int64),
        class_names=tuple(scan.class_names),
        seconds=time.perf_counter() - started,
        latency_ms=latency,
        num_params=sum(p.numel() for p in model.parameters()),
        preprocessing=json.loads(json.dumps(data_config, default=str)),  # tuples to lists, for JSON fields
    )
