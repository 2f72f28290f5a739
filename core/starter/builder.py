"""Build a fine-tuning starter bundle: a zip holding a complete, runnable transfer-learning project.

Pure python (no Django): the catalog view turns a model row into a `ModelRecord`, the request into a
`TargetConfig` with `validate_target`, and serves `build_bundle`'s bytes.

The bundle's files live in `template/` as real files. Scripts are copied verbatim and read `params.yaml` at run
time; the only generated files are `params.yaml` (YAML blocks dumped by PyYAML into a commented template),
`README.md`, `data/README.md` and `requirements.txt` (`string.Template` with escaped values). No code is
generated, and every zip entry name is a constant of this module, never derived from user input.

Same inputs give the same bytes: fixed entry order, timestamps, permissions and compression level.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import re
import string
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core import model_args as timm_model_args
from core.options import OptionError, Schema
from core.starter.options import AUGMENTATIONS as AUGMENTATIONS  # re-exported: callers name them from here
from core.starter.options import BUNDLE_OPTIONS, CLASS_NAME_PATTERN
from core.starter.options import STRATEGIES as STRATEGIES

BUILDER_VERSION = "1"
TEMPLATE_DIR = Path(__file__).resolve().parent / "template"

# Every file of a bundle, in zip order. Each comes from the template file of the same name (but for the two
# renamed below); the _RENDERED ones are filled in, the others copied byte for byte.
ENTRY_NAMES: tuple[str, ...] = tuple(
    sorted(
        (
            ".gitignore",
            "README.md",
            "common.py",
            "data/README.md",
            "dvc.yaml",
            "evaluate.py",
            "imagedecode.py",
            "params.yaml",
            "predict.py",
            "prepare.py",
            "requirements.txt",
            "runtime.py",
            "tests/test_smoke.py",
            "train.py",
        )
    )
)
# Two template files are renamed so they do not act on the Depot repository itself (git, pip tooling).
_TEMPLATE_FILES: dict[str, str] = {name: name for name in ENTRY_NAMES if name != "imagedecode.py"} | {
    ".gitignore": "gitignore.txt",
    "requirements.txt": "requirements.txt.tmpl",
}
_RENDERED = frozenset({"README.md", "data/README.md", "params.yaml", "requirements.txt"})
# Files copied from the hub's own code, not from template/: the bundle reads images with the very decoder the
# hub's benchmark harness uses (a copy kept here would drift), so a bundle and a re-check read the same pixels.
DECODER_SOURCE = Path(importlib.util.find_spec("core.imagedecode").origin)
_HUB_FILES: dict[str, Path] = {"imagedecode.py": DECODER_SOURCE}

# The distributions train.py needs, pinned to what this hub runs (read at build time).
REQUIREMENTS: tuple[str, ...] = (
    "torch",
    "torchvision",
    "timm",
    "safetensors",
    "huggingface_hub",
    "pyyaml",
    "numpy",
    "pillow",
    "tqdm",
)
WEIGHTS_FILENAME = "model.safetensors"


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one layout per kind of bundle
class BundleLayout:
    """The files of one kind of bundle (images, texts): zip order, where each comes from, which are filled in."""

    template_dir: Path
    entry_names: tuple[str, ...]
    template_files: dict[str, str]  # entry name -> its file in template_dir
    hub_files: dict[str, Path]  # entry name -> a file of the hub's own code, copied as it is
    rendered: frozenset[str]  # the entries filled in with string.Template; the rest are copied byte for byte
    requirements: tuple[str, ...]  # the distributions of requirements.txt, pinned to what the hub runs


IMAGE_LAYOUT = BundleLayout(TEMPLATE_DIR, ENTRY_NAMES, _TEMPLATE_FILES, _HUB_FILES, _RENDERED, REQUIREMENTS)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o100644  # a regular file, rw-r--r--
_ZIP_LEVEL = 9
_ZIP_UNIX = 3

_SHA256 = re.compile(r"[0-9a-f]{64}")
_REVISION = re.compile(r"[0-9a-f]{40}")
_CLASS_NAME = re.compile(CLASS_NAME_PATTERN)
_URL = re.compile(r"https?://[^\s<>()\[\]|`\"']+")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BundleConfigError(ValueError):
    """A bad target config or a model that cannot have a bundle; `field` names what to fix (answer 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ModelRecord:
    """A catalog model as plain values: what the bundle needs to load, describe and credit it."""

    model_id: str
    architecture: str
    model_args: dict
    num_classes: int
    label_names: list[str]
    input_size: tuple[int, int, int]
    mean: tuple
    std: tuple
    interpolation: str
    crop_pct: float | None
    crop_mode: str
    license: str
    title: str
    summary: str
    pretrained_on: str
    weights_sha256: str | None
    revision: str
    hub_url: str
    hf_repo_id: str
    hf_revision: str
    claims: list[dict] = field(default_factory=list)
    verified: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class TargetConfig:
    """The user's task and training choices; build with `validate_target` from untrusted values."""

    num_classes: int
    class_names: tuple[str, ...] = ()
    strategy: str = "freeze_then_unfreeze"
    epochs: int = 10
    batch_size: int = 32
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4
    image_size: int | None = None  # None: the model's own input size
    augmentation: str = "light"  # none | light | strong
    hflip: float | None = None  # horizontal flip probability; None: hflip_default chooses
    seed: int = 0
    device: str = "auto"
    layer_decay: float = 0.75
    warmup_epochs: int = 1
    patience: int = 5


# ---------------------------------------------------------------------------------------------------------------
# Validation: the option values by BUNDLE_OPTIONS (core/starter/options.py), then what needs the model record


def schema_checked(check: Any) -> Any:
    """Run a BUNDLE_OPTIONS check, its refusal raised as a BundleConfigError naming the same field."""
    try:
        return check()
    except OptionError as error:
        raise BundleConfigError(error.field, error.message) from None


def validate_target(raw: Mapping[str, Any], record: ModelRecord) -> TargetConfig:
    """Turn untrusted JSON or form values into a checked TargetConfig; raise BundleConfigError naming the field.

    Missing or empty values take the defaults; `num_classes` may be left out when `class_names` is given.
    Unknown fields are an error rather than silently ignored.
    """
    target = TargetConfig(**target_values(BUNDLE_OPTIONS, raw))
    check_target(target, record)
    return target


def target_values(options: Schema, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The options' checked values (BundleConfigError naming the field), with num_classes counted from the
    class_names when left out: what both bundle kinds' target configs are built from."""
    values = schema_checked(lambda: options.validate(raw))
    values["class_names"] = values["class_names"] or ()
    if values["num_classes"] is None:
        if not values["class_names"]:
            raise BundleConfigError("num_classes", "is required (or give class_names)")
        values["num_classes"] = len(values["class_names"])
    return values


def _check_class_names(target: TargetConfig) -> None:
    names = target.class_names
    if not names:
        return
    if len(names) != target.num_classes:
        raise BundleConfigError(
            "class_names",
            f"has {len(names)} names but num_classes is {target.num_classes}; give one per class",
        )
    for name in names:
        if not _CLASS_NAME.fullmatch(name):
            raise BundleConfigError(
                "class_names",
                f"{name[:40]!r} is not a safe folder name: use 1-64 letters, digits, spaces, '_', '.', '+' or "
                "'-', starting and ending with a letter or digit",
            )
    # Case-insensitive: on macOS and Windows "Cat" and "cat" are the same folder.
    if len({name.casefold() for name in names}) != len(names):
        raise BundleConfigError("class_names", "names must be unique (ignoring case)")


def _check_image_size(target: TargetConfig, record: ModelRecord) -> None:
    if target.image_size is None:
        return
    model_size = tuple(record.input_size[1:])
    if (target.image_size, target.image_size) != model_size and _has_fixed_input_size(record.architecture):
        raise BundleConfigError(
            "image_size",
            f"{record.architecture} has a fixed input size {model_size[0]}x{model_size[1]}; leave image_size "
            "empty to use it",
        )


def check_target(target: TargetConfig, record: ModelRecord) -> None:
    """Check a TargetConfig's values (also one built directly, not through validate_target)."""
    _check_record(record)
    schema_checked(
        lambda: BUNDLE_OPTIONS.check({name: getattr(target, name) for name in BUNDLE_OPTIONS.names})
    )
    if target.num_classes is None:
        raise BundleConfigError("num_classes", "must be an integer")
    _check_class_names(target)
    if target.warmup_epochs > target.epochs:
        raise BundleConfigError("warmup_epochs", f"must be at most epochs ({target.epochs})")
    _check_image_size(target, record)


def _check_record(record: ModelRecord) -> None:
    if not record.weights_sha256:
        raise BundleConfigError("model", f"{record.model_id} has no weights on this hub; a bundle needs them")
    if not _SHA256.fullmatch(record.weights_sha256):
        raise BundleConfigError("model", f"{record.model_id} has no valid weights sha256")
    if not _REVISION.fullmatch(record.revision or ""):
        raise BundleConfigError("model", f"{record.model_id} has no pinned content revision (40 hex)")
    if not record.hub_url.startswith(("http://", "https://")):
        raise BundleConfigError("model", "the hub URL must be http(s)")
    if not record.architecture:
        raise BundleConfigError("model", f"{record.model_id} has no timm architecture")
    if len(record.input_size) != 3 or record.num_classes < 1:
        raise BundleConfigError("model", f"{record.model_id} has an incomplete pretrained config")


# ---------------------------------------------------------------------------------------------------------------
# Layer groups: which parts of the architecture are early and which are unfrozen in phase 2


def _has_fixed_input_size(architecture: str) -> bool:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(architecture)
    return bool(cfg and cfg.fixed_input_size)


def _meta_model(architecture: str, model_args: dict, num_classes: int) -> Any:
    """The architecture on the meta device: its structure without allocating or initialising weights."""
    import timm
    import torch

    if not timm.is_model(architecture):
        raise BundleConfigError("model", f"timm has no architecture {architecture!r}")
    model_args = _allowed_model_args(model_args)
    try:
        with torch.device("meta"):
            return timm.create_model(architecture, pretrained=False, num_classes=num_classes, **model_args)
    except (TypeError, ValueError, AssertionError, RuntimeError, KeyError) as exc:
        raise BundleConfigError(
            "model", f"timm cannot build {architecture} with {model_args}: {exc}"
        ) from exc


def _classifier_prefixes(model: Any) -> list[str]:
    classifier = model.pretrained_cfg.get("classifier") or ()
    prefixes = [classifier] if isinstance(classifier, str) else list(classifier)
    names = {name for name, _ in model.named_modules()}
    return [prefix for prefix in prefixes if prefix in names]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _param_groups(model: Any, classifier: list[str]) -> list[list[str]]:
    """Backbone parameter names grouped input to output by timm's coarse group_matcher (classifier left out)."""
    import torch
    from timm.models import group_parameters

    names = [name for name, _ in model.named_parameters()]
    backbone = [name for name in names if not any(_under(name, prefix) for prefix in classifier)]
    if hasattr(model, "group_matcher"):
        grouped = group_parameters(model, model.group_matcher(coarse=True))
        keep = set(backbone)
        groups = [[name for name in grouped[index] if name in keep] for index in sorted(grouped)]
    else:
        # No matcher: one group per top-level child in registration order, a container of stages (a Sequential
        # or ModuleList such as `stages`) split into its children.
        containers = {
            name
            for name, child in model.named_children()
            if isinstance(child, torch.nn.Sequential | torch.nn.ModuleList) and len(child) > 1
        }
        by_child: dict[str, list[str]] = {}
        for name in backbone:
            parts = name.split(".")
            key = ".".join(parts[:2]) if parts[0] in containers and len(parts) > 2 else parts[0]
            by_child.setdefault(key, []).append(name)
        groups = list(by_child.values())
    return [group for group in groups if group]


def _module_prefixes(groups: list[list[str]], classifier_params: list[str]) -> list[list[str]]:
    """For each group, the fewest module paths that cover its parameters and nothing of another group or
    of the classifier (so convnext's `head.norm` is a group of its own beside the classifier `head.fc`)."""
    owner = {name: -1 for name in classifier_params}
    owner.update({name: index for index, group in enumerate(groups) for name in group})
    prefix_groups: dict[str, set[int]] = {}
    for name, index in owner.items():
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix_groups.setdefault(".".join(parts[:depth]), set()).add(index)
    result: list[list[str]] = []
    for index, group in enumerate(groups):
        prefixes: list[str] = []
        for name in group:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix_groups[prefix] == {index}:
                    break
            if prefix not in prefixes:
                prefixes.append(prefix)
        result.append(prefixes)
    return result


def _group_of_feature(model: Any, module: str, groups: list[list[str]]) -> int | None:
    """The group holding a feature_info module's output: its own last parameter, else the last one before it."""
    owner = {name: index for index, group in enumerate(groups) for name in group}
    owned = [name for name in owner if _under(name, module)]
    if owned:
        return owner[owned[-1]]
    order = {name: position for position, (name, _) in enumerate(model.named_modules())}
    if module not in order:
        return None
    before = [name for name in owner if order.get(name.rpartition(".")[0], 0) < order[module]]
    return owner[before[-1]] if before else None


def _late_groups(model: Any, groups: list[list[str]], feature_info: list[dict]) -> tuple[set[int], str]:
    """Which groups freeze_then_unfreeze trains in phase 2, and the rule that chose them."""
    count = len(groups)
    if count < 2:
        return set(range(count)), "a single group: it is unfrozen in phase 2"
    reductions = sorted({int(info["reduction"]) for info in feature_info})
    if len(reductions) >= 3:
        threshold = reductions[-2]
        before = [info for info in feature_info if int(info["reduction"]) < threshold]
        boundary = _group_of_feature(model, before[-1]["module"], groups)
        if boundary is not None and 0 <= boundary < count - 1:
            rule = (
                f"the last two feature stages (timm feature_info reductions {threshold} and {reductions[-1]}) "
                "and anything after them are unfrozen in phase 2; earlier groups stay frozen"
            )
            return set(range(boundary + 1, count)), rule
    late = max(1, math.ceil((count - 1) / 3))
    rule = f"isotropic or unstaged: the last third of the blocks ({late} groups) is unfrozen in phase 2"
    return set(range(count - late, count)), rule


@functools.lru_cache(maxsize=256)
def _layer_groups_json(architecture: str, model_args_json: str, num_classes: int) -> str:
    model = _meta_model(architecture, json.loads(model_args_json), num_classes)
    classifier = _classifier_prefixes(model)
    groups = _param_groups(model, classifier)
    if not groups:
        raise BundleConfigError("model", f"{architecture} has no backbone parameters to fine-tune")
    feature_info = [
        {"module": str(info["module"]), "num_chs": int(info["num_chs"]), "reduction": int(info["reduction"])}
        for info in (getattr(model, "feature_info", None) or [])
        if isinstance(info, dict) and {"module", "num_chs", "reduction"} <= set(info)
    ]
    late, rule = _late_groups(model, groups, feature_info)
    grouped = {name for group in groups for name in group}
    prefixes = _module_prefixes(groups, [name for name, _ in model.named_parameters() if name not in grouped])
    named = []
    for index, modules in enumerate(prefixes):
        name = modules[0] if len(modules) == 1 else "stem" if index == 0 else "+".join(modules)
        named.append({"name": name, "modules": modules, "early": index not in late})
    result = {
        "source": f"timm {architecture}.group_matcher(coarse=True)"
        if hasattr(model, "group_matcher")
        else f"timm {architecture} top-level modules (no group_matcher)",
        "rule": rule,
        "classifier": classifier,
        "groups": named,
        "feature_info": feature_info,
    }
    return json.dumps(result)


def layer_groups(architecture: str, model_args: dict, num_classes: int) -> dict:
    """The architecture's ordered stage groups (input to output, classifier apart) and which are early.

    From timm's `group_matcher(coarse=True)` on the meta device (no weights allocated). Each group lists the
    module paths it covers; `early` groups stay frozen in freeze_then_unfreeze, the others are unfrozen in its
    second phase. For staged networks the last two feature stages (timm `feature_info` reductions) are late;
    for isotropic ones (ViT) the last third of the blocks. Recorded in the bundle's params.yaml, editable there.
    """
    args = {key: value for key, value in model_args.items() if key != "num_classes"}
    return json.loads(_layer_groups_json(architecture, json.dumps(args, sort_keys=True), num_classes))


# ---------------------------------------------------------------------------------------------------------------
# Rendering


@functools.lru_cache(maxsize=4)
def layout_templates(layout: BundleLayout) -> dict[str, str]:
    """Every entry's source text: its template file, or the hub's own file it copies."""
    templates = {
        name: (layout.template_dir / source).read_text(encoding="utf-8")
        for name, source in layout.template_files.items()
    }
    return templates | {name: path.read_text(encoding="utf-8") for name, path in layout.hub_files.items()}


def _templates() -> dict[str, str]:
    return layout_templates(IMAGE_LAYOUT)


@functools.lru_cache(maxsize=4)
def pinned_requirements(distributions: tuple[str, ...]) -> tuple[str, ...]:
    """requirements.txt lines: each distribution pinned to the version this hub runs (read at build time)."""
    lines = []
    for dist in distributions:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{dist}  # not installed on the hub that built this bundle: unpinned")
            continue
        # A local build tag (+cpu, +cu121) names a wheel index, not a version: pick the build for your machine.
        lines.append(f"{dist}=={version.split('+')[0]}")
    return tuple(lines)


def _pinned_requirements() -> tuple[str, ...]:
    return pinned_requirements(REQUIREMENTS)


def torch_cpu_install(pins: tuple[str, ...], packages: tuple[str, ...] = ("torch", "torchvision")) -> str:
    """`pip install` of the CPU-only build of these pinned packages (see _torch_cpu_install)."""
    chosen = [line for line in pins if line.startswith(tuple(f"{package}==" for package in packages))]
    return f"pip install {' '.join(chosen or packages)} --index-url https://download.pytorch.org/whl/cpu"


def _torch_cpu_install() -> str:
    """The command that installs PyTorch's CPU-only build at this hub's pinned versions, before requirements.txt.

    On Linux, pip's default torch wheel bundles CUDA (gigabytes); PyTorch's own CPU index serves the same version
    without it, and requirements.txt then finds torch already satisfied (2.x.y+cpu matches torch==2.x.y).
    """
    return torch_cpu_install(_pinned_requirements())


# Training one image costs about three forward passes through the layers that train (the backward pass about
# twice the forward) and one through the frozen ones; the hub measures forward passes only (its re-check runs).
_TRAIN_COST = {"linear_probe": 1.0, "freeze_then_unfreeze": 3.0, "full_finetune": 3.0, "scratch": 3.0}
_ESTIMATE_IMAGES = 1000


def _measured_speed(record: ModelRecord) -> dict | None:
    for run in record.verified:
        speed = run.get("throughput_ips")
        if isinstance(speed, (int, float)) and not isinstance(speed, bool) and speed > 0:
            return run
    return None


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _time_estimate(record: ModelRecord, target: TargetConfig) -> str:
    """How long training takes, from the hub's own measured images/s of this model (or why it cannot say)."""
    live = (
        "`train.py` prints its own estimate after the first epoch, measured on your machine with your images."
    )
    run = _measured_speed(record)
    if run is None:
        return f"The hub has not measured this model's speed yet. {live}"
    speed = float(run["throughput_ips"])
    threads = f", {run['threads']} threads" if run.get("threads") else ""
    where = f"{md_cell(run.get('device') or 'an unnamed device')}{threads}"
    # A validation pass (forward only) over a fifth as many images follows every training epoch.
    per_epoch = _ESTIMATE_IMAGES * (_TRAIN_COST[target.strategy] + 0.2) / speed
    scratch = _ESTIMATE_IMAGES * (_TRAIN_COST["scratch"] + 0.2) / speed
    return (
        f"The hub measured this model at {speed:,.1f} images/s (inference, image decoding included) on {where} "
        f"({md_link(run.get('run_url'), 'the run')}). On that machine, {_ESTIMATE_IMAGES:,} training images take "
        f"roughly {duration(per_epoch)} per epoch with `{target.strategy}` (at most {target.epochs} epochs: about "
        f"{duration(per_epoch * target.epochs)}), and the from-scratch baseline roughly {duration(scratch)} per "
        "epoch; scale by your image count. Rough by design: training costs about three forward passes per image "
        "for the layers that train and one for the frozen ones, and a GPU is often 10-50x faster. " + live
    )


def _allowed_model_args(model_args: dict) -> dict:
    """The bundle's model is built from these on the user's machine too: refuse what the catalog refuses."""
    try:
        return timm_model_args.checked(model_args)
    except timm_model_args.ModelArgsError as exc:
        raise BundleConfigError("model", str(exc)) from None


def _model_args(record: ModelRecord) -> dict:
    return _allowed_model_args(
        {key: value for key, value in record.model_args.items() if key != "num_classes"}
    )


def _input_size(record: ModelRecord, target: TargetConfig) -> list[int]:
    if target.image_size is None:
        return [int(size) for size in record.input_size]
    return [int(record.input_size[0]), target.image_size, target.image_size]


# Words saying the images are characters or symbols, whose mirror image is another class (b/d, left/right
# arrows) or no valid sample at all. Whole words only: "texture" or "design" say nothing of the kind.
_NO_FLIP_WORDS = re.compile(
    r"\b(digits?|mnist|svhn|ocr|text|characters?|letters?|handwrit\w*|alphabets?|glyphs?|fonts?|signs?|arrows?"
    r"|kanji|hanzi)\b",
    re.IGNORECASE,
)
_SINGLE_CHARACTER = re.compile(r"\w")


def _no_flip_reason(names: list[str], description: str) -> str | None:
    if names and all(_SINGLE_CHARACTER.fullmatch(name) for name in names):
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return f"the class names are single characters ({shown}): a mirrored character is another or none"
    match = _NO_FLIP_WORDS.search(description)
    if match:
        return f"{match.group(0).lower()!r} in the task's description: mirrored characters or signs change meaning"
    return None


def hflip_default(record: ModelRecord, target: TargetConfig) -> tuple[float, str]:
    """The horizontal-flip probability a bundle trains with, and why.

    The user's own `hflip` wins. Otherwise 0 when the task is made of characters or symbols, else 0.5 (in
    photos of objects, animals or scenes a mirrored image shows the same class, so flipping doubles the views
    at no cost). The task is the target's class names when given (all single letters or digits, or words such
    as "digit", "letter", "sign"); without them, the pretrained model's labels, name, title, summary and
    pretraining data, since a bundle's task is then presumably like the model's own.
    """
    if target.hflip is not None:
        return float(target.hflip), "set when the bundle was requested"
    if target.class_names:
        names, description = list(target.class_names), " ".join(target.class_names)
    else:
        names = list(record.label_names)
        description = " ".join((record.model_id, record.title, record.summary, record.pretrained_on))
    reason = _no_flip_reason(names, description)
    if reason:
        return 0.0, reason
    return 0.5, "no sign that the images are characters or signs: a mirrored photo shows the same class"


def head_epochs(epochs: int) -> int:
    """freeze_then_unfreeze trains the new head alone for about the first third of the epochs."""
    if epochs < 2:
        return epochs
    return max(1, epochs // 3)


def plain(value: Any) -> Any:
    """Tuples to lists (PyYAML's safe dumper writes lists only), recursively."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def yaml_block(key: str, value: Any) -> str:
    return yaml.safe_dump(
        {key: plain(value)}, sort_keys=False, default_flow_style=None, allow_unicode=True, width=110
    ).rstrip("\n")


def _params(record: ModelRecord, target: TargetConfig, layers: dict) -> dict[str, dict]:
    return {
        "model": {
            "repo_id": record.model_id,
            "revision": record.revision,
            "filename": WEIGHTS_FILENAME,
            "sha256": record.weights_sha256,
            "hub_url": record.hub_url.rstrip("/"),
            "hf_repo_id": record.hf_repo_id,
            "hf_revision": record.hf_revision,
            "architecture": record.architecture,
            "model_args": _model_args(record),
            "num_classes": record.num_classes,
            "label_names": list(record.label_names),
            "license": record.license,
        },
        "data": {
            "root": "data",
            "input_size": _input_size(record, target),
            "interpolation": record.interpolation,
            "crop_pct": record.crop_pct,
            "crop_mode": record.crop_mode,
            "mean": [float(value) for value in record.mean],
            "std": [float(value) for value in record.std],
            "val_fraction": 0.2,
            "split_seed": target.seed,
        },
        "target": {"num_classes": target.num_classes, "class_names": list(target.class_names)},
        "train": {
            "strategy": target.strategy,
            "epochs": target.epochs,
            "head_epochs": head_epochs(target.epochs),
            "batch_size": target.batch_size,
            "lr_head": target.lr_head,
            "lr_backbone": target.lr_backbone,
            "layer_decay": target.layer_decay,
            "weight_decay": 0.05,
            "warmup_epochs": target.warmup_epochs,
            "patience": target.patience,
            "label_smoothing": 0.1,
            "augmentation": target.augmentation,
            "hflip": hflip_default(record, target)[0],
            "seed": target.seed,
            "device": target.device,
            "num_workers": 0,
            "checkpoint": "best",
        },
        "layers": {key: layers[key] for key in ("source", "rule", "classifier", "groups", "feature_info")},
    }


def md_cell(value: Any, limit: int = 200) -> str:
    """A Markdown table cell: one line, pipes escaped, bounded length."""
    text = " ".join(str(value if value is not None else "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;") or "-"


def md_text(value: Any, limit: int = 2000) -> str:
    """Free text for a Markdown paragraph: no raw HTML, bounded length."""
    text = str(value or "").strip()[:limit]
    return text.replace("<", "&lt;") or "-"


def md_link(url: Any, label: str) -> str:
    url = str(url or "")
    return f"[{label}]({url})" if _URL.fullmatch(url) else md_cell(url)


def claims_table(record: ModelRecord) -> str:
    if not record.claims:
        return "The model's publisher states no accuracy claims."
    rows = ["| dataset | split | metric | value | source |", "|---|---|---|---|---|"]
    for claim in record.claims:
        source = md_cell(claim.get("source"))
        if claim.get("source_url"):
            source = f"{source} ({md_link(claim.get('source_url'), 'link')})"
        rows.append(
            f"| {md_cell(claim.get('dataset'))} | {md_cell(claim.get('split'))} | {md_cell(claim.get('metric'))} "
            f"| {md_cell(claim.get('value'))} | {source} |"
        )
    return "\n".join(rows)


def _short(value: Any) -> str:
    text = str(value or "")
    return f"`{text[:12]}`" if re.fullmatch(r"[0-9a-f]{12,64}", text) else md_cell(text)


def _interval_cell(run: dict) -> str:
    interval = run.get("interval95")
    if not interval:
        return ""
    return f"{interval[0]:.2f}-{interval[1]:.2f} ({md_cell(run.get('num_samples'))})"


def verified_table(record: ModelRecord, library: str = "timm") -> str:
    if not record.verified:
        return "The hub has not re-checked this model yet."
    rows = [
        "| dataset | split | top-1 % | status | delta | 95% interval (images) | weights sha256 | dataset hash "
        f"| torch / {library} / device | run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in record.verified:
        env = f"{md_cell(run.get('torch'))} / {md_cell(run.get(library))} / {md_cell(run.get('device'))}"
        rows.append(
            f"| {md_cell(run.get('dataset'))} | {md_cell(run.get('split'))} | {md_cell(run.get('top1'))} "
            f"| {md_cell(run.get('status'))} | {md_cell(run.get('delta'))} | {_interval_cell(run)} "
            f"| {_short(run.get('weights_sha256'))} "
            f"| {_short(run.get('dataset_hash'))} | {env} | {md_link(run.get('run_url'), 'run')} |"
        )
    return "\n".join(rows)


def _groups_table(layers: dict) -> str:
    rows = ["| # | group | modules | in freeze_then_unfreeze |", "|---|---|---|---|"]
    for index, group in enumerate(layers["groups"]):
        role = "frozen throughout (early)" if group["early"] else "unfrozen in phase 2"
        modules = ", ".join(f"`{module}`" for module in group["modules"])
        rows.append(f"| {index} | {md_cell(group['name'])} | {modules} | {role} |")
    classifier = ", ".join(f"`{module}`" for module in layers["classifier"]) or "(the model's head)"
    rows.append(f"| - | classifier | {classifier} | replaced, trained from the first epoch |")
    return "\n".join(rows)


_STRATEGY_TEXT = {
    "linear_probe": (
        "**linear_probe**: the pretrained backbone stays frozen (its BatchNorm statistics too) and only the new "
        "classifier head is trained, at `lr_head`."
    ),
    "freeze_then_unfreeze": (
        "**freeze_then_unfreeze**: for the first `head_epochs` epochs only the new head trains (at `lr_head`); "
        "then the late groups below are unfrozen and train at the lower `lr_backbone` alongside the head, with a "
        "fresh warmup. Early groups stay frozen throughout, with their BatchNorm running statistics."
    ),
    "full_finetune": (
        "**full_finetune**: everything trains. The head at `lr_head`; backbone group *i* of *n* at "
        "`lr_backbone * layer_decay ** (n - 1 - i)`, so early layers move least (layer-wise lr decay)."
    ),
}


def _class_names_text(target: TargetConfig) -> str:
    if target.class_names:
        return "Your classes, in label order: " + ", ".join(f"`{name}`" for name in target.class_names) + "."
    return (
        f"No class names were given: the {target.num_classes} folder names under `data/train/` are the classes, "
        "in sorted order."
    )


def _source_line(record: ModelRecord) -> str:
    if record.hf_repo_id:
        revision = f" at revision `{md_cell(record.hf_revision)}`" if record.hf_revision else ""
        return (
            f"Upstream source: Hugging Face `{md_cell(record.hf_repo_id)}`{revision} "
            f"(`python train.py --source huggingface` downloads from there; the same sha256 is enforced)."
        )
    return "Upstream source: none; this hub is the source of these weights."


def _hflip_note(record: ModelRecord, target: TargetConfig) -> str:
    probability, reason = hflip_default(record, target)
    return f"hflip {probability:g}: {reason}".replace("\n", " ")


def _readme_values(record: ModelRecord, target: TargetConfig, layers: dict, params: dict) -> dict[str, str]:
    hub = record.hub_url.rstrip("/")
    return {
        "hflip_note": md_text(_hflip_note(record, target)),
        "augmentation": target.augmentation,
        "title": md_text(record.title or record.model_id, 200).replace("\n", " "),
        "model_id": md_cell(record.model_id),
        "model_page": f"{hub}/models/{record.model_id}/",
        "hub_url": hub,
        "summary": md_text(record.summary),
        "license": md_cell(record.license or "unknown"),
        "pretrained_on": md_cell(record.pretrained_on or "unknown"),
        "source_line": _source_line(record),
        "architecture": md_cell(record.architecture),
        "model_args": md_cell(json.dumps(_model_args(record), sort_keys=True)),
        "source_classes": str(record.num_classes),
        "revision": record.revision,
        "sha256": str(record.weights_sha256),
        "claims_table": claims_table(record),
        "verified_table": verified_table(record),
        "num_classes": str(target.num_classes),
        "class_names_text": _class_names_text(target),
        "strategy": target.strategy,
        "strategy_text": _STRATEGY_TEXT[target.strategy],
        "groups_table": _groups_table(layers),
        "layers_rule": md_text(layers["rule"]),
        "input_size": "x".join(str(size) for size in params["data"]["input_size"][1:]),
        "epochs": str(target.epochs),
        "builder_version": BUILDER_VERSION,
        "torch_cpu_install": _torch_cpu_install(),
        "time_estimate": _time_estimate(record, target),
    }


def _render(record: ModelRecord, target: TargetConfig) -> dict[str, str]:
    layers = layer_groups(record.architecture, record.model_args, record.num_classes)
    params = _params(record, target, layers)
    templates = _templates()
    files = {name: templates[name] for name in ENTRY_NAMES if name not in _RENDERED}
    files["params.yaml"] = string.Template(templates["params.yaml"]).substitute(
        {f"{key}_block": yaml_block(key, value) for key, value in params.items()},
        model_id=record.model_id.replace("\n", " "),
        builder_version=BUILDER_VERSION,
        hflip_note=_hflip_note(record, target),
    )
    readme_values = _readme_values(record, target, layers, params)
    files["README.md"] = string.Template(templates["README.md"]).substitute(readme_values)
    files["data/README.md"] = string.Template(templates["data/README.md"]).substitute(readme_values)
    files["requirements.txt"] = string.Template(templates["requirements.txt"]).substitute(
        pins="\n".join(_pinned_requirements())
    )
    return files


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def build_bundle(record: ModelRecord, target: TargetConfig) -> bytes:
    """The starter bundle zip for this model and target, deterministic byte for byte."""
    check_target(target, record)
    return zip_files(ENTRY_NAMES, _render(record, target))


def zip_files(names: tuple[str, ...], files: Mapping[str, str]) -> bytes:
    """The zip of these entries in this order, deterministic byte for byte (fixed dates, modes, compression)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _ZIP_UNIX
            info.external_attr = _ZIP_MODE << 16
            archive.writestr(info, files[name].encode("utf-8"), compresslevel=_ZIP_LEVEL)
    return buffer.getvalue()


def bundle_filename(record: ModelRecord, target: TargetConfig) -> str:
    """The download name, from the model's name with everything but [A-Za-z0-9._-] replaced."""
    return starter_filename(record.model_id)


def starter_filename(model_id: str) -> str:
    """<model name>-starter.zip, everything but [A-Za-z0-9._-] in the name replaced."""
    name = model_id.rsplit("/", 1)[-1]
    slug = _SLUG_UNSAFE.sub("-", name).strip(".-")[:80] or "model"
    return f"{slug}-starter.zip"


def bundle_cache_key(record: ModelRecord, target: TargetConfig) -> str:
    """A sha256 naming the bundle these inputs build (with this builder, templates and pinned versions).

    Equal keys give byte-identical bundles, so a cache can answer before building; the ETag can be this key
    or the sha256 of the bytes.
    """
    return layout_cache_key(IMAGE_LAYOUT, record, target)


def layout_cache_key(layout: BundleLayout, record: Any, target: Any) -> str:
    """bundle_cache_key for a bundle of this layout (record and target are dataclasses)."""
    payload = {
        "builder": BUILDER_VERSION,
        "templates": {
            name: hashlib.sha256(text.encode("utf-8")).hexdigest()
            for name, text in layout_templates(layout).items()
        },
        "requirements": list(pinned_requirements(layout.requirements)),
        "record": plain(asdict(record)),
        "target": plain(asdict(target)),
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=True, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()
