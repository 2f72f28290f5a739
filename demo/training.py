"""Train the offline demo catalog's models: small timm classifiers on the digits 0-4 source task.

Pure python (torch + timm, no Django), so the seed command, tests and notebooks can all call it.

Each model directory holds what `timm.create_model("hf-hub:demo/<slug>", pretrained=True)` needs:
`config.json` in timm's Hugging Face format (written by timm's own exporter) and `model.safetensors`,
plus a `README.md` model card. The preprocessing used to measure the accuracies is the one timm derives
from that config (resolve_data_config + create_transform, is_training=False), so anyone who loads the
weights with timm reproduces the predictions exactly.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import timm
import timm.data
import torch
import torch.nn.functional as F
from PIL import Image
from timm.models import get_pretrained_cfg
from timm.models._hub import save_config_for_hf  # what timm's save_for_hf/push_to_hf_hub call; pinned timm

from core.datasets import dataset_content_hash
from core.hfconfig import front_matter
from core.imagefolder import samples_of_classes, scan_imagefolder
from core.weights import sha256_file

DEMO_NAMESPACE = "demo"
SOURCE_CLASS_NAMES: tuple[str, ...] = ("0", "1", "2", "3", "4")
IMAGE_SIZE = 32
WEIGHTS_FILENAME = "model.safetensors"
CONFIG_FILENAME = "config.json"
CARD_FILENAME = "README.md"
EVAL_SPLITS: tuple[str, ...] = ("train", "val", "test")

# One intra-op thread, fixed: float reductions split across another thread count change the low bits of the
# weights, so a fixed count keeps runs byte-identical (given the same torch build and CPU instruction set).
# One, because these models are too small to gain from more: with the 2 cores shared with other work,
# 2 threads ran 6-60x slower per step than 1 (OpenMP threads waiting on each other for a busy core).
# To use both cores, train two models in two processes instead.
_NUM_THREADS = 1
_WEIGHT_DECAY = 0.05
_LABEL_SMOOTHING = 0.1
_EVAL_BATCH = 256

ProgressCallback = Callable[[int, int, float], None]
"""on_progress(epoch, epochs, mean training loss of that epoch), called after every epoch."""


@dataclass(frozen=True)
class DemoModelSpec:
    """One demo model: which timm architecture, how it is trained, and on which split its claim is taken."""

    slug: str
    architecture: str
    title: str
    summary: str
    model_args: dict[str, Any] = field(default_factory=dict)  # extra kwargs for timm.create_model
    epochs: int = 10
    lr: float = 3e-3
    batch_size: int = 64
    max_shift: int = 3  # random shifts of up to this many px; 0 turns augmentation off
    train_fraction: float = 1.0  # share of each class's train split actually trained on
    claim_split: str = "test"  # "test" for honest models; "train" for the one that grades its own homework

    def __post_init__(self) -> None:
        if self.claim_split not in EVAL_SPLITS:
            raise ValueError(f"claim_split must be one of {EVAL_SPLITS}, got {self.claim_split!r}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")

    @property
    def repo_id(self) -> str:
        return f"{DEMO_NAMESPACE}/{self.slug}"


@dataclass
class DemoTrainResult:
    """What one training run produced and measured. Accuracies are top-1 percent on classes 0-4."""

    spec: DemoModelSpec
    model_dir: Path
    weights_path: Path
    config_path: Path
    card_path: Path
    config: dict[str, Any]
    weights_sha256: str
    num_params: int
    accuracy: dict[str, float]  # split -> top-1 %, 2 decimals; "train" = the samples actually trained on
    split_sizes: dict[str, int]  # split -> number of images measured
    claim_split: str
    claim_value: float
    dataset_hash: str
    seed: int
    train_seconds: float  # the optimisation loop only
    total_seconds: float  # loading, training, measuring and writing
    model_card: str


# Tuned on the 2-core machine: each honest model reaches >95% on the test split in 10-15 s of CPU.
DEMO_MODEL_SPECS: tuple[DemoModelSpec, ...] = (
    DemoModelSpec(
        slug="digits-resnet10t",
        architecture="resnet10t",
        title="ResNet-10-T, digits 0-4",
        summary="A small ResNet (tiered stem) trained from scratch on digits 0-4 at 32x32.",
        epochs=5,
        lr=3e-3,
    ),
    DemoModelSpec(
        slug="digits-mobilenetv3-small",
        architecture="mobilenetv3_small_050",
        title="MobileNetV3-Small 0.5, digits 0-4",
        summary="A mobile-sized MobileNetV3 (width 0.5) trained from scratch on digits 0-4 at 32x32.",
        epochs=12,
        lr=1e-2,  # MobileNets from scratch need a high peak rate; at 2e-3 this one stalled near 75%
        max_shift=1,
    ),
    DemoModelSpec(
        slug="digits-vit-tiny",
        architecture="test_vit",
        title="Tiny ViT (8x8 patches), digits 0-4",
        summary="A 6-block Vision Transformer on 32x32 input cut into 16 patches of 8x8, trained from scratch.",
        # 8x8 patches: 16 tokens train 2-3x faster than 64 tokens of 4x4 for about the same accuracy here.
        model_args={"img_size": IMAGE_SIZE, "patch_size": 8},
        epochs=25,
        lr=3e-3,
        batch_size=32,
        max_shift=0,  # without convolutions' translation prior, shifted copies slowed the ViT's fit badly
    ),
    DemoModelSpec(
        slug="digits-convnext-overfit",
        architecture="test_convnext",
        title="Tiny ConvNeXt trained on a sliver, digits 0-4",
        summary=(
            "A tiny ConvNeXt trained on 5% of the training images. Its published accuracy was measured on "
            "those same training images, so it overstates how well the model generalises."
        ),
        epochs=40,
        lr=3e-3,
        batch_size=32,
        max_shift=0,  # no augmentation: memorising 27 images is the point
        train_fraction=0.05,
        claim_split="train",
    ),
)


def demo_spec(slug: str) -> DemoModelSpec:
    """The demo spec with this slug; unknown slugs are an error, not a default."""
    for spec in DEMO_MODEL_SPECS:
        if spec.slug == slug:
            return spec
    raise KeyError(f"No demo model {slug!r}; known: {', '.join(s.slug for s in DEMO_MODEL_SPECS)}")


# --------------------------------------------------------------------------------------------------
# Determinism


@contextlib.contextmanager
def _deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch and pin threads/algorithms for the duration, restoring the caller's global settings."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(_NUM_THREADS)
    # warn_only: an op without a deterministic CPU kernel should warn loudly, not abort the demo seed.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


# --------------------------------------------------------------------------------------------------
# Data


def _subsample_per_class(
    samples: list[tuple[Path, int]], fraction: float, seed: int
) -> list[tuple[Path, int]]:
    """Keep a seeded, class-balanced share of the samples (at least one per class)."""
    if fraction >= 1:
        return samples
    rng = np.random.default_rng(seed)
    kept: list[tuple[Path, int]] = []
    for label in sorted({label for _, label in samples}):
        of_class = [s for s in samples if s[1] == label]
        count = max(1, round(len(of_class) * fraction))
        kept.extend(of_class[i] for i in sorted(rng.permutation(len(of_class))[:count]))
    return kept


def _pixel_stats(samples: Sequence[tuple[Path, int]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of the images in [0, 1], rounded so the config stays readable.

    The models are trained from scratch, so ImageNet statistics would only be a convention; the digits'
    own statistics centre the inputs. All three channels are equal because the images are gray.
    """
    pixels = np.stack(
        [np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0 for path, _ in samples]
    )
    mean = pixels.mean(axis=(0, 1, 2))
    std = pixels.std(axis=(0, 1, 2))
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def build_pretrained_cfg(
    architecture: str, *, mean: Sequence[float], std: Sequence[float], description: str = ""
) -> dict[str, Any]:
    """The pretrained_cfg describing our weights: input, normalisation, classes, and the arch's layer names.

    Only the layer names (first_conv, classifier) and fixed_input_size come from the architecture's
    registry cfg; its ImageNet tag, license, URLs and test sizes describe other weights, so they are dropped.
    """
    registry_cfg = get_pretrained_cfg(architecture)
    if registry_cfg is None:
        raise ValueError(f"timm has no pretrained cfg for architecture {architecture!r}")
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "input_size": (3, IMAGE_SIZE, IMAGE_SIZE),
        "fixed_input_size": registry_cfg.fixed_input_size,
        "interpolation": "bilinear",  # the same filter that rendered the dataset
        "crop_pct": 1.0,  # the PNGs are already at input size: no resize margin, no cropping
        "crop_mode": "center",
        "mean": tuple(mean),
        "std": tuple(std),
        "num_classes": len(SOURCE_CLASS_NAMES),
        "label_names": SOURCE_CLASS_NAMES,
        "pool_size": None,  # the registry's pool size is for its own (larger) input size
        "first_conv": registry_cfg.first_conv,
        "classifier": registry_cfg.classifier,
    }
    if description:
        cfg["description"] = description
    return cfg


