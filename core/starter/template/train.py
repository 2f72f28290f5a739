"""Fine-tune the pretrained model on your classes (the dvc `train` stage).

1. Gets the pretrained weights: from the hub that made this bundle through the Hugging Face protocol
   (params.yaml model.hub_url; the HF_ENDPOINT environment variable overrides it), from the model's Hugging Face
   source with `--source huggingface`, or from a local file with `--weights PATH`. The file's sha256 must equal
   model.sha256, or nothing is trained and nothing is written.
2. Builds the architecture with timm, loads the weights strictly and replaces the classifier head.
3. Trains with the strategy of params.yaml (train.strategy, layers.groups), AdamW, a linear warmup then cosine
   learning rate per phase, validation every epoch and early stopping on validation top-1.
4. Writes outputs/model.safetensors (the best epoch), outputs/config.json (timm's format:
   `timm.create_model("local-dir:outputs", pretrained=True)` loads it), outputs/metrics.json (the numbers dvc
   compares: best validation top-1 first) and outputs/train_report.json (the per-epoch history and provenance).

Baseline: `python train.py --from-scratch --output-dir outputs-scratch` trains the same architecture from random
weights with the same data, epochs, batches and augmentation, every layer at train.lr_head.
Usage: python train.py [--weights PATH] [--source hub|huggingface] [--set train.epochs=5] [--from-scratch]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn.functional as F
from common import (
    OUTPUT_DIR,
    BundleError,
    ImageList,
    assign_parameters,
    create_model,
    eval_transform,
    load_params,
    predict_logits,
    read_prepared,
    resolve_device,
    save_model,
    seed_everything,
    sha256_file,
    train_transform,
    write_json,
)
from runtime import Phase, configure_phase, group_lr, plan_phases, set_train_mode, warmup_cosine
from tqdm import tqdm

# ---------------------------------------------------------------------------------------------------------------
# Weights


def fetch_weights(params: dict[str, Any], weights: Path | None, source: str) -> Path:
    """The pretrained weights file, refused unless its sha256 is params.yaml's model.sha256."""
    model = params["model"]
    if weights is not None:
        path = weights
        if not path.is_file():
            raise BundleError(f"--weights {path}: no such file")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        if source == "huggingface":
            if not model.get("hf_repo_id"):
                raise BundleError(
                    "this model has no Hugging Face source (model.hf_repo_id is empty); use --source hub"
                )
            repo_id, revision, endpoint = model["hf_repo_id"], model.get("hf_revision") or None, None
        else:
            repo_id, revision = model["repo_id"], model["revision"]
            endpoint = os.environ.get("HF_ENDPOINT") or model["hub_url"]
        where = endpoint or "the Hugging Face Hub"
        print(f"downloading {repo_id}/{model['filename']} at revision {revision} from {where}")
        try:
            path = Path(hf_hub_download(repo_id, model["filename"], revision=revision, endpoint=endpoint))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            raise BundleError(
                f"could not download the weights of {repo_id} from {where}: {exc}\n"
                "Is the hub reachable (HF_ENDPOINT, HF_HUB_OFFLINE)? Or pass --weights PATH to a local copy."
            ) from exc
    digest = sha256_file(path)
    if digest != model["sha256"]:
        raise BundleError(
            f"refusing weights {path}: sha256 mismatch: the file has {digest}, params.yaml model.sha256 expects "
            f"{model['sha256']}. Nothing was trained or written."
        )
    print(f"weights sha256 verified: {digest}")
    return path


def build_model(params: dict[str, Any], weights: Path | None, num_classes: int) -> torch.nn.Module:
    """Pretrained backbone with a new head of num_classes, or (weights None) a random-init model."""
    if weights is None:
        return create_model(params, num_classes)
    model = create_model(params, int(params["model"]["num_classes"]))
    state = safetensors.torch.load_file(str(weights))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"the weights do not fit {params['model']['architecture']}: {exc}") from exc
    model.reset_classifier(num_classes)
    return model


# ---------------------------------------------------------------------------------------------------------------
# Strategy


