"""Shared by prepare.py, train.py, evaluate.py and predict.py: parameters, data and the model.

Everything the scripts decide comes from params.yaml; nothing here needs the hub that made this bundle.
torch and transformers are imported by the functions that use them, so prepare.py starts in a blink.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
MODEL_SUBDIR = (
    "model"  # outputs/model: config.json, model.safetensors and the tokenizer, transformers' layout
)


# ---------------------------------------------------------------------------------------------------------------
# Output files


def write_json(path: Path, data: Any) -> None:
    """Keys in the order written: metrics files lead with accuracy, which `dvc exp show` then shows first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Data: prepare.py's lists of (text, label index) per split


def read_prepared() -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Class names and the train/val/test examples written by prepare.py."""
    if not SPLITS_FILE.is_file() or not CLASSES_FILE.is_file():
        raise BundleError("no prepared/splits.json: run `python prepare.py` first (or `dvc repro`)")
    classes = json.loads(CLASSES_FILE.read_text(encoding="utf-8"))["class_names"]
    splits = json.loads(SPLITS_FILE.read_text(encoding="utf-8"))
    samples = {
        split: [(item["text"], int(item["label"])) for item in items] for split, items in splits.items()
    }
    return classes, samples


def batches(samples: list[tuple[str, int]], batch_size: int, *, order: list[int] | None = None) -> Any:
    """(texts, label tensor) batches, in `order` (indices into samples) or as listed."""
    import torch

    order = list(range(len(samples))) if order is None else order
    for first in range(0, len(order), batch_size):
        chosen = [samples[i] for i in order[first : first + batch_size]]
        yield [text for text, _ in chosen], torch.tensor([label for _, label in chosen])


def encode(tokenizer: Any, texts: list[str], max_length: int, device: torch.device) -> dict:
    """Token ids for a batch: truncated to max_length tokens, padded to the batch's longest."""
    inputs = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    return {key: value.to(device) for key, value in inputs.items()}


# ---------------------------------------------------------------------------------------------------------------
# Scores


def scores(confusion: list[list[int]], class_names: list[str]) -> tuple[float, float, dict[str, dict]]:
    """Accuracy %, macro-F1 % (over the classes that occur or are predicted) and per-class precision/recall/F1."""
    total = sum(sum(row) for row in confusion)
    correct = sum(confusion[i][i] for i in range(len(confusion)))
    per_class: dict[str, dict] = {}
    for i, name in enumerate(class_names):
        support = sum(confusion[i])
        predicted = sum(row[i] for row in confusion)
        if not support and not predicted:
            continue
        precision = confusion[i][i] / predicted if predicted else 0.0
        recall = confusion[i][i] / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(100 * precision, 2),
            "recall": round(100 * recall, 2),
            "f1": round(100 * f1, 2),
            "support": support,
        }
    accuracy = 100.0 * correct / total if total else 0.0
    macro = sum(item["f1"] for item in per_class.values()) / len(per_class) if per_class else 0.0
    return round(accuracy, 2), round(macro, 2), per_class


def confusion_of(labels: list[int], predicted: list[int], count: int) -> list[list[int]]:
    confusion = [[0] * count for _ in range(count)]
    for true, guess in zip(labels, predicted, strict=True):
        confusion[true][guess] += 1
    return confusion


# ---------------------------------------------------------------------------------------------------------------
# The model


def load_trained(model_dir: Path) -> tuple[Any, Any, list[str], int]:
    """A model written by train.py (transformers' own loader), in eval mode: model, tokenizer, classes, max_length."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_path = model_dir / MODEL_SUBDIR
    if not (model_path / "model.safetensors").is_file() or not (model_dir / "train_report.json").is_file():
        raise BundleError(f"no trained model in {model_dir}: run `python train.py` first")
    model = AutoModelForSequenceClassification.from_pretrained(model_path, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    report = json.loads((model_dir / "train_report.json").read_text(encoding="utf-8"))
    class_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model.eval(), tokenizer, class_names, int(report["max_length"])


def predict_logits(model: Any, tokenizer: Any, texts: list[str], max_length: int, device: torch.device,
                   batch_size: int = 64) -> torch.Tensor:  # fmt: skip
    """Logits of the texts, model in eval mode, batch_size at a time."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for first in range(0, len(texts), batch_size):
            inputs = encode(tokenizer, texts[first : first + batch_size], max_length, device)
            out.append(model(**inputs).logits.float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