def eval_transform_for(pretrained_cfg: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """Exactly the evaluation transform timm builds for a model carrying this pretrained_cfg."""
    data_config = timm.data.resolve_data_config(pretrained_cfg=pretrained_cfg)
    return timm.data.create_transform(**data_config, is_training=False)


def _load_split(
    samples: Sequence[tuple[Path, int]], transform: Callable
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transform every image once; 32x32 images of a few hundred samples fit easily in memory."""
    images = torch.stack([transform(Image.open(path).convert("RGB")) for path, _ in samples])
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return images, labels


# --------------------------------------------------------------------------------------------------
# Training and measuring


def _random_shift(
    images: torch.Tensor, max_shift: int, background: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Shift each image by up to max_shift px, filling with the normalised black background.

    A few px at 32 px is less than one pixel of the 8x8 source, so a digit stays the same digit.
    """
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    fill = background.view(1, -1, 1, 1)
    padded = F.pad(images - fill, (max_shift,) * 4) + fill
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()  # a batch of one breaks BatchNorm's training statistics
    return batches


def _train(
    model: torch.nn.Module,
    spec: DemoModelSpec,
    data: tuple[torch.Tensor, torch.Tensor],
    background: torch.Tensor,
    seed: int,
    on_progress: ProgressCallback | None,
) -> None:
    images, labels = data
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=_WEIGHT_DECAY)
    steps_per_epoch = len(_batches(len(images), spec.batch_size, torch.Generator().manual_seed(0)))
    # One-cycle: warm-up then cosine decay; converges well in the handful of epochs the demo can afford.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=spec.lr, total_steps=spec.epochs * steps_per_epoch, pct_start=0.2
    )
    model.train()
    for epoch in range(1, spec.epochs + 1):
        losses = []
        for batch in _batches(len(images), spec.batch_size, generator):
            inputs = _random_shift(images[batch], spec.max_shift, background, generator)
            loss = F.cross_entropy(model(inputs), labels[batch], label_smoothing=_LABEL_SMOOTHING)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        if on_progress is not None:
            on_progress(epoch, spec.epochs, sum(losses) / len(losses))
    model.eval()


