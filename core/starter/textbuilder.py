"""Build a text starter bundle: the image bundle's shape (params.yaml, dvc.yaml, prepare/train/evaluate/predict,
README, pinned requirements) for a transformers text model, fine-tuned as a sequence classifier.

Pure python (no Django). The machinery is the image builder's (core/starter/builder.py): a `BundleLayout` of
fixed entry names, templates filled with escaped values, the same zipping, cache key and requirement pins. What
differs is the model: a transformers config instead of a timm architecture, the encoder's layer groups
(embeddings, encoder.layer.N, what follows, the head) instead of timm's stages, and a text dataset in `data/`
read by the hub's own reader (core/textdata.py, copied into the bundle as the image bundle copies its decoder).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.starter import builder
from core.starter.builder import BundleConfigError, BundleLayout, md_cell, md_link, md_text
from core.starter.options import TEXT_BUNDLE_OPTIONS

TEXT_TEMPLATE_DIR = Path(__file__).resolve().parent / "text_template"
TEXT_TASKS = ("text-classification", "feature-extraction")
TEXT_ENTRY_NAMES: tuple[str, ...] = tuple(
    sorted(
        (
            ".gitignore",
            "README.md",
            "common.py",
            "data/README.md",
            "data/test.tsv",
            "data/train.tsv",
            "dvc.yaml",
            "evaluate.py",
            "params.yaml",
            "predict.py",
            "prepare.py",
            "requirements.txt",
            "runtime.py",
            "textdata.py",
            "train.py",
        )
    )
)
TEXTDATA_SOURCE = Path(importlib.util.find_spec("core.textdata").origin)
TEXT_LAYOUT = BundleLayout(
    template_dir=TEXT_TEMPLATE_DIR,
    entry_names=TEXT_ENTRY_NAMES,
    template_files={name: name for name in TEXT_ENTRY_NAMES if name not in ("textdata.py", "runtime.py")}
    | {".gitignore": "gitignore.txt", "requirements.txt": "requirements.txt.tmpl"},
    # The bundle reads texts with the very reader the hub's text evaluation uses (a copy kept here would drift).
    # And fine-tunes by the image bundle's very rules: the strategy, seeds and parameters are one shared file.
    hub_files={"textdata.py": TEXTDATA_SOURCE, "runtime.py": builder.TEMPLATE_DIR / "runtime.py"},
    rendered=frozenset({"README.md", "data/README.md", "params.yaml", "requirements.txt"}),
    requirements=(
        "torch", "transformers", "tokenizers", "safetensors", "huggingface_hub", "pyyaml", "numpy", "tqdm",
    ),
)  # fmt: skip
WEIGHTS_FILENAME = "model.safetensors"
CONFIG_FILENAME = "config.json"
# Most classification texts (reviews, tickets, headlines) fit in 128 tokens, and the cost of attention grows
# with the length: a longer default would make every bundle slower for the few long texts.
DEFAULT_MAX_LENGTH = 128
VAL_FRACTION = 0.2

_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LABEL_FORBIDDEN = re.compile(r"[\t\r\n\x00]")


@dataclass(frozen=True)
class TextModelRecord:
    """A catalog text model as plain values: its files, config, and what the bundle credits it with."""

    model_id: str
    task: str  # text-classification | feature-extraction
    architecture: str  # config.architectures[0]
    model_type: str
    config: dict  # config.json as stored
    files: dict[str, str]  # repository file -> sha256, model.safetensors included
    num_params: int | None
    max_sequence_length: int
    vocab_size: int | None
    label_names: list[str]
    license: str
    title: str
    summary: str
    pretrained_on: str
    base_model: str
    revision: str
    hub_url: str
    hf_repo_id: str
    hf_revision: str
    claims: list[dict] = field(default_factory=list)
    verified: list[dict] = field(default_factory=list)

    @property
    def weights_sha256(self) -> str | None:
        return self.files.get(WEIGHTS_FILENAME)


@dataclass(frozen=True)
class TextTargetConfig:
    """The user's task and training choices; build with `validate_text_target` from untrusted values."""

    num_classes: int
    class_names: tuple[str, ...] = ()
    strategy: str = "full_finetune"
    epochs: int = 4
    batch_size: int = 16
    lr_head: float = 1e-3
    lr_backbone: float = 5e-5
    max_length: int | None = None  # None: the model's limit, at most DEFAULT_MAX_LENGTH
    seed: int = 0
    device: str = "auto"
    layer_decay: float = 0.9
    warmup_epochs: int = 1
    patience: int = 2


