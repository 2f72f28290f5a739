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
from collections import Counter
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
from core.label_spaces import REAL_FILE_PREFIX, real_labels
from core.options import OptionError
from core.run_config import RUN_CONFIG, SCORE_ALL_OUTPUTS, SCORE_DATASET_CLASSES
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
    # Score each image against its ImageNet-ReaL label set (timm's file, matched by file name) instead of its
    # folder's class: the protocol of timm's results-imagenet-real.csv.
    real_labels: bool = False


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
    # The measuring protocol (a claim's, when the run re-checks one): None keeps the model's own preprocessing.
    img_size: int | None = None
    crop_pct: float | None = None
    interpolation: str | None = None
    # SCORE_DATASET_CLASSES: logits restricted to the dataset's classes (timm's validate.py --valid-labels, how
    # its ImageNet-A/-R results are measured); SCORE_ALL_OUTPUTS: the argmax over every output.
    scoring: str = SCORE_ALL_OUTPUTS

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
    # How the images were scored: over which outputs, against which labels (see _scoring_summary).
    scoring: dict = field(default_factory=dict)

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


def _label_index(label_names: list[str], num_classes: int) -> dict[str, int]:
    if len(label_names) != num_classes:
        raise HarnessError(f"The model has {num_classes} outputs but {len(label_names)} label names")
    # Counted once: label_names.count per name is quadratic, minutes for a 21,843-class head.
    duplicates = sorted(name for name, count in Counter(label_names).items() if count > 1)
    if duplicates:
        raise HarnessError(f"Duplicate label names: {_format_list(duplicates)}", duplicates)
    return {name: i for i, name in enumerate(label_names)}


def _is_output_index(name: str, num_classes: int) -> bool:
    # A folder named "3" means output 3 only when written canonically: "03" or "+3" would be a guess.
    return name.isdigit() and str(int(name)) == name and int(name) < num_classes


def _refuse_mapping(dataset_classes: list[str], label_names: list[str], num_classes: int) -> None:
    indices = f"output indices 0..{num_classes - 1}"
    if not label_names:
        unmatched = [name for name in dataset_classes if not _is_output_index(name, num_classes)]
        raise HarnessError(
            f"The model has no label names, so dataset classes must be {indices}; "
            f"unmatched: {_format_list(unmatched)}",
            unmatched,
        )
    known = set(label_names)
    unmatched = [name for name in dataset_classes if name not in known]
    # One expected folder name of each kind: a user with a folder of "cat", "dog" sees what would match.
    raise HarnessError(
        f"Dataset classes not among the model's label names, nor {indices}: {_format_list(unmatched)}. "
        f"Class folders must be named by label ({label_names[0]!r} for output 0) or by index ('0')",
        unmatched,
    )


def class_mapping(dataset_classes: list[str], label_names: list[str], num_classes: int) -> list[int]:
    """Dataset class i -> model output index.

    By name when every dataset class is one of the model's label names (ImageNet's synset folders,
    "n01440764"); else by index when every class folder is named by an output index ("0".."k-1", k <=
    num_classes: ImageNetV2's layout); anything else is refused, showing one folder name of each kind.
    """
    if num_classes < 1:
        raise HarnessError(f"num_classes must be >= 1, got {num_classes}")
    if not dataset_classes:
        raise HarnessError("The dataset has no classes")
    dataset_classes, label_names = list(dataset_classes), list(label_names)
    if label_names:
        index_of = _label_index(label_names, num_classes)
        if all(name in index_of for name in dataset_classes):
            return [index_of[name] for name in dataset_classes]
    if all(_is_output_index(name, num_classes) for name in dataset_classes):
        return [int(name) for name in dataset_classes]
    _refuse_mapping(dataset_classes, label_names, num_classes)
    raise AssertionError("unreachable")  # _refuse_mapping always raises


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


def protocol_overrides(config: HarnessConfig) -> dict:
    """The preprocessing a run sets over the model's own (img_size, crop_pct, interpolation), as timm's
    validate.py passes its --img-size, --crop-pct and --interpolation to resolve_data_config."""
    overrides = {
        "img_size": config.img_size,
        "crop_pct": config.crop_pct,
        "interpolation": config.interpolation,
    }
    return {key: value for key, value in overrides.items() if value is not None}


