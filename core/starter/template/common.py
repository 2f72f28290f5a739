"""Shared by prepare.py, train.py, evaluate.py and predict.py: parameters, data, preprocessing and the model.

Everything the scripts decide comes from params.yaml; nothing here needs the hub that made this bundle.
torch and timm are imported by the functions that use them, so prepare.py starts in a blink.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import runtime
from runtime import (  # noqa: F401 (re-exported for the scripts)
    STRATEGIES,
    BundleError,
    load_params,
    resolve_device,
    seed_everything,
    sha256_file,
)

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent
PREPARED_DIR = ROOT / "prepared"
CLASSES_FILE = PREPARED_DIR / "classes.json"
SPLITS_FILE = PREPARED_DIR / "splits.json"
OUTPUT_DIR = ROOT / "outputs"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# Training augmentation levels, as arguments of timm.data.create_transform(is_training=True).
# "none" trains on the evaluation transform. hflip comes from params.yaml (set it to 0 for text or digits).
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "light": {"scale": (0.75, 1.0), "ratio": (0.9, 1.1), "color_jitter": None},
    "strong": {
        "scale": (0.35, 1.0),
        "ratio": (3 / 4, 4 / 3),
        "color_jitter": 0.3,
        "auto_augment": "rand-m7-mstd0.5-inc1",
        "re_prob": 0.25,
    },
}


# ---------------------------------------------------------------------------------------------------------------
# Output files


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Data


def class_folders(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(class_dir: Path) -> list[Path]:
    """The images of one class folder, its sub-folders included (as the hub's benchmark harness reads them);
    hidden files and folders (names starting with ".") are left out."""
    found = []
    for path in class_dir.rglob("*"):
        relative = path.relative_to(class_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(class_dir).as_posix())


def scan_folder(split_dir: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """(image, label) of an ImageFolder directory, labels by position in class_names; unknown classes fail."""
    if not split_dir.is_dir():
        raise BundleError(f"{split_dir} is not a directory")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [name for name in class_folders(split_dir) if name not in index]
    if unknown:
        raise BundleError(f"{split_dir} has classes the model does not know: {', '.join(unknown[:10])}")
    return [
        (path, index[name]) for name in class_folders(split_dir) for path in image_files(split_dir / name)
    ]


def read_prepared() -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Class names and the train/val/test file lists written by prepare.py."""
    if not SPLITS_FILE.is_file() or not CLASSES_FILE.is_file():
        raise BundleError("no prepared/splits.json: run `python prepare.py` first (or `dvc repro`)")
    classes = json.loads(CLASSES_FILE.read_text(encoding="utf-8"))["class_names"]
    splits = json.loads(SPLITS_FILE.read_text(encoding="utf-8"))
    samples = {
        split: [(ROOT / item["path"], int(item["label"])) for item in items]
        for split, items in splits.items()
    }
    return classes, samples


class ImageList:
    """A map-style dataset: images and labels from a list, read with PIL and passed through a timm transform."""

    def __init__(self, samples: list[tuple[Path, int]], transform: Any, channels: int = 3) -> None:
        self.samples = samples
        self.transform = transform
        self.mode = "RGB" if channels == 3 else "L"
        self.decode_cases: dict[int, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from imagedecode import decode_image

        path, label = self.samples[index]
        decoded = decode_image(path)
        # How each image was read (16-bit, EXIF-rotated, ...), for evaluate.py's report; in the loading process.
        self.decode_cases[index] = decoded.cases
        image = decoded.image if self.mode == "RGB" else decoded.image.convert(self.mode)
        return self.transform(image), label


def read_image(path: Path, mode: str = "RGB") -> Any:
    """The image as a person sees it, through imagedecode.py: the same decoder the hub's benchmark harness uses
    (EXIF orientation applied, 16-bit rescaled, transparency composited on white, CMYK converted, first frame
    of an animation). mode "L" for one-channel models."""
    from imagedecode import decode_image

    image = decode_image(path).image
    return image if mode == "RGB" else image.convert(mode)


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing, from the model's pretrained config


def pretrained_data_cfg(params: dict[str, Any]) -> dict[str, Any]:
    data = params["data"]
    cfg: dict[str, Any] = {
        "input_size": tuple(data["input_size"]),
        "interpolation": data["interpolation"],
        "mean": tuple(data["mean"]),
        "std": tuple(data["std"]),
        "crop_mode": data.get("crop_mode") or "center",
    }
    if data.get("crop_pct") is not None:
        cfg["crop_pct"] = float(data["crop_pct"])
    return cfg


def data_config(params: dict[str, Any]) -> dict[str, Any]:
    import timm.data

    return timm.data.resolve_data_config(pretrained_cfg=pretrained_data_cfg(params))


def eval_transform(params: dict[str, Any]) -> Any:
    import timm.data

    return timm.data.create_transform(**data_config(params), is_training=False)


def train_transform(params: dict[str, Any]) -> Any:
    import timm.data

    level = params["train"]["augmentation"]
    if level == "none":
        return eval_transform(params)
    if level not in AUGMENTATIONS:
        raise BundleError(f"train.augmentation must be none, light or strong, got {level!r}")
    cfg = data_config(params)
    return timm.data.create_transform(
        input_size=cfg["input_size"],
        is_training=True,
        interpolation=cfg["interpolation"],
        mean=cfg["mean"],
        std=cfg["std"],
        hflip=float(params["train"].get("hflip", 0.5)),
        **AUGMENTATIONS[level],
    )


# ---------------------------------------------------------------------------------------------------------------
# The model


def create_model(params: dict[str, Any], num_classes: int) -> torch.nn.Module:
    """The architecture with random weights and a head of num_classes."""
    import timm

    model = params["model"]
    return timm.create_model(
        model["architecture"], pretrained=False, num_classes=num_classes, **(model.get("model_args") or {})
    )


def classifier_prefixes(model: torch.nn.Module, layers: dict[str, Any]) -> list[str]:
    if layers.get("classifier"):
        return list(layers["classifier"])
    head = model.get_classifier()
    return [name for name, module in model.named_modules() if module is head and name]


def assign_parameters(model: torch.nn.Module, layers: dict[str, Any]) -> dict[str, int | None]:
    """Parameter name -> index of its layer group in params.yaml, or None for the classifier head (the model's
    own classifier unless layers.classifier names it)."""
    return runtime.assign_parameters(
        model, classifier=classifier_prefixes(model, layers), groups=layers["groups"], part="backbone"
    )


def save_model(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    out_dir: Path,
    params: dict[str, Any],
    class_names: list[str],
) -> None:
    """Write model.safetensors and a timm config.json: `timm.create_model("local-dir:<out_dir>", pretrained=True)`."""
    import safetensors.torch

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}
    safetensors.torch.save_file(tensors, str(out_dir / MODEL_FILE), metadata={"format": "pt"})
    cfg = pretrained_data_cfg(params)
    classifier = classifier_prefixes(model, params["layers"])
    config = {
        "architecture": params["model"]["architecture"],
        "fine_tuned_from": f"{params['model']['repo_id']}@{params['model']['revision']}",
        "num_classes": len(class_names),
        "num_features": int(getattr(model, "num_features", 0)) or None,
        "label_names": list(class_names),
        "model_args": dict(params["model"].get("model_args") or {}),
        "pretrained_cfg": {
            **{key: list(value) if isinstance(value, tuple) else value for key, value in cfg.items()},
            "num_classes": len(class_names),
            "label_names": list(class_names),
            "classifier": classifier[0] if len(classifier) == 1 else classifier,
        },
    }
    write_json(out_dir / CONFIG_FILE, config)


def load_trained_model(model_dir: Path) -> tuple[torch.nn.Module, list[str]]:
    """A model written by train.py, through timm's own local-dir loader, in eval mode, with its class names."""
    import timm

    if not (model_dir / MODEL_FILE).is_file() or not (model_dir / CONFIG_FILE).is_file():
        raise BundleError(f"no trained model in {model_dir}: run `python train.py` first")
    model = timm.create_model(f"local-dir:{model_dir.resolve()}", pretrained=True)
    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    return model.eval(), list(config["label_names"])


def predict_logits(
    model: torch.nn.Module, loader: Any, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels over a loader, model in eval mode."""
    import torch

    model.eval()
    logits, labels = [], []
    with torch.inference_mode():
        for images, targets in loader:
            logits.append(model(images.to(device)).float().cpu())
            labels.append(targets)
    if not logits:
        return torch.empty(0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)