# ---------------------------------------------------------------------------------------------------------------
# Validation


def validate_text_target(raw: Mapping[str, Any], record: TextModelRecord) -> TextTargetConfig:
    """Untrusted JSON or form values as a checked TextTargetConfig; BundleConfigError names the field."""
    target = TextTargetConfig(**builder.target_values(TEXT_BUNDLE_OPTIONS, raw))
    check_text_target(target, record)
    return target


def _check_class_names(target: TextTargetConfig) -> None:
    names = target.class_names
    if not names:
        return
    if len(names) != target.num_classes:
        raise BundleConfigError(
            "class_names",
            f"has {len(names)} names but num_classes is {target.num_classes}; give one per class",
        )
    for name in names:
        if not name.strip() or len(name) > 64 or _LABEL_FORBIDDEN.search(name):
            raise BundleConfigError(
                "class_names", f"{name[:40]!r} is not a label: use 1-64 characters, no tab or newline"
            )
    if len(set(names)) != len(names):
        raise BundleConfigError("class_names", "names must be unique")


def check_text_target(target: TextTargetConfig, record: TextModelRecord) -> None:
    """Check a TextTargetConfig's values (also one built directly, not through validate_text_target)."""
    _check_record(record)
    builder.schema_checked(
        lambda: TEXT_BUNDLE_OPTIONS.check({name: getattr(target, name) for name in TEXT_BUNDLE_OPTIONS.names})
    )
    _check_class_names(target)
    if target.warmup_epochs > target.epochs:
        raise BundleConfigError("warmup_epochs", f"must be at most epochs ({target.epochs})")
    if target.max_length is not None and target.max_length > record.max_sequence_length:
        raise BundleConfigError(
            "max_length",
            f"must be at most {record.max_sequence_length}, the longest input {record.model_id} takes",
        )


def _check_record(record: TextModelRecord) -> None:
    if record.task not in TEXT_TASKS:
        raise BundleConfigError("model", f"{record.model_id} is not a text model ({', '.join(TEXT_TASKS)})")
    if not record.weights_sha256:
        raise BundleConfigError("model", f"{record.model_id} has no weights on this hub; a bundle needs them")
    if CONFIG_FILENAME not in record.files or len(record.files) < 3:
        raise BundleConfigError("model", f"{record.model_id} lacks its config or tokenizer files on this hub")
    for name, sha256 in record.files.items():
        if not _FILENAME.fullmatch(name) or not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
            raise BundleConfigError("model", f"{record.model_id} has a file without a valid name or sha256")
    if not re.fullmatch(r"[0-9a-f]{40}", record.revision or ""):
        raise BundleConfigError("model", f"{record.model_id} has no pinned content revision (40 hex)")
    if not record.hub_url.startswith(("http://", "https://")):
        raise BundleConfigError("model", "the hub URL must be http(s)")
    if record.max_sequence_length < 8:
        raise BundleConfigError("model", f"{record.model_id} has no usable maximum sequence length")


# ---------------------------------------------------------------------------------------------------------------
# Layer groups: the encoder's embeddings, its repeated layers and what follows them


def _meta_classifier(config: dict, num_classes: int) -> Any:
    """AutoModelForSequenceClassification for this config on the meta device: the structure, no weights."""
    import torch
    import transformers

    model_type = config.get("model_type")
    if model_type not in transformers.CONFIG_MAPPING:
        raise BundleConfigError("model", f"transformers has no model type {model_type!r}")
    values = {
        key: value for key, value in config.items() if key not in ("id2label", "label2id", "num_labels")
    }
    model_config = transformers.CONFIG_MAPPING[model_type].from_dict(values)
    model_config.num_labels = num_classes
    try:
        with torch.device("meta"):
            return transformers.AutoModelForSequenceClassification.from_config(model_config)
    except (ValueError, KeyError) as error:
        raise BundleConfigError(
            "model", f"{model_type} has no sequence classifier in transformers: {error}"
        ) from None


def _repeated_layers(base: Any) -> str:
    """The name of the encoder's stack of layers: its longest ModuleList (encoder.layer, transformer.layer)."""
    import torch

    stacks = [
        (name, len(module))
        for name, module in base.named_modules()
        if isinstance(module, torch.nn.ModuleList)
    ]
    if not stacks:
        raise BundleConfigError("model", "the encoder has no stack of layers to group")
    return max(stacks, key=lambda item: item[1])[0]