def resolve_preprocessing(source: ModelSource, model: torch.nn.Module, overrides: dict | None = None) -> dict:
    """The data config the harness uses: timm's resolution of the model's pretrained_cfg and the run's overrides."""
    _check_preprocessing(source.pretrained_cfg)
    args = dict(overrides or {})
    if args:  # an img_size keeps the model's channel count (timm would assume 3)
        args["in_chans"] = source.pretrained_cfg["input_size"][0]
    return timm.data.resolve_data_config(args, pretrained_cfg=dict(source.pretrained_cfg), model=model)


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
    # Per sample in dataset order, its ReaL label set (output indices), when the run scores against ReaL.
    real_sets: list[tuple[int, ...]] | None = None
    top1: int = 0
    top5: int = 0
    scored: int = 0  # images that count towards top-1/top-5 (all of them, but ReaL's unlabelled ones)
    loss_sum: float = 0.0
    seen: int = 0
    predictions: list[int] = field(default_factory=list)
    decode_cases: list[tuple[str, ...]] = field(default_factory=list)
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.class_count, self.class_count + 1), dtype=np.int64)

    def add(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        dataset_targets: torch.Tensor,
        outputs: torch.Tensor,
    ) -> None:
        """logits over the scored outputs (all, or the dataset's classes), targets as positions among them;
        outputs maps a position to the model output index it is."""
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        predicted = top[:, 0]
        if self.real_sets is None:
            hit1 = predicted == targets
            hit5 = hit1 | (top == targets[:, None]).any(dim=1)
            self.top1, self.top5 = self.top1 + int(hit1.sum()), self.top5 + int(hit5.sum())
            self.scored += len(targets)
        else:
            self._add_real(outputs[top].tolist())
        # Summed in float64 on the python side, batch by batch, in a fixed order: reproducible.
        self.loss_sum += float(F.cross_entropy(logits, targets, reduction="sum").double())
        self.seen += len(targets)
        predicted_list = outputs[predicted].tolist()
        self.predictions.extend(predicted_list)
        np.add.at(self.confusion, (dataset_targets.numpy(), self.inverse[predicted_list]), 1)

    def _add_real(self, top_outputs: list[list[int]]) -> None:
        # As timm's RealLabelsImagenet: a hit when a top-k output is in the image's ReaL set; images whose
        # set is empty (no ImageNet class in them, said ReaL's raters) are left out of the accuracy.
        for offset, ranked in enumerate(top_outputs):
            labels = self.real_sets[self.seen + offset]
            if labels:
                self.scored += 1
                self.top1 += ranked[0] in labels
                self.top5 += any(output in labels for output in ranked)


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
    scoring: str = SCORE_ALL_OUTPUTS,
) -> float:
    """One pass over the loader; returns the elapsed seconds (loading and forward, worker start included)."""
    batches = len(loader)
    start = time.perf_counter()
    # Restricted scoring keeps the dataset's classes' logits, in dataset class order, as timm's validate.py
    # does with output[:, valid_labels]: a target is then its dataset class index.
    restricted = scoring == SCORE_DATASET_CLASSES
    outputs = mapping if restricted else torch.arange(tally.num_outputs)
    for batch_index, (images, dataset_targets, decode_cases) in enumerate(loader, start=1):
        tally.decode_cases.extend(decode_cases)
        images = images.to(device, non_blocking=device.type == "cuda")
        logits = model(images)
        if logits.ndim != 2 or logits.shape[1] != tally.num_outputs:
            raise RuntimeError(
                f"Model output shape {tuple(logits.shape)} is not (batch, {tally.num_outputs})"
            )
        logits = logits.cpu()
        if restricted:
            tally.add(logits[:, mapping], dataset_targets, dataset_targets, outputs)
        else:
            tally.add(logits, mapping[dataset_targets], dataset_targets, outputs)
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


def _protocol(config: HarnessConfig, data_config: dict, scoring: dict) -> dict:
    """The measuring protocol the run used, in the terms a claim states it (timm's results tables), and which
    of its values the run set rather than took from the model."""
    return {
        "img_size": data_config["input_size"][-1],
        "crop_pct": data_config["crop_pct"],
        "interpolation": data_config["interpolation"],
        "scoring": config.scoring,
        "labels": scoring["labels"],
        "set_by_run": sorted(protocol_overrides(config)),
    }


