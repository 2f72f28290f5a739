"""Run a model over an ImageFolder split and measure it: accuracy, loss, confusion, speed, provenance.

Pure python (no Django import): the service layer calls evaluate_model with plain values, and so can a
notebook. Everything that can be wrong with the inputs is checked before the first forward pass, and raised
as HarnessError; the measurement itself is one deterministic pass in dataset order, so the same model, data
and config give bit-identical predictions on CPU, equal to a plain loop over the same images.
"""

from __future__ import annotations

import math
import multiprocessing
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import timm
import timm.data
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data.transforms import MaybeToTensor
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from core import model_args as timm_model_args
from core.imagedecode import count_cases, decode_image, decoder_provenance, describe_counts
from core.imagefolder import DatasetError, ImageFolderScan, scan_imagefolder, unreadable_images
from core.options import OptionError
from core.run_config import RUN_CONFIG
from core.verdict import wilson_interval
from core.weights import sha256_file

DEPOT_VERSION = "0.1.0"
OTHER_COLUMN = "other"  # confusion-matrix column for predictions outside the dataset's classes
REQUIRED_PREPROCESSING_KEYS = ("input_size", "mean", "std")
_MAX_LISTED = 20  # problems listed in an error message; the full list is on HarnessError.details
_LATENCY_WARMUP = 3

ProgressCallback = Callable[[float, str], None]


class HarnessError(ValueError):
    """Bad input found before any compute. details lists every offending item (file, class, key)."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


@dataclass(frozen=True)
class ModelSource:
    """What to build: a timm architecture, its head size, and the safetensors weights to load."""

    architecture: str
    num_classes: int
    model_args: dict
    weights_path: Path
    weights_sha256: str
    pretrained_cfg: dict  # input_size, mean, std, interpolation, crop_pct, crop_mode
    label_names: list[str] = field(default_factory=list)  # output index -> name; may be empty


@dataclass(frozen=True)
class DatasetSource:
    name: str
    split: str
    root: Path  # the split directory holding class folders
    content_hash: str


@dataclass(frozen=True)
class HarnessConfig:
    """How to run; the fields a run request may set (and their bounds) are core/run_config.py's RUN_CONFIG."""

    batch_size: int = 64
    # 0: the hub's runs execute in Celery's daemonic job processes, which cannot fork loader workers (results
    # do not depend on it); a notebook or CLI may ask for more.
    num_workers: int = 0
    seed: int = 0
    threads: int | None = None  # torch intra-op threads for the run; None keeps the process setting
    device: str = "auto"  # auto -> cuda if available else cpu
    latency_samples: int = 30

    def __post_init__(self) -> None:
        try:  # the run options a request may set are checked by the one schema the API and CLI use
            RUN_CONFIG.check({name: getattr(self, name) for name in RUN_CONFIG.names})
        except OptionError as error:
            raise HarnessError(str(error)) from None
        if self.latency_samples < 0:
            raise HarnessError(f"latency_samples must be >= 0, got {self.latency_samples}")


