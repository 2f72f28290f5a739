"""The files a model repository exposes through the Hugging Face protocol, built from a catalog record.

`config.json` follows timm's Hugging Face format (timm.models._hub.save_for_hf): top-level architecture,
num_classes, label_names and model_args (only those core.model_args allows), plus the pretrained_cfg that
timm.data.resolve_data_config reads.
Pure Python: takes any object with ModelEntry's attributes.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import yaml

from core import model_args

CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.safetensors"
CARD_FILENAME = "README.md"


@lru_cache(maxsize=1024)
def _layer_names(architecture: str) -> tuple[tuple[str, Any], ...]:
    """The classifier and first conv names timm needs to swap the head (num_classes=N) or adapt in_chans."""
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(architecture)
    except (ImportError, RuntimeError, ValueError):
        return ()
    if cfg is None:
        return ()
    return tuple((key, getattr(cfg, key)) for key in ("classifier", "first_conv") if getattr(cfg, key, None))


def timm_config(model: Any) -> dict[str, Any]:
    pretrained_cfg: dict[str, Any] = {
        "input_size": list(model.input_size) or None,
        "interpolation": model.interpolation or None,
        "mean": list(model.mean) or None,
        "std": list(model.std) or None,
        "crop_pct": model.crop_pct,
        "crop_mode": model.crop_mode or None,
        "num_classes": model.num_classes,
        "license": model.license or None,
    }
    if model.library == "timm" and model.architecture:
        pretrained_cfg.update(_layer_names(model.architecture))
    config: dict[str, Any] = {
        "architecture": model.architecture,
        "num_classes": model.num_classes,
        "pretrained_cfg": {key: value for key, value in pretrained_cfg.items() if value is not None},
    }
    # A timm entry names its ImageNet label space instead of storing 1,000+ synsets; timm's own config.json
    # carries them (and their lemmas) for such models, so this one does too.
    label_names = list(getattr(model, "output_label_names", model.label_names))
    if label_names:
        config["label_names"] = label_names
    if getattr(model, "label_space", "") and not model.label_names:
        config["label_descriptions"] = dict(zip(label_names, model.output_label_descriptions, strict=True))
    served_args = model_args.servable(model.model_args)  # never a refused argument a stored row kept
    if served_args:
        config["model_args"] = served_args
    return config


def config_bytes(model: Any) -> bytes:
    return (json.dumps(timm_config(model), indent=2, sort_keys=True) + "\n").encode()


def strip_front_matter(text: str) -> str:
    """Model cards often open with YAML metadata between '---' lines (as on the Hugging Face Hub)."""
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            return text[end + 4 :].lstrip("\n")
    return text


class CardMetadataError(ValueError):
    """A model card's YAML metadata is not readable, or a field there has an unexpected shape."""


def card_metadata(text: str) -> dict[str, Any]:
    """The YAML metadata a model card opens with ({} without any)."""
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end == -1:
        return {}
    try:
        metadata = yaml.safe_load(text[4:end])
    except yaml.YAMLError as error:
        raise CardMetadataError(f"The card's YAML metadata does not parse: {error}") from None
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CardMetadataError("The card's YAML metadata must be a mapping of keys to values.")
    return metadata


def card_base_model(text: str) -> str:
    """The `base_model:` a card declares, as on the Hugging Face Hub ("namespace/name"); "" without one. The Hub
    allows a list (merges); Depot records one parent, so a list of several is refused rather than cut."""
    value = card_metadata(text).get("base_model")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None or value == []:
        return ""
    if not isinstance(value, str):
        raise CardMetadataError(
            f"base_model in the card must be one model id such as timm/resnet50.a1_in1k, not {value!r}."
        )
    return value.strip()


def front_matter(metadata: Mapping[str, Any]) -> str:
    """The YAML metadata block a model card opens with, between '---' lines, keys in the given order.

    yaml.safe_dump quotes whatever needs it (a colon, a newline, a leading '-', "yes", "1.0"), so any value reads
    back as written; one line per value (no folding at 80 columns), so plain values look hand-written.
    """
    body = yaml.safe_dump(
        dict(metadata), sort_keys=False, default_flow_style=False, allow_unicode=True, width=float("inf")
    )
    return f"---\n{body}---\n"


def card_bytes(model: Any) -> bytes:
    # str(): the fields may hold Django choices (str subclasses yaml does not know), written as their value.
    metadata: dict[str, Any] = {"library_name": str(model.library), "pipeline_tag": str(model.task)}
    if model.license:
        metadata["license"] = str(model.license)
    if model.tag_list:
        metadata["tags"] = [str(tag) for tag in model.tag_list]
    datasets = [str(name) for name in (model.pretrained_on, model.fine_tuned_on) if name]
    if datasets:
        metadata["datasets"] = datasets
    if model.base_model:
        metadata["base_model"] = str(model.base_model)
    body = strip_front_matter(model.card) if model.card else f"# {model.model_id}\n"
    return (front_matter(metadata) + "\n" + body).encode()


def content_revision(model: Any, *, weights_sha256: str | None, files: Sequence[tuple[str, str]] = ()) -> str:
    """A 40-hex revision id that changes whenever a served file changes, like a git commit sha.

    files: (filename, sha256) of stored repository files besides the weights (a text model's tokenizer).
    """
    digest = hashlib.sha256()
    digest.update(config_bytes(model))
    digest.update(card_bytes(model))
    digest.update((weights_sha256 or "no-weights").encode())
    for filename, sha256 in files:
        digest.update(f"\0{filename}\0{sha256}".encode())
    return digest.hexdigest()[:40]


def git_blob_sha1(content: bytes) -> str:
    """The id git (and the Hub) gives a small file; used as its ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