def _provenance(
    model_source: ModelSource,
    dataset_source: DatasetSource,
    config: HarnessConfig,
    data_config: dict,
    device: torch.device,
    scoring: dict,
) -> dict:
    return {
        "protocol": _protocol(config, data_config, scoring),
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
    real_sets: list[tuple[int, ...]] | None  # per sample, its ReaL label set, when scored against ReaL


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
    real_sets = _real_label_sets(scan, model_source.num_classes) if dataset_source.real_labels else None
    if real_sets is not None and config.scoring == SCORE_DATASET_CLASSES:
        raise HarnessError(
            f"ImageNet-ReaL is scored over all outputs (its label sets name any of the 1,000 classes), "
            f"not with scoring={SCORE_DATASET_CLASSES}"
        )
    _check_weights(model_source)
    model = _instantiate(model_source)
    data_config = resolve_preprocessing(model_source, model, protocol_overrides(config))
    _check_images(scan)  # last: it decodes every image
    return _Checked(
        scan=scan, mapping=mapping, device=device, model=model, data_config=data_config, real_sets=real_sets
    )


def _real_label_sets(scan: ImageFolderScan, num_classes: int) -> list[tuple[int, ...]]:
    """Each sample's ReaL label set, matched by file name; refuses files ReaL has no entry for."""
    if num_classes != 1000:
        raise HarnessError(
            f"ImageNet-ReaL's labels are ImageNet-1k output indices; the model has {num_classes} outputs"
        )
    labels = real_labels()
    names = [path.name for path, _ in scan.samples]
    unknown = [scan.relative(path) for path, _ in scan.samples if path.name not in labels]
    if unknown:
        raise HarnessError(
            f"ImageNet-ReaL labels images by their ImageNet validation file name ({REAL_FILE_PREFIX}00000001.JPEG "
            f"to {REAL_FILE_PREFIX}00050000.JPEG); {len(unknown)} files are named otherwise: {_format_list(unknown)}",
            unknown,
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise HarnessError(
            f"ImageNet-ReaL matches labels by file name, and these names occur more than once: "
            f"{_format_list(repeated)}",
            repeated,
        )
    sets = [labels[name] for name in names]
    if not any(sets):
        raise HarnessError("Every image has an empty ReaL label set: there is nothing to score")
    return sets


def _scoring_summary(tally: _Tally, scored_outputs: int, config: HarnessConfig) -> dict:
    real = tally.real_sets is not None
    excluded = tally.seen - tally.scored
    summary = f"scored over {scored_outputs:,} of {tally.num_outputs:,} outputs"
    if real:
        summary += (
            f", against ImageNet-ReaL's labels "
            f"({excluded:,} of {tally.seen:,} images have none and are left out)"
        )
    return {
        "scoring": config.scoring,
        "scored_outputs": scored_outputs,
        "num_outputs": tally.num_outputs,
        "labels": "imagenet-real" if real else "class-folders",
        "images": tally.seen,
        "scored_images": tally.scored,
        "excluded_images": excluded,
        "summary": summary,
    }


def _result(tally: _Tally, scan: ImageFolderScan, elapsed: float) -> dict:
    n = tally.scored  # top-1 and top-5 are over the scored images; loss and confusion over every image
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
        "loss": tally.loss_sum / tally.seen,
        "top1_ci95": wilson_interval(tally.top1, n),
        "num_samples": n,
        "top1_correct": tally.top1,
        "per_class_accuracy": per_class,
        "confusion_matrix": tally.confusion.tolist(),
        "confusion_columns": [*scan.class_names, OTHER_COLUMN],
        "class_names": list(scan.class_names),
        "throughput_ips": tally.seen / elapsed,
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
    tally = _Tally(
        len(scan.class_names), num_outputs, _inverse_mapping(checked.mapping, num_outputs), checked.real_sets
    )
    loader = _make_loader(
        _BatchDataset(scan.samples, BatchTransform(transform), config.batch_size), config, device
    )
    mapping = torch.tensor(checked.mapping)
    with torch.inference_mode():
        elapsed = _evaluate(
            model, loader, tally, mapping, device, len(scan.samples), on_progress, config.scoring
        )
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
        scored_outputs = (
            len(checked.mapping) if config.scoring == SCORE_DATASET_CLASSES else tally.num_outputs
        )
        scoring = _scoring_summary(tally, scored_outputs, config)
        provenance = _provenance(
            model_source, dataset_source, config, checked.data_config, checked.device, scoring
        )
        peak = _peak_memory_mb(checked.device)
    return BenchmarkResult(
        **_result(tally, checked.scan, elapsed),
        scoring=scoring,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        peak_memory_mb=peak,
        provenance=provenance,
    )