@functools.lru_cache(maxsize=64)
def _text_layer_groups_json(config_json: str, num_classes: int) -> str:
    model = _meta_classifier(json.loads(config_json), num_classes)
    prefix = model.base_model_prefix
    base = getattr(model, prefix)
    stack = _repeated_layers(base)
    order: list[str] = []  # group names in parameter order: input to output
    for name, _ in base.named_parameters():
        # encoder.layer.3 for a layer's parameters; embeddings, pooler, ... for the others
        inside = name.startswith(stack + ".")
        group = ".".join(name.split(".")[: stack.count(".") + 2]) if inside else name.split(".")[0]
        if group not in order:
            order.append(group)
    layers = [group for group in order if group.startswith(stack + ".")]
    if not layers:
        raise BundleConfigError("model", "the encoder's stack of layers has no parameters")
    late_count = max(1, math.ceil(len(layers) / 3))
    first_late = order.index(layers[-late_count])
    groups = [
        {"name": group, "modules": [f"{prefix}.{group}"], "early": index < first_late}
        for index, group in enumerate(order)
    ]
    after = [group for group in order[order.index(layers[-1]) + 1 :]]
    rule = (
        f"the last third of the {len(layers)} encoder layers ({late_count}) and what follows them "
        f"({', '.join(after) or 'nothing'}) are unfrozen in phase 2; the embeddings and earlier layers stay frozen"
    )
    classifier = [
        name
        for name, child in model.named_children()
        if name != prefix and any(True for _ in child.parameters())
    ]
    result = {
        "source": f"transformers {type(model).__name__}: {prefix}'s modules in order, {prefix}.{stack} per layer",
        "rule": rule,
        "base_model_prefix": prefix,
        "num_layers": len(layers),
        "classifier": classifier,
        "groups": groups,
    }
    return json.dumps(result)


def text_layer_groups(config: dict, num_classes: int) -> dict:
    """The encoder's ordered groups (embeddings, each layer, what follows; the new head apart) and which are early.

    Built on the meta device from the config alone (no weights). In freeze_then_unfreeze the last third of the
    layers (at least one) and the modules after them train in phase 2; the rest stays frozen. Recorded in the
    bundle's params.yaml, editable there.
    """
    return json.loads(_text_layer_groups_json(json.dumps(config, sort_keys=True), num_classes))


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _max_length(record: TextModelRecord, target: TextTargetConfig) -> int:
    return target.max_length or min(record.max_sequence_length, DEFAULT_MAX_LENGTH)


def _params(record: TextModelRecord, target: TextTargetConfig, layers: dict) -> dict[str, dict]:
    return {
        "model": {
            "repo_id": record.model_id,
            "revision": record.revision,
            "sha256": record.weights_sha256,
            "files": dict(sorted(record.files.items())),
            "hub_url": record.hub_url.rstrip("/"),
            "hf_repo_id": record.hf_repo_id,
            "hf_revision": record.hf_revision,
            "architecture": record.architecture,
            "model_type": record.model_type,
            "task": record.task,
            "max_sequence_length": record.max_sequence_length,
            "label_names": list(record.label_names),
            "license": record.license,
        },
        "data": {
            "root": "data",
            "max_length": _max_length(record, target),
            "val_fraction": VAL_FRACTION,
            "split_seed": target.seed,
        },
        "target": {"num_classes": target.num_classes, "class_names": list(target.class_names)},
        "train": {
            "strategy": target.strategy,
            "epochs": target.epochs,
            "head_epochs": builder.head_epochs(target.epochs),
            "batch_size": target.batch_size,
            "lr_head": target.lr_head,
            "lr_backbone": target.lr_backbone,
            "layer_decay": target.layer_decay,
            "weight_decay": 0.01,
            "warmup_epochs": target.warmup_epochs,
            "patience": target.patience,
            "label_smoothing": 0.0,
            "clip_norm": 1.0,
            "seed": target.seed,
            "device": target.device,
            "checkpoint": "best",
        },
        "layers": {key: layers[key] for key in ("source", "rule", "classifier", "groups")},
    }


_STRATEGY_TEXT = {
    "linear_probe": (
        "**linear_probe**: the pretrained encoder stays frozen and only the new classification head is trained, "
        "at `lr_head`."
    ),
    "freeze_then_unfreeze": (
        "**freeze_then_unfreeze**: for the first `head_epochs` epochs only the new head trains (at `lr_head`); "
        "then the late groups below are unfrozen and train at the low `lr_backbone` alongside the head, with a "
        "fresh warmup. Early groups stay frozen throughout."
    ),
    "full_finetune": (
        "**full_finetune**: everything trains. The head at `lr_head`; encoder group *i* of *n* at "
        "`lr_backbone * layer_decay ** (n - 1 - i)`, so the embeddings and early layers move least."
    ),
}


