"""Bounds on a catalog entry's model metadata (input_size, mean, std, num_classes, label_names).

These values feed timm.create_model, image preprocessing and the bundle builder; a 100000x100000 input or a
zero std is stored today and fails (or exhausts memory) only later, far from the write. The bounds below are
generous for real image models (timm's largest pretrained configs are 3x1024x1024 and a handful of 1536-2048
px ones) and refuse the rest at write time, naming the field. No Django here: the catalog services call it.
"""

import math
from typing import Any

MAX_CHANNELS = 4  # grayscale 1, RGB 3, RGB + alpha or a 4-band image 4
MAX_SIDE = 4096
MAX_NUM_CLASSES = 1_000_000  # timm's largest pretrained head: vit_base_patch16_224.bamboo, 115,217 classes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def input_size_problem(input_size: Any) -> str | None:
    if input_size in (None, []):
        return None  # unknown: the architecture's default applies
    if not isinstance(input_size, list | tuple) or len(input_size) != 3 or not all(map(_is_int, input_size)):
        return "Must be three integers [channels, height, width]."
    channels, height, width = input_size
    if not 1 <= channels <= MAX_CHANNELS:
        return f"Channels must be between 1 and {MAX_CHANNELS}, not {channels}."
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        return f"Height and width must be between 1 and {MAX_SIDE} pixels, not {height}x{width}."
    return None


def _per_channel_problem(values: Any, *, channels: int | None, positive: bool) -> str | None:
    if values in (None, []):
        return None
    if not isinstance(values, list | tuple) or not all(map(_is_finite_number, values)):
        return "Must be a list of finite numbers, one per channel."
    if channels is not None and len(values) != channels:
        return f"Must have one value per channel: {channels} (input_size), not {len(values)}."
    if not 1 <= len(values) <= MAX_CHANNELS:
        return f"Must have 1 to {MAX_CHANNELS} values, one per channel."
    if positive and not all(value > 0 for value in values):
        return "Every value must be greater than 0 (images are divided by it)."
    return None


def num_classes_problem(num_classes: Any) -> str | None:
    if num_classes is None:
        return None
    if not _is_int(num_classes) or not 1 <= num_classes <= MAX_NUM_CLASSES:
        return f"Must be an integer between 1 and {MAX_NUM_CLASSES}."
    return None


def label_names_problem(label_names: Any, *, num_classes: Any) -> str | None:
    if label_names in (None, []):
        return None
    if not isinstance(label_names, list | tuple) or not all(isinstance(name, str) for name in label_names):
        return "Must be a list of strings."
    if _is_int(num_classes) and len(label_names) != num_classes:
        return f"Must name every class: {num_classes} (num_classes), not {len(label_names)}."
    return None


def problems(*, input_size: Any, mean: Any, std: Any, num_classes: Any, label_names: Any) -> dict[str, str]:
    """Each field out of bounds with why; empty when all are fine. Mean and std are checked against the
    channel count of a valid input_size."""
    found = {
        "input_size": input_size_problem(input_size),
        "num_classes": num_classes_problem(num_classes),
        "label_names": label_names_problem(label_names, num_classes=num_classes),
    }
    channels = input_size[0] if input_size and found["input_size"] is None else None
    found["mean"] = _per_channel_problem(mean, channels=channels, positive=False)
    found["std"] = _per_channel_problem(std, channels=channels, positive=True)
    return {name: problem for name, problem in found.items() if problem}