@torch.inference_mode()
def predict(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class indices predicted for a stack of already-transformed images (model put in eval mode)."""
    model.eval()
    return torch.cat([model(chunk).argmax(dim=1) for chunk in images.split(_EVAL_BATCH)])


def top1_accuracy(model: torch.nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Top-1 accuracy in percent, two decimals."""
    images, labels = data
    correct = (predict(model, images) == labels).sum().item()
    return round(100.0 * correct / len(labels), 2)


# --------------------------------------------------------------------------------------------------
# Writing the model directory


def _write_weights(model: torch.nn.Module, path: Path) -> None:
    # safetensors refuses views into shared or strided storage: give it its own contiguous copies.
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()}
    safetensors.torch.save_file(tensors, str(path), metadata={"format": "pt"})


def _write_config(model: torch.nn.Module, path: Path) -> dict[str, Any]:
    """Write config.json with timm's own exporter so the hf-hub loader reads back exactly this model."""
    save_config_for_hf(model, str(path), model_config={"label_names": list(SOURCE_CLASS_NAMES)})
    return json.loads(path.read_text(encoding="utf-8"))


def _claim_note(spec: DemoModelSpec) -> str:
    if spec.claim_split == "train":
        return (
            f"**Caution: this claim was measured on the model's own training images** (the "
            f"{spec.train_fraction:.0%} sliver it was trained on). It says how well the model memorised them, "
            "not how it does on new digits; the held-out accuracies in the table are the honest numbers, and an "
            "independent re-check on the test split will disagree with the claim."
        )
    return (
        f"The claim is the top-1 accuracy on the held-out **{spec.claim_split}** split, unseen in training."
    )