def _groups_table(layers: dict) -> str:
    rows = ["| # | group | modules | in freeze_then_unfreeze |", "|---|---|---|---|"]
    for index, group in enumerate(layers["groups"]):
        role = "frozen throughout (early)" if group["early"] else "unfrozen in phase 2"
        modules = ", ".join(f"`{module}`" for module in group["modules"])
        rows.append(f"| {index} | {md_cell(group['name'])} | {modules} | {role} |")
    classifier = ", ".join(f"`{module}`" for module in layers["classifier"])
    rows.append(f"| - | classifier | {classifier} | new for your classes, trained from the first epoch |")
    return "\n".join(rows)


def _class_names_text(target: TextTargetConfig) -> str:
    if target.class_names:
        return (
            "Your classes, in label order: " + ", ".join(f"`{md_cell(n)}`" for n in target.class_names) + "."
        )
    return f"No class names were given: the {target.num_classes} sorted labels of the train split are the classes."


def _source_line(record: TextModelRecord) -> str:
    if record.hf_repo_id:
        revision = f" at revision `{md_cell(record.hf_revision)}`" if record.hf_revision else ""
        return (
            f"Upstream source: Hugging Face `{md_cell(record.hf_repo_id)}`{revision} "
            "(`python train.py --source huggingface` downloads from there; the same sha256s are enforced)."
        )
    return "Upstream source: none; this hub is the source of these files."


# Training one text costs about three forward passes through the layers that train (the backward pass about
# twice the forward) and one through the frozen ones; the hub's re-checks measure forward passes only.
_TRAIN_COST = {"linear_probe": 1.0, "freeze_then_unfreeze": 2.0, "full_finetune": 3.0}
_ESTIMATE_TEXTS = 1000
# Without a measured speed, the estimate counts 2 multiply-adds per weight per token (a transformer's forward
# pass, attention aside) at this rate. Measured on this hub's shared 2-core CPU: all-MiniLM-L6-v2 (11M such
# weights) infers 8.6 texts/s of 128 tokens on one thread, 24 GFLOP/s by this count, 15 on two busy threads;
# a laptop's cores do as much or more, so the estimate errs long.
CPU_FLOPS_PER_SECOND = 2.0e10


def _measured_speed(record: TextModelRecord) -> dict | None:
    for run in record.verified:
        speed = run.get("throughput_ips")
        if isinstance(speed, int | float) and not isinstance(speed, bool) and speed > 0:
            return run
    return None