@dataclass
class BenchmarkResult:
    """One benchmark run. Accuracies in percent; per-class accuracy is None for a class with no images."""

    top1: float
    top5: float
    loss: float
    top1_ci95: tuple[float, float]
    num_samples: int
    top1_correct: int
    per_class_accuracy: dict[str, float | None]
    # rows: true dataset class; columns: predicted dataset class, then OTHER_COLUMN (see confusion_columns)
    confusion_matrix: list[list[int]]
    confusion_columns: list[str]
    class_names: list[str]
    throughput_ips: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    peak_memory_mb: float
    predictions: list[int]  # model output index (argmax) per sample, in dataset order
    provenance: dict
    # How the images were read: decoding case -> number of images (see core.imagedecode), and the same
    # as sentences ("21 images were 16-bit and were rescaled from 0..65535 to 0..255").
    decode_counts: dict[str, int] = field(default_factory=dict)
    decoding: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _jsonable(value):
    """Tuples to lists, numpy scalars to python numbers, paths to text: to_dict must survive json.dumps."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# ----------------------------------------------------------------------------------------------------
# Checking the inputs (no compute)


def _check_weights(source: ModelSource) -> None:
    path = Path(source.weights_path)
    if path.suffix != ".safetensors":
        raise HarnessError(f"Weights must be a .safetensors file, got {path.name!r}")
    if not path.is_file():
        raise HarnessError(f"Weights file not found: {path}")
    actual = sha256_file(path)
    if actual != source.weights_sha256.strip().lower():
        raise HarnessError(
            f"Weights sha256 mismatch for {path.name}: expected {source.weights_sha256}, file has {actual}"
        )


def _check_architecture(source: ModelSource) -> None:
    if not timm.is_model(source.architecture):
        raise HarnessError(f"Unknown architecture {source.architecture!r} (not in timm's registry)")
    if source.num_classes < 1:
        raise HarnessError(f"num_classes must be >= 1, got {source.num_classes}")


def _check_preprocessing(pretrained_cfg: dict) -> None:
    # Without these, timm would silently fall back to ImageNet defaults (224 px, ImageNet mean/std), which
    # measures a different preprocessing than the one the model was trained with.
    missing = [key for key in REQUIRED_PREPROCESSING_KEYS if pretrained_cfg.get(key) is None]
    if missing:
        raise HarnessError(
            f"pretrained_cfg lacks {', '.join(missing)}: cannot preprocess like the model expects", missing
        )


def _format_list(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _mapping_by_name(dataset_classes: list[str], label_names: list[str], num_classes: int) -> list[int]:
    if len(label_names) != num_classes:
        raise HarnessError(f"The model has {num_classes} outputs but {len(label_names)} label names")
    duplicates = sorted({name for name in label_names if label_names.count(name) > 1})
    if duplicates:
        raise HarnessError(f"Duplicate label names: {_format_list(duplicates)}", duplicates)
    index_of = {name: i for i, name in enumerate(label_names)}
    unmatched = [name for name in dataset_classes if name not in index_of]
    if unmatched:
        raise HarnessError(
            f"Dataset classes not among the model's label names: {_format_list(unmatched)}", unmatched
        )
    return [index_of[name] for name in dataset_classes]


def _is_output_index(name: str, num_classes: int) -> bool:
    # A folder named "3" means output 3 only when written canonically: "03" or "+3" would be a guess.
    return name.isdigit() and str(int(name)) == name and int(name) < num_classes


def _mapping_by_index(dataset_classes: list[str], num_classes: int) -> list[int]:
    unmatched = [name for name in dataset_classes if not _is_output_index(name, num_classes)]
    if unmatched:
        raise HarnessError(
            f"The model has no label names, so dataset classes must be output indices 0..{num_classes - 1}; "
            f"unmatched: {_format_list(unmatched)}",
            unmatched,
        )
    return [int(name) for name in dataset_classes]


def class_mapping(dataset_classes: list[str], label_names: list[str], num_classes: int) -> list[int]:
    """Dataset class i -> model output index.

    By name when the model has label names (every dataset class must be one of them); otherwise by index,
    when every dataset class folder is named by an output index ("0".."k-1", k <= num_classes).
    """
    if num_classes < 1:
        raise HarnessError(f"num_classes must be >= 1, got {num_classes}")
    if not dataset_classes:
        raise HarnessError("The dataset has no classes")
    if label_names:
        return _mapping_by_name(list(dataset_classes), list(label_names), num_classes)
    return _mapping_by_index(list(dataset_classes), num_classes)


def _scan_dataset(source: DatasetSource) -> ImageFolderScan:
    try:
        scan = scan_imagefolder(Path(source.root))
    except DatasetError as error:
        raise HarnessError(f"Dataset {source.name!r} split {source.split!r}: {error}") from error
    return scan


def _check_images(scan: ImageFolderScan) -> None:
    # Files without an image extension are not samples (the scan lists them as unused); a file that claims to
    # be an image and cannot be decoded is an error: measuring without it would change the dataset silently.
    bad = unreadable_images(scan)
    if bad:
        raise HarnessError(f"{len(bad)} unreadable image files: {_format_list(bad)}", bad)


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise HarnessError(f"Unknown device {name!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HarnessError(f"Device {name!r} requested but CUDA is not available")
    if device.type not in ("cpu", "cuda"):
        raise HarnessError(f"Unsupported device {name!r} (cpu, cuda or auto)")
    return device


def _check_worker_processes(config: HarnessConfig) -> None:
    # multiprocessing refuses to start children from a daemonic process (e.g. some task-queue pools); say
    # so now, with the fix, instead of failing with an AssertionError in the middle of the run.
    if config.num_workers > 0 and multiprocessing.current_process().daemon:
        raise HarnessError("This process is daemonic and cannot start data-loader workers: use num_workers=0")


# ----------------------------------------------------------------------------------------------------
# Building the model


def _instantiate(source: ModelSource) -> torch.nn.Module:
    """Create the architecture and load the (already hash-checked) weights, strictly."""
    try:
        # A row stored before the allow-list could carry checkpoint_path & co.: refuse it, never drop it.
        model_args = timm_model_args.checked(source.model_args)
    except timm_model_args.ModelArgsError as error:
        raise HarnessError(f"Refusing to create {source.architecture}: {error}") from None
    try:
        model = timm.create_model(
            source.architecture, pretrained=False, num_classes=source.num_classes, **model_args
        )
    except TypeError as error:  # an unknown or duplicated keyword in model_args
        raise HarnessError(
            f"Cannot create {source.architecture} with {source.model_args!r}: {error}"
        ) from error
    try:
        state_dict = safetensors.torch.load_file(str(source.weights_path), device="cpu")
    except safetensors.SafetensorError as error:  # the digest matched, so the registered file is broken
        raise HarnessError(
            f"Weights file {Path(source.weights_path).name} is not valid safetensors: {error}"
        ) from error
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:  # missing/unexpected keys or shape mismatches: the weights are not for this
        raise HarnessError(f"Weights do not fit {source.architecture}: {error}") from error
    return model.eval()


def build_model(source: ModelSource) -> torch.nn.Module:
    """timm architecture + safetensors weights (sha256-checked first, loaded strictly), in eval mode."""
    _check_architecture(source)
    _check_weights(source)
    return _instantiate(source)


def resolve_preprocessing(source: ModelSource, model: torch.nn.Module) -> dict:
    """The data config the harness uses (timm's resolution of the model's pretrained_cfg)."""
    _check_preprocessing(source.pretrained_cfg)
    return timm.data.resolve_data_config(pretrained_cfg=dict(source.pretrained_cfg), model=model)


def create_eval_transform(data_config: dict) -> Callable:
    return timm.data.create_transform(**data_config, is_training=False)


def load_image(path: Path) -> Image.Image:
    """Decode to upright 8-bit RGB as a person sees it (EXIF orientation, 16-bit, transparency, CMYK, ...)."""
    return decode_image(path).image


# ----------------------------------------------------------------------------------------------------
# Data loading


class BatchTransform:
    """timm's eval transform applied to a list of images, giving exactly torch.stack of per-image results.

    When the transform ends with ToTensor + Normalize (every timm eval transform does), the image steps
    (resize, crop) run per image and the tensor steps run once on the stacked batch: the same element-wise
    float operations, so the same bits, at about two thirds of the per-image cost for small images.
    Any other transform is applied per image, unchanged.
    """

    def __init__(self, transform: Callable) -> None:
        self.transform = transform
        steps = list(getattr(transform, "transforms", []))
        splittable = (
            len(steps) >= 2
            and type(steps[-2]) in (MaybeToTensor, transforms.ToTensor)
            and type(steps[-1]) is transforms.Normalize
        )
        self.image_steps = transforms.Compose(steps[:-2]) if splittable else None
        self.normalize = steps[-1] if splittable else None

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if self.image_steps is not None:
            prepared = [self.image_steps(image) for image in images]
            # ToTensor's uint8 branch is the only one replicated; anything else takes the per-image path.
            if all(isinstance(image, Image.Image) and image.mode == "RGB" for image in prepared):
                return self._to_normalized_batch(prepared)
        return torch.stack([self.transform(image) for image in images])

    def _to_normalized_batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        # What ToTensor does per image (HWC uint8 -> contiguous CHW float / 255), done once for the batch.
        batch = torch.from_numpy(np.stack([np.asarray(image) for image in images]))
        batch = batch.permute(0, 3, 1, 2).contiguous()
        return self.normalize(batch.to(dtype=torch.get_default_dtype()).div(255))


class _BatchDataset(Dataset):
    """Item i is the whole batch i, already stacked.

    The loader then moves one tensor per batch between processes instead of one per image and skips the
    per-sample collate: for small images that per-sample overhead costs as much as the decoding.
    """

    def __init__(
        self, samples: Sequence[tuple[Path, int]], transform: BatchTransform, batch_size: int
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.samples) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, ...]]]:
        chunk = self.samples[index * self.batch_size : (index + 1) * self.batch_size]
        decoded = [decode_image(path) for path, _ in chunk]
        images = self.transform([item.image for item in decoded])
        targets = torch.tensor([target for _, target in chunk], dtype=torch.long)
        return images, targets, [item.cases for item in decoded]


def _make_loader(dataset: _BatchDataset, config: HarnessConfig, device: torch.device) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=None,  # the dataset already yields batches
        shuffle=False,  # dataset order: predictions line up with the scan's samples
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,  # one pass; workers must not outlive the run
        prefetch_factor=2 if config.num_workers > 0 else None,
        generator=torch.Generator().manual_seed(config.seed),  # fixes worker seeds (eval transforms use none)
    )


# ----------------------------------------------------------------------------------------------------
# Measuring


@dataclass
class _Tally:
    """Running counts over the pass; every figure of the result is derived from it at the end."""

    class_count: int
    num_outputs: int
    inverse: np.ndarray  # model output index -> dataset class index, or class_count for "other"
    top1: int = 0
    top5: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    predictions: list[int] = field(default_factory=list)
    decode_cases: list[tuple[str, ...]] = field(default_factory=list)
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.class_count, self.class_count + 1), dtype=np.int64)

    def add(self, logits: torch.Tensor, targets: torch.Tensor, dataset_targets: torch.Tensor) -> None:
        logits = logits.float()
        predicted = logits.argmax(dim=1)
        k = min(5, self.num_outputs)
        hit1 = predicted == targets
        hit5 = hit1 | (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1)
        self.top1 += int(hit1.sum())
        self.top5 += int(hit5.sum())
        # Summed in float64 on the python side, batch by batch, in a fixed order: reproducible.
        self.loss_sum += float(F.cross_entropy(logits, targets, reduction="sum").double())
        self.seen += len(targets)
        predicted_list = predicted.cpu().tolist()
        self.predictions.extend(predicted_list)
        np.add.at(self.confusion, (dataset_targets.numpy(), self.inverse[predicted_list]), 1)


def _inverse_mapping(mapping: list[int], num_outputs: int) -> np.ndarray:
    inverse = np.full(num_outputs, len(mapping), dtype=np.int64)
    for dataset_index, output_index in enumerate(mapping):
        inverse[output_index] = dataset_index
    return inverse


def _evaluate(
    model: torch.nn.Module,
    loader: DataLoader,
    tally: _Tally,
    mapping: torch.Tensor,
    device: torch.device,
    total: int,
    on_progress: ProgressCallback | None,
) -> float:
    """One pass over the loader; returns the elapsed seconds (loading and forward, worker start included)."""
    batches = len(loader)
    start = time.perf_counter()
    for batch_index, (images, dataset_targets, decode_cases) in enumerate(loader, start=1):
        tally.decode_cases.extend(decode_cases)
        images = images.to(device, non_blocking=device.type == "cuda")
        logits = model(images)
        if logits.ndim != 2 or logits.shape[1] != tally.num_outputs:
            raise RuntimeError(
                f"Model output shape {tuple(logits.shape)} is not (batch, {tally.num_outputs})"
            )
        tally.add(logits.cpu(), mapping[dataset_targets], dataset_targets)
        if on_progress is not None:
            on_progress(tally.seen / total, f"batch {batch_index}/{batches}: {tally.seen}/{total} images")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _measure_latency(
    model: torch.nn.Module, scan: ImageFolderScan, transform: Callable, count: int, device: torch.device
) -> tuple[float | None, float | None]:
    """p50 and p95 of single-image forward time (ms) on the first `count` images; decoding not timed."""
    count = min(count, len(scan.samples))
    if count == 0:
        return None, None
    inputs = [transform(load_image(path)).unsqueeze(0).to(device) for path, _ in scan.samples[:count]]
    for image in inputs[:_LATENCY_WARMUP]:  # first calls pay for allocator and kernel selection
        model(image)
    timings = []
    for image in inputs:
        start = time.perf_counter()
        model(image)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.append((time.perf_counter() - start) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    return float(p50), float(p95)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # The process's peak resident set since it started (not only this run): the only peak the OS keeps.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()


def _provenance(
    model_source: ModelSource,
    dataset_source: DatasetSource,
    config: HarnessConfig,
    data_config: dict,
    device: torch.device,
) -> dict:
    return {
        # Checked against the file before the run, so the claimed digest is the measured one.
        "weights_sha256": model_source.weights_sha256.strip().lower(),
        "dataset_hash": dataset_source.content_hash,
        "dataset_name": dataset_source.name,
        "split": dataset_source.split,
        "preprocessing": _jsonable(data_config),
        "architecture": model_source.architecture,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "depot": DEPOT_VERSION,
        "device": str(device),
        "device_name": _device_name(device),
        "threads": torch.get_num_threads(),
        "seed": config.seed,
        "batch_size": config.batch_size,
        "num_workers": config.num_workers,
        "image_decoder": decoder_provenance(),
    }


# ----------------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class _Checked:
    scan: ImageFolderScan
    mapping: list[int]
    device: torch.device
    model: torch.nn.Module
    data_config: dict  # the resolved preprocessing


def _validate(model_source: ModelSource, dataset_source: DatasetSource, config: HarnessConfig) -> _Checked:
    """Every check before the first forward pass, cheapest first; raises HarnessError on the first problem.

    The model is built here too: a strict weights load is the check that the weights fit the architecture.
    """
    device = _resolve_device(config.device)
    _check_worker_processes(config)
    _check_architecture(model_source)
    _check_preprocessing(model_source.pretrained_cfg)
    scan = _scan_dataset(dataset_source)
    mapping = class_mapping(list(scan.class_names), list(model_source.label_names), model_source.num_classes)
    _check_weights(model_source)
    model = _instantiate(model_source)
    data_config = resolve_preprocessing(model_source, model)
    _check_images(scan)  # last: it decodes every image
    return _Checked(scan=scan, mapping=mapping, device=device, model=model, data_config=data_config)


def _result(tally: _Tally, scan: ImageFolderScan, elapsed: float) -> dict:
    n = tally.seen
    diagonal = np.diag(tally.confusion[:, : tally.class_count])
    row_totals = tally.confusion.sum(axis=1)
    per_class = {
        name: (100.0 * int(diagonal[i]) / int(row_totals[i]) if row_totals[i] else None)
        for i, name in enumerate(scan.class_names)
    }
    decode_counts = count_cases(tally.decode_cases)
    return {
        "decode_counts": decode_counts,
        "decoding": describe_counts(decode_counts),
        "top1": 100.0 * tally.top1 / n,
        "top5": 100.0 * tally.top5 / n,
        "loss": tally.loss_sum / n,
        "top1_ci95": wilson_interval(tally.top1, n),
        "num_samples": n,
        "top1_correct": tally.top1,
        "per_class_accuracy": per_class,
        "confusion_matrix": tally.confusion.tolist(),
        "confusion_columns": [*scan.class_names, OTHER_COLUMN],
        "class_names": list(scan.class_names),
        "throughput_ips": n / elapsed,
        "predictions": tally.predictions,
    }


@contextmanager
def _run_settings(config: HarnessConfig, device: torch.device) -> Iterator[None]:
    """Threads, seed and cudnn flags for the run; the process's own settings come back afterwards."""
    previous_threads = torch.get_num_threads()
    cudnn_flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        # cudnn autotuning picks kernels by timing, so two runs could differ; fixed kernels reproduce.
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
        torch.manual_seed(config.seed)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn_flags