def describe(
    model: torch.nn.Module,
    params: dict[str, Any],
    owner: dict[str, int | None],
    phases: list[Phase],
    from_scratch: bool,
) -> None:
    """Print which groups train in which phase, at which learning rate."""
    groups, train = params["layers"]["groups"], params["train"]
    sizes: dict[int | None, int] = {}
    for name, param in model.named_parameters():
        sizes[owner[name]] = sizes.get(owner[name], 0) + param.numel()
    print(f"strategy: {'from scratch (baseline)' if from_scratch else train['strategy']}")
    for phase in phases:
        print(f"  phase {phase.name}: {phase.epochs} epochs")
    for index, group in enumerate(groups):
        trained = [phase.name for phase in phases if index in phase.trainable]
        lr = group_lr(train, index, len(groups), from_scratch)
        status = f"trains in {', '.join(trained)} at lr {lr:.3g}" if trained else "frozen"
        print(f"  group {index} {group['name']:<24} {sizes.get(index, 0):>11,} params  {status}")
    print(
        f"  classifier head{'':<20} {sizes.get(None, 0):>11,} params  trains at lr {float(train['lr_head']):.3g}"
    )


# ---------------------------------------------------------------------------------------------------------------
# Training


def loader(
    dataset: ImageList, batch_size: int, *, shuffle: bool, seed: int, workers: int
) -> torch.utils.data.DataLoader:
    # A last batch of one image breaks BatchNorm in training mode: drop it.
    drop_last = shuffle and len(dataset) > batch_size and len(dataset) % batch_size == 1
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=workers,
        generator=generator,
    )


def validate(model: torch.nn.Module, val_loader: Any, device: torch.device) -> tuple[float, float]:
    logits, labels = predict_logits(model, val_loader, device)
    loss = F.cross_entropy(logits, labels).item()
    top1 = 100.0 * (logits.argmax(dim=1) == labels).float().mean().item()
    return loss, top1


def train_epoch(
    model: torch.nn.Module,
    train_loader: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    frozen: list[str],
    device: torch.device,
    label_smoothing: float,
    description: str,
    progress: bool,
) -> tuple[float, float]:
    set_train_mode(model, frozen)
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(train_loader, desc=description, leave=False, disable=None if progress else True)
    for images, labels in bar:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return total_loss / max(1, seen), 100.0 * correct / max(1, seen)