def _encoder_weights(layers: dict, record: TextModelRecord) -> int | None:
    """Weights a token passes through (the embeddings are looked up, not multiplied): about the params less
    the vocabulary's embedding matrix."""
    if not record.num_params:
        return None
    hidden = int(record.config.get("hidden_size") or record.config.get("dim") or 0)
    return max(record.num_params - (record.vocab_size or 0) * hidden, record.num_params // 10)


def _time_estimate(record: TextModelRecord, target: TextTargetConfig, layers: dict) -> str:
    """How long training takes: from the hub's measured texts/s of this model, else from its size."""
    live = (
        "`train.py` prints its own estimate after the first epoch, measured on your machine with your texts."
    )
    max_length = _max_length(record, target)
    cost = _TRAIN_COST[target.strategy] + VAL_FRACTION
    run = _measured_speed(record)
    if run is not None:
        speed = float(run["throughput_ips"])
        threads = f", {run['threads']} threads" if run.get("threads") else ""
        basis = (
            f"The hub measured this model at {speed:,.1f} texts/s (inference, tokenizing included) on "
            f"{md_cell(run.get('device') or 'an unnamed device')}{threads} ({md_link(run.get('run_url'), 'the run')})."
        )
    else:
        weights = _encoder_weights(layers, record)
        if weights is None:
            return f"The hub knows neither this model's speed nor its size. {live}"
        speed = CPU_FLOPS_PER_SECOND / (2 * weights * max_length)
        basis = (
            f"The hub has not measured this model's speed; from its size (about {weights / 1e6:,.1f}M weights a "
            f"token passes through, {max_length} tokens a text) a 2-core CPU infers roughly {speed:,.0f} texts/s."
        )
    per_epoch = _ESTIMATE_TEXTS * cost / speed
    return (
        f"{basis} At that pace, {_ESTIMATE_TEXTS:,} training texts take roughly {builder.duration(per_epoch)} per "
        f"epoch with `{target.strategy}` (at most {target.epochs} epochs: about "
        f"{builder.duration(per_epoch * target.epochs)}); scale by your text count, and down for texts shorter "
        f"than {max_length} tokens (batches are padded to their longest text). Rough by design: a trained layer "
        "costs about three forward passes, a frozen one one, and a GPU is often 10-50x faster. " + live
    )


def _files_list(record: TextModelRecord) -> str:
    return ", ".join(f"`{name}` (`{sha[:12]}`)" for name, sha in sorted(record.files.items()))


def _readme_values(
    record: TextModelRecord, target: TextTargetConfig, layers: dict, params: dict
) -> dict[str, str]:
    hub = record.hub_url.rstrip("/")
    return {
        "title": md_text(record.title or record.model_id, 200).replace("\n", " "),
        "model_id": md_cell(record.model_id),
        "model_page": f"{hub}/models/{record.model_id}/",
        "hub_url": hub,
        "summary": md_text(record.summary),
        "architecture": md_cell(record.architecture),
        "model_type": md_cell(record.model_type),
        "task": md_cell(record.task),
        "num_params": f"{record.num_params:,}" if record.num_params else "an unknown number of",
        "model_max_length": str(record.max_sequence_length),
        "vocab_size": f"{record.vocab_size:,}" if record.vocab_size else "unknown size",
        "pretrained_on": md_cell(record.pretrained_on or "unknown data"),
        "base_model_line": f" Fine-tuned from {md_cell(record.base_model)}." if record.base_model else "",
        "license": md_cell(record.license or "unknown"),
        "source_line": _source_line(record),
        "revision": record.revision,
        "files_list": _files_list(record),
        "sha256": str(record.weights_sha256),
        "claims_table": builder.claims_table(record),
        "verified_table": builder.verified_table(record, library="transformers"),
        "num_classes": str(target.num_classes),
        "class_names_text": _class_names_text(target),
        "strategy_text": _STRATEGY_TEXT[target.strategy],
        "num_layers": str(layers["num_layers"]),
        "layers_rule": md_text(layers["rule"]),
        "groups_table": _groups_table(layers),
        "max_length": str(params["data"]["max_length"]),
        "epochs": str(target.epochs),
        "builder_version": builder.BUILDER_VERSION,
        "torch_cpu_install": builder.torch_cpu_install(
            builder.pinned_requirements(TEXT_LAYOUT.requirements), packages=("torch",)
        ),
        "time_estimate": _time_estimate(record, target, layers),
        "val_percent": f"{VAL_FRACTION * 100:g}",
    }


def _render(record: TextModelRecord, target: TextTargetConfig) -> dict[str, str]:
    layers = text_layer_groups(record.config, target.num_classes)
    params = _params(record, target, layers)
    templates = builder.layout_templates(TEXT_LAYOUT)
    files = {name: templates[name] for name in TEXT_ENTRY_NAMES if name not in TEXT_LAYOUT.rendered}
    files["params.yaml"] = string.Template(templates["params.yaml"]).substitute(
        {f"{key}_block": builder.yaml_block(key, value) for key, value in params.items()},
        model_id=record.model_id.replace("\n", " "),
        builder_version=builder.BUILDER_VERSION,
        model_max_length=str(record.max_sequence_length),
    )
    values = _readme_values(record, target, layers, params)
    files["README.md"] = string.Template(templates["README.md"]).substitute(values)
    files["data/README.md"] = string.Template(templates["data/README.md"]).substitute(values)
    files["requirements.txt"] = string.Template(templates["requirements.txt"]).substitute(
        pins="\n".join(builder.pinned_requirements(TEXT_LAYOUT.requirements))
    )
    return files


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def build_text_bundle(record: TextModelRecord, target: TextTargetConfig) -> bytes:
    """The text starter bundle zip for this model and target, deterministic byte for byte."""
    check_text_target(target, record)
    return builder.zip_files(TEXT_ENTRY_NAMES, _render(record, target))


def text_bundle_cache_key(record: TextModelRecord, target: TextTargetConfig) -> str:
    """A sha256 naming the bundle these inputs build: equal keys give byte-identical bundles."""
    return builder.layout_cache_key(TEXT_LAYOUT, record, target)


def text_bundle_filename(record: TextModelRecord, target: TextTargetConfig) -> str:
    """The download name, from the model's name alone, as for images."""
    return builder.starter_filename(record.model_id)