def _measure(
    checked: _Checked, config: HarnessConfig, num_outputs: int, on_progress: ProgressCallback | None
) -> tuple[_Tally, float, tuple[float | None, float | None]]:
    """The pass (accuracy, loss, confusion, throughput), then latency: (tally, pass seconds, (p50, p95))."""
    scan, device = checked.scan, checked.device
    model = checked.model.to(device)
    transform = create_eval_transform(checked.data_config)
    tally = _Tally(len(scan.class_names), num_outputs, _inverse_mapping(checked.mapping, num_outputs))
    loader = _make_loader(
        _BatchDataset(scan.samples, BatchTransform(transform), config.batch_size), config, device
    )
    mapping = torch.tensor(checked.mapping)
    with torch.inference_mode():
        elapsed = _evaluate(model, loader, tally, mapping, device, len(scan.samples), on_progress)
        latency = _measure_latency(model, scan, transform, config.latency_samples, device)
    return tally, elapsed, latency


def evaluate_model(
    model_source: ModelSource,
    dataset_source: DatasetSource,
    config: HarnessConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> BenchmarkResult:
    """Validate the inputs, then measure the model over the split in one deterministic pass.

    Raises HarnessError (before any forward pass) for bad input. An exception raised by on_progress aborts
    the run and propagates: the caller can use that to cancel.
    """
    config = config or HarnessConfig()
    checked = _validate(model_source, dataset_source, config)
    with _run_settings(config, checked.device):
        tally, elapsed, (p50, p95) = _measure(checked, config, model_source.num_classes, on_progress)
        provenance = _provenance(model_source, dataset_source, config, checked.data_config, checked.device)
        peak = _peak_memory_mb(checked.device)
    return BenchmarkResult(
        **_result(tally, checked.scan, elapsed),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        peak_memory_mb=peak,
        provenance=provenance,
    )