def render_model_card(result: DemoTrainResult) -> str:
    """A Hugging Face style README: front matter, how it was trained, on what, and what it scored."""
    spec, cfg = result.spec, result.config["pretrained_cfg"]
    rows = "\n".join(
        f"| {split} | {result.split_sizes[split]} | {result.accuracy[split]:.2f} |" for split in EVAL_SPLITS
    )
    train_note = (
        f"{result.split_sizes['train']} images ({spec.train_fraction:.0%} of each class's training split, "
        f"seeded sample)"
        if spec.train_fraction < 1
        else f"all {result.split_sizes['train']} training images"
    )
    args = json.dumps(spec.model_args) if spec.model_args else "none"
    shift_note = f"random shifts of up to {spec.max_shift} px" if spec.max_shift else "no augmentation"
    metadata = {
        "library_name": "timm",
        "pipeline_tag": "image-classification",
        "tags": ["image-classification", "timm", "depot-demo"],
        "datasets": ["sklearn-digits"],
    }
    return f"""{front_matter(metadata)}# {spec.title}

{spec.summary}

## How it was trained
- Architecture: `{spec.architecture}` (timm), extra model args: `{args}`, {result.num_params:,} parameters.
- Trained from scratch (no pretrained weights) on CPU, seed {result.seed}, deterministic algorithms.
- {spec.epochs} epochs, AdamW (lr {spec.lr:g}, weight decay {_WEIGHT_DECAY:g}), one-cycle schedule,
  batch size {spec.batch_size}, label smoothing {_LABEL_SMOOTHING:g}, {shift_note}.
- Training data: {train_note}.

## Data
scikit-learn's bundled digits (1,797 8x8 scans, UCI ML hand-written digits), rendered as 32x32 RGB PNGs
(bilinear upscaling) and split 60/20/20 per class with a fixed seed. This model sees only the **source task,
digits 0-4** (5 classes). Dataset content hash (sha256): `{result.dataset_hash}`.

Preprocessing (timm pretrained_cfg): input {tuple(cfg["input_size"])}, interpolation `{cfg["interpolation"]}`,
crop_pct {cfg["crop_pct"]}, mean {tuple(cfg["mean"])}, std {tuple(cfg["std"])}.

## Results (top-1 %, digits 0-4)
| split | images | top-1 |
|---|---|---|
{rows}

Claimed top-1: **{result.claim_value:.2f}%** on the **{result.claim_split}** split. {_claim_note(spec)}

## Intended use
A small starting point for transfer learning: the target task is **all ten digits**, so replace the 5-class
head (`timm.create_model("hf-hub:{spec.repo_id}", pretrained=True, num_classes=10)`) and fine-tune.
Not meant for real-world handwriting recognition: the data is tiny, low resolution and from one source.

Weights sha256: `{result.weights_sha256}`
"""


