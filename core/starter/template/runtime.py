"""What every starter bundle's scripts share, image or text: parameters, devices, seeds, hashes, and the
fine-tuning strategy (which layer groups train in which phase, at which learning rate, on which schedule).

The hub copies this one file into every bundle it builds (core/starter/template/runtime.py), so the image and
the text bundles fine-tune by the same rules. It needs only PyYAML; torch is imported by the functions that use it.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent
PARAMS_FILE = ROOT / "params.yaml"
STRATEGIES = ("linear_probe", "freeze_then_unfreeze", "full_finetune")


class BundleError(SystemExit):
    """A problem the user must fix; the scripts exit non-zero with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(f"error: {message}")


# ---------------------------------------------------------------------------------------------------------------
# Parameters, devices, seeds, hashes


def load_params(path: Path = PARAMS_FILE, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """params.yaml, with `section.key=value` overrides (values parsed as YAML, like `dvc exp run -S`)."""
    params = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise BundleError(f"--set expects section.key=value, got {item!r}")
        node = params
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise BundleError(f"--set {key}: params.yaml has no section {part!r}")
            node = node[part]
        if parts[-1] not in node:
            raise BundleError(f"--set {key}: params.yaml has no parameter {key!r}")
        node[parts[-1]] = yaml.safe_load(raw)
    return params


def resolve_device(name: str) -> torch.device:
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed every generator the scripts use; on CPU the same seed gives the same weights.

    The CPU kernels of these models are deterministic for a given thread count. On GPUs, deterministic
    algorithms are requested too (slower; warn_only: an op without one warns instead of stopping the run).
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def sha256_file(path: Path) -> str:
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Strategy: phases of layer groups, learning rates, the schedule


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def assign_parameters(
    model: torch.nn.Module, *, classifier: list[str], groups: list[dict[str, Any]], part: str
) -> dict[str, int | None]:
    """Parameter name -> index of its layer group in params.yaml, or None for the classification head (the
    modules named in `classifier`).

    Every parameter must belong to the head or exactly one group's modules, so an edit to layers.groups cannot
    silently leave weights out; `part` names the rest of the model in the message ("backbone", "encoder").
    """
    owner: dict[str, int | None] = {}
    uncovered = []
    for name, _ in model.named_parameters():
        if any(_under(name, prefix) for prefix in classifier):
            owner[name] = None
            continue
        matches = [i for i, group in enumerate(groups) if any(_under(name, m) for m in group["modules"])]
        if len(matches) != 1:
            uncovered.append(name)
            continue
        owner[name] = matches[0]
    if uncovered:
        raise BundleError(
            f"layers.groups in params.yaml must cover every {part} parameter exactly once; check: "
            + ", ".join(uncovered[:5])
        )
    return owner


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: int
    trainable: frozenset[int]  # indices of layers.groups trained in this phase; the head always trains


def plan_phases(train: dict[str, Any], groups: list[dict[str, Any]], from_scratch: bool) -> list[Phase]:
    everything = frozenset(range(len(groups)))
    epochs, strategy = int(train["epochs"]), train["strategy"]
    if from_scratch:
        return [Phase("scratch", epochs, everything)]
    if strategy == "linear_probe":
        return [Phase("head", epochs, frozenset())]
    if strategy == "full_finetune":
        return [Phase("full", epochs, everything)]
    if strategy == "freeze_then_unfreeze":
        head = min(max(int(train["head_epochs"]), 0), epochs)
        late = frozenset(i for i, group in enumerate(groups) if not group["early"])
        phases = [Phase("head", head, frozenset()), Phase("unfreeze", epochs - head, late)]
        return [phase for phase in phases if phase.epochs > 0]
    raise BundleError(f"train.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")


def group_lr(train: dict[str, Any], group: int | None, count: int, from_scratch: bool) -> float:
    """Learning rate of the head (group None) or of pretrained group `group` of `count`."""
    if group is None or from_scratch:
        return float(train["lr_head"])
    if train["strategy"] == "full_finetune":
        return float(train["lr_backbone"]) * float(train["layer_decay"]) ** (count - 1 - group)
    return float(train["lr_backbone"])


def configure_phase(
    model: torch.nn.Module,
    owner: dict[str, int | None],
    phase: Phase,
    params: dict[str, Any],
    from_scratch: bool,
) -> tuple[torch.optim.Optimizer, list[str]]:
    """Freeze what the phase does not train; AdamW over the rest, one param group per (layer group, decay)."""
    import torch

    train, count = params["train"], len(params["layers"]["groups"])
    weight_decay = float(train["weight_decay"])
    param_groups: dict[tuple, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        group = owner[name]
        trains = group is None or group in phase.trainable
        param.requires_grad_(trains)
        if not trains:
            continue
        # No weight decay on biases and normalisation parameters, as timm's and BERT's recipes have it.
        decay = 0.0 if param.ndim <= 1 or name.endswith(".bias") else weight_decay
        key = (-1 if group is None else group, decay)
        entry = param_groups.setdefault(
            key, {"params": [], "lr": group_lr(train, group, count, from_scratch), "weight_decay": decay}
        )
        entry["params"].append(param)
    optimizer = torch.optim.AdamW([param_groups[key] for key in sorted(param_groups)])
    # Modules whose parameters are all frozen stay in eval mode: their BatchNorm running statistics and dropout
    # are the pretrained model's, so the head learns on the features it will see at test time.
    frozen = [
        name
        for name, module in model.named_modules()
        if any(True for _ in module.parameters()) and not any(p.requires_grad for p in module.parameters())
    ]
    return optimizer, frozen


def set_train_mode(model: torch.nn.Module, frozen_modules: list[str]) -> None:
    model.train()
    modules = dict(model.named_modules())
    for name in frozen_modules:
        modules[name].eval()


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> Any:
    """Linear warmup to each group's learning rate, then cosine decay towards zero, stepped per batch."""
    import torch

    warmup_steps = min(warmup_steps, total_steps // 2)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