def remaining_time_estimate(first_epoch_seconds: float, total_epochs: int) -> str:
    """The time the remaining epochs take at the first epoch's pace.

    The first epoch is timed on this machine with these images, so it already holds what no table can know in
    advance: the device, the thread count, the image sizes on disk and how many layers the strategy trains.
    """
    remaining = first_epoch_seconds * (total_epochs - 1)
    return (
        f"first epoch took {first_epoch_seconds:.1f}s: about {_duration(remaining)} more for the remaining "
        f"{total_epochs - 1} epochs at this pace (early stopping may end sooner; a phase that unfreezes more "
        "layers takes longer per epoch)"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace) -> dict[str, Any]:
    params = load_params(overrides=args.overrides)
    train = params["train"]
    class_names, samples = read_prepared()
    if len(class_names) != int(params["target"]["num_classes"]):
        raise BundleError(
            f"prepared/classes.json has {len(class_names)} classes but target.num_classes is "
            f"{params['target']['num_classes']}: run `python prepare.py` again"
        )
    if int(train["batch_size"]) < 2:
        raise BundleError("train.batch_size must be at least 2")
    # The weights are fetched and checked before anything is written.
    weights = None if args.from_scratch else fetch_weights(params, args.weights, args.source)

    seed = int(train["seed"])
    device = resolve_device(str(train["device"]))
    seed_everything(seed, device)
    model = build_model(params, weights, len(class_names)).to(device)
    owner = assign_parameters(model, params["layers"])
    phases = plan_phases(train, params["layers"]["groups"], args.from_scratch)
    describe(model, params, owner, phases, args.from_scratch)

    channels = int(params["data"]["input_size"][0])
    batch_size, workers = int(train["batch_size"]), int(train.get("num_workers", 0))
    train_loader = loader(
        ImageList(samples["train"], train_transform(params), channels),
        batch_size,
        shuffle=True,
        seed=seed,
        workers=workers,
    )
    val_loader = loader(
        ImageList(samples["val"], eval_transform(params), channels),
        batch_size,
        shuffle=False,
        seed=seed,
        workers=workers,
    )
    print(f"device {device}; {len(samples['train'])} train and {len(samples['val'])} val images")

    total_epochs = sum(phase.epochs for phase in phases)
    patience = int(train["patience"])
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"top1": -1.0, "loss": math.inf, "epoch": 0, "state": None}
    stopped_early, epoch = False, 0
    started = time.perf_counter()
    for phase_index, phase in enumerate(phases):
        optimizer, frozen = configure_phase(model, owner, phase, params, args.from_scratch)
        steps = phase.epochs * len(train_loader)
        scheduler = warmup_cosine(optimizer, steps, int(train["warmup_epochs"]) * len(train_loader))
        stale = 0
        for _ in range(phase.epochs):
            epoch += 1
            description = f"epoch {epoch}/{total_epochs} [{phase.name}]"
            train_loss, train_top1 = train_epoch(
                model, train_loader, optimizer, scheduler, frozen, device, float(train["label_smoothing"]),
                description, not args.no_progress,
            )  # fmt: skip
            val_loss, val_top1 = validate(model, val_loader, device)
            history.append(
                {
                    "epoch": epoch,
                    "phase": phase.name,
                    "train_loss": round(train_loss, 4),
                    "train_top1": round(train_top1, 2),
                    "val_loss": round(val_loss, 4),
                    "val_top1": round(val_top1, 2),
                }
            )
            improved = val_top1 > best["top1"] or (val_top1 == best["top1"] and val_loss < best["loss"])
            if improved:
                state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
                best.update(top1=val_top1, loss=val_loss, epoch=epoch, state=state)
                stale = 0
            else:
                stale += 1
            print(
                f"{description} train loss {train_loss:.4f} top-1 {train_top1:.2f} | val loss {val_loss:.4f} "
                f"top-1 {val_top1:.2f}{' *' if improved else ''}"
            )
            if epoch == 1 and total_epochs > 1:
                print(remaining_time_estimate(time.perf_counter() - started, total_epochs))
            if patience and stale >= patience:
                last_phase = phase_index == len(phases) - 1
                print(
                    f"no val improvement for {patience} epochs: {'stopping' if last_phase else 'next phase'}"
                )
                stopped_early = last_phase
                break
        if stopped_early:
            break

    checkpoint = str(train.get("checkpoint", "best"))
    if checkpoint not in ("best", "last"):
        raise BundleError(f"train.checkpoint must be best or last, got {checkpoint!r}")
    state = best["state"] if checkpoint == "best" and best["state"] is not None else model.state_dict()
    out_dir = args.output_dir
    save_model(model, state, out_dir, params, class_names)
    # metrics.json holds only the numbers dvc compares, best val top-1 first: `dvc exp show` gives every key a
    # column, and a per-epoch history or a sha256 there would push top-1 off the screen.
    metrics = {"best_val_top1": round(best["top1"], 2), "best_epoch": best["epoch"], "epochs_run": epoch}
    report = {
        **metrics,
        "stopped_early": stopped_early,
        "saved": checkpoint,
        "strategy": "from_scratch" if args.from_scratch else train["strategy"],
        "from_scratch": bool(args.from_scratch),
        "source_weights_sha256": None if args.from_scratch else params["model"]["sha256"],
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
    write_json(out_dir / "metrics.json", metrics)
    write_json(out_dir / "train_report.json", report)
    seconds = time.perf_counter() - started
    print(
        f"best val top-1 {metrics['best_val_top1']:.2f} at epoch {best['epoch']} ({epoch} epochs, {seconds:.1f}s); "
        f"wrote {out_dir / 'model.safetensors'}"
    )
    print(f"training metrics: {out_dir / 'metrics.json'}; per-epoch history: {out_dir / 'train_report.json'}")
    evaluate = "python evaluate.py" + ("" if out_dir == OUTPUT_DIR else f" --model-dir {out_dir}")
    print(
        f"test top-1: `{evaluate}` measures it (dvc repro runs it next) and writes {out_dir / 'eval_metrics.json'}"
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights", type=Path, help="a local copy of the pretrained safetensors (sha256 checked)"
    )
    parser.add_argument(
        "--source", choices=("hub", "huggingface"), default="hub", help="where to download from"
    )
    parser.add_argument("--from-scratch", action="store_true", help="baseline: random init, same budget")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