# --------------------------------------------------------------------------------------------------
# Public entry points


def source_task_samples(data_root: Path, split: str) -> list[tuple[Path, int]]:
    """(image path, label) of the digits 0-4 in one split of the digits ImageFolder, labels 0..4."""
    return samples_of_classes(scan_imagefolder(data_root / split), SOURCE_CLASS_NAMES)


def _source_task_data(
    data_root: Path, spec: DemoModelSpec, seed: int
) -> tuple[dict[str, list[tuple[Path, int]]], tuple[tuple[float, ...], tuple[float, ...]]]:
    full_train = source_task_samples(data_root, "train")
    samples = {
        "train": _subsample_per_class(full_train, spec.train_fraction, seed),
        "val": source_task_samples(data_root, "val"),
        "test": source_task_samples(data_root, "test"),
    }
    # Statistics of the whole source training split, so every demo model shares one normalisation.
    return samples, _pixel_stats(full_train)


def train_demo_model(
    spec: DemoModelSpec,
    *,
    data_root: Path,
    out_dir: Path,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> DemoTrainResult:
    """Train spec on digits 0-4 from data_root, measure it, and write the model directory out_dir."""
    started = time.perf_counter()
    data_root, out_dir = Path(data_root), Path(out_dir)
    samples, (mean, std) = _source_task_data(data_root, spec, seed)
    pretrained_cfg = build_pretrained_cfg(spec.architecture, mean=mean, std=std, description=spec.summary)
    transform = eval_transform_for(pretrained_cfg)
    data = {split: _load_split(split_samples, transform) for split, split_samples in samples.items()}
    background = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)])

    with _deterministic_torch(seed):
        model = timm.create_model(
            spec.architecture,
            num_classes=len(SOURCE_CLASS_NAMES),
            pretrained_cfg=pretrained_cfg,
            **spec.model_args,
        )
        train_started = time.perf_counter()
        _train(model, spec, data["train"], background, seed, on_progress)
        train_seconds = time.perf_counter() - train_started
        accuracy = {split: top1_accuracy(model, data[split]) for split in EVAL_SPLITS}

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path, config_path = out_dir / WEIGHTS_FILENAME, out_dir / CONFIG_FILENAME
    _write_weights(model, weights_path)
    config = _write_config(model, config_path)
    result = DemoTrainResult(
        spec=spec,
        model_dir=out_dir,
        weights_path=weights_path,
        config_path=config_path,
        card_path=out_dir / CARD_FILENAME,
        config=config,
        weights_sha256=sha256_file(weights_path),
        num_params=sum(p.numel() for p in model.parameters()),
        accuracy=accuracy,
        split_sizes={split: len(split_samples) for split, split_samples in samples.items()},
        claim_split=spec.claim_split,
        claim_value=accuracy[spec.claim_split],
        dataset_hash=dataset_content_hash(data_root),
        seed=seed,
        train_seconds=round(train_seconds, 2),
        total_seconds=0.0,
        model_card="",
    )
    result.model_card = render_model_card(result)
    result.card_path.write_text(result.model_card, encoding="utf-8")
    result.total_seconds = round(time.perf_counter() - started, 2)
    return result


def load_demo_model(model_dir: Path) -> torch.nn.Module:
    """Load a written model directory through timm's own loader, in eval mode.

    `local-dir:` goes through the same config parsing (_parse_model_cfg) and weight loading as
    `hf-hub:`; only where the two files come from differs.
    """
    model = timm.create_model(f"local-dir:{Path(model_dir).resolve()}", pretrained=True)
    return model.eval()
