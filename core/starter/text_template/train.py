"""Fine-tune the pretrained text model on your classes (the dvc `train` stage).

1. Gets the pretrained model's files (config.json, the tokenizer, model.safetensors): from the hub that made
   this bundle through the Hugging Face protocol (params.yaml model.hub_url; the HF_ENDPOINT environment
   variable overrides it), from the model's Hugging Face source with `--source huggingface`, or from a local
   folder with `--weights-dir DIR`. Every file's sha256 must equal the one in params.yaml (model.files), or
   nothing is trained and nothing is written.
2. Builds AutoModelForSequenceClassification for your classes: the pretrained encoder loaded strictly (every
   weight present, none re-initialised at random) and a new classification head.
3. Trains with the strategy of params.yaml (train.strategy, layers.groups), AdamW, a linear warmup then cosine
   learning rate per phase, gradient clipping, validation accuracy every epoch and early stopping.
4. Writes outputs/model/ (transformers' layout: `AutoModelForSequenceClassification.from_pretrained(
   "outputs/model")` and `AutoTokenizer.from_pretrained("outputs/model")` load it anywhere), outputs/metrics.json
   (the numbers dvc compares: best validation accuracy first) and outputs/train_report.json (the per-epoch
   history and provenance).

Baseline: `python train.py --from-scratch --output-dir outputs-scratch` trains the same architecture from random
weights (same tokenizer, data, epochs and batches), every layer at train.lr_head.
Usage: python train.py [--weights-dir DIR] [--source hub|huggingface] [--set train.epochs=5] [--from-scratch]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import runtime
import torch
import torch.nn.functional as F
from common import (
    MODEL_SUBDIR,
    OUTPUT_DIR,
    BundleError,
    batches,
    confusion_of,
    encode,
    load_params,
    predict_logits,
    read_prepared,
    resolve_device,
    scores,
    seed_everything,
    sha256_file,
    write_json,
)
from runtime import Phase, configure_phase, group_lr, plan_phases, set_train_mode, warmup_cosine
from tqdm import tqdm

# ---------------------------------------------------------------------------------------------------------------
# The pretrained files


def _download(model: dict[str, Any], source: str) -> Path:
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
    print(f"downloading {repo_id} ({', '.join(model['files'])}) at revision {revision} from {where}")
    paths = []
    for filename in model["files"]:
        try:
            paths.append(Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint)))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            raise BundleError(
                f"could not download {filename} of {repo_id} from {where}: {exc}\n"
                "Is the hub reachable (HF_ENDPOINT, HF_HUB_OFFLINE)? Or pass --weights-dir DIR with a local copy."
            ) from exc
    folders = {path.parent for path in paths}
    if len(folders) != 1:
        raise BundleError(
            f"the files of {repo_id} were cached in different folders: {sorted(map(str, folders))}"
        )
    return folders.pop()


def fetch_pretrained(params: dict[str, Any], weights_dir: Path | None, source: str) -> Path:
    """The folder of the pretrained files, refused unless each file's sha256 is the one in params.yaml."""
    model = params["model"]
    if weights_dir is not None:
        if not weights_dir.is_dir():
            raise BundleError(f"--weights-dir {weights_dir}: no such folder")
        folder = weights_dir
    else:
        folder = _download(model, source)
    for filename, expected in model["files"].items():
        path = folder / filename
        if not path.is_file():
            raise BundleError(f"{folder} has no {filename}; nothing was trained or written")
        digest = sha256_file(path)
        if digest != expected:
            raise BundleError(
                f"refusing {path}: sha256 mismatch: the file has {digest}, params.yaml model.files expects "
                f"{expected}. Nothing was trained or written."
            )
    print(f"weights sha256 verified: {model['sha256']} (and the {len(model['files']) - 1} other files)")
    return folder


def build_model(folder: Path, class_names: list[str], *, pretrained: bool) -> torch.nn.Module:
    """A sequence classifier for class_names: the pretrained encoder (strictly loaded) and a new head."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(
        folder,
        num_labels=len(class_names),
        id2label=dict(enumerate(class_names)),
        label2id={name: i for i, name in enumerate(class_names)},
        trust_remote_code=False,
    )
    config.problem_type = "single_label_classification"
    model = AutoModelForSequenceClassification.from_config(config)
    if not pretrained:
        return model
    encoder, info = AutoModel.from_pretrained(
        folder, use_safetensors=True, trust_remote_code=False, output_loading_info=True
    )
    problems = [
        f"{len(info[key])} {key.replace('_', ' ')}"
        for key in ("missing_keys", "mismatched_keys")
        if info[key]
    ]
    if problems:
        raise BundleError(f"the weights do not fit {type(encoder).__name__}: {'; '.join(problems)}")
    base = getattr(model, model.base_model_prefix)
    try:
        base.load_state_dict(encoder.state_dict(), strict=True)
    except RuntimeError as exc:
        raise BundleError(f"the pretrained encoder does not fit {type(model).__name__}: {exc}") from exc
    return model


def assign_parameters(model: torch.nn.Module, layers: dict[str, Any]) -> dict[str, int | None]:
    """Parameter name -> index of its layer group in params.yaml, or None for the classification head."""
    return runtime.assign_parameters(
        model, classifier=list(layers["classifier"]), groups=layers["groups"], part="encoder"
    )


# ---------------------------------------------------------------------------------------------------------------
# Strategy


def describe(model: torch.nn.Module, params: dict[str, Any], owner: dict[str, int | None], phases: list[Phase],
             from_scratch: bool) -> None:  # fmt: skip
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


def validate(model, tokenizer, samples, max_length, device, count) -> tuple[float, float, float]:
    """Loss, accuracy % and macro-F1 % on the validation examples."""
    logits = predict_logits(model, tokenizer, [text for text, _ in samples], max_length, device)
    labels = torch.tensor([label for _, label in samples])
    loss = F.cross_entropy(logits, labels).item()
    confusion = confusion_of(labels.tolist(), logits.argmax(dim=1).tolist(), count)
    accuracy, macro, _ = scores(confusion, [str(index) for index in range(count)])
    return loss, accuracy, macro


def train_epoch(model, tokenizer, samples, optimizer, scheduler, frozen, device, params, generator, description,
                progress) -> tuple[float, float]:  # fmt: skip
    train, max_length = params["train"], int(params["data"]["max_length"])
    set_train_mode(model, frozen)
    order = torch.randperm(len(samples), generator=generator).tolist()
    total_loss, correct, seen = 0.0, 0, 0
    steps = batches(samples, int(train["batch_size"]), order=order)
    bar = tqdm(steps, desc=description, leave=False, total=-(-len(samples) // int(train["batch_size"])),
               disable=None if progress else True)  # fmt: skip
    for texts, labels in bar:
        labels = labels.to(device)
        logits = model(**encode(tokenizer, texts, max_length, device)).logits
        loss = F.cross_entropy(logits, labels, label_smoothing=float(train["label_smoothing"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], float(train["clip_norm"])
        )
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += len(labels)
        bar.set_postfix(loss=f"{loss.item():.4f}")
    return total_loss / max(1, seen), 100.0 * correct / max(1, seen)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def remaining_time_estimate(first_epoch_seconds: float, total_epochs: int) -> str:
    """The time the remaining epochs take at the first epoch's pace, measured here with these texts."""
    remaining = first_epoch_seconds * (total_epochs - 1)
    return (
        f"first epoch took {first_epoch_seconds:.1f}s: about {_duration(remaining)} more for the remaining "
        f"{total_epochs - 1} epochs at this pace (early stopping may end sooner; a phase that unfreezes more "
        "layers takes longer per epoch)"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import AutoTokenizer

    params = load_params(overrides=args.overrides)
    train = params["train"]
    class_names, samples = read_prepared()
    if len(class_names) != int(params["target"]["num_classes"]):
        raise BundleError(
            f"prepared/classes.json has {len(class_names)} classes but target.num_classes is "
            f"{params['target']['num_classes']}: run `python prepare.py` again"
        )
    # The files are fetched and checked before anything is written (the baseline needs config and tokenizer).
    folder = fetch_pretrained(params, args.weights_dir, args.source)

    seed = int(train["seed"])
    device = resolve_device(str(train["device"]))
    seed_everything(seed, device)
    model = build_model(folder, class_names, pretrained=not args.from_scratch).to(device)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    max_length = int(params["data"]["max_length"])
    owner = assign_parameters(model, params["layers"])
    phases = plan_phases(train, params["layers"]["groups"], args.from_scratch)
    describe(model, params, owner, phases, args.from_scratch)
    print(
        f"device {device}; {len(samples['train'])} train and {len(samples['val'])} val texts; max_length {max_length}"
    )

    generator = torch.Generator().manual_seed(seed)
    total_epochs = sum(phase.epochs for phase in phases)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"accuracy": -1.0, "loss": math.inf, "macro_f1": 0.0, "epoch": 0, "state": None}
    stopped_early, epoch = False, 0
    started = time.perf_counter()
    for phase_index, phase in enumerate(phases):
        optimizer, frozen = configure_phase(model, owner, phase, params, args.from_scratch)
        per_epoch = -(-len(samples["train"]) // int(train["batch_size"]))
        scheduler = warmup_cosine(
            optimizer, phase.epochs * per_epoch, int(train["warmup_epochs"]) * per_epoch
        )
        stale = 0
        for _ in range(phase.epochs):
            epoch += 1
            description = f"epoch {epoch}/{total_epochs} [{phase.name}]"
            train_loss, train_accuracy = train_epoch(
                model, tokenizer, samples["train"], optimizer, scheduler, frozen, device, params, generator,
                description, not args.no_progress,
            )  # fmt: skip
            val_loss, val_accuracy, val_f1 = validate(
                model, tokenizer, samples["val"], max_length, device, len(class_names)
            )
            history.append(
                {"epoch": epoch, "phase": phase.name, "train_loss": round(train_loss, 4),
                 "train_accuracy": round(train_accuracy, 2), "val_loss": round(val_loss, 4),
                 "val_accuracy": val_accuracy, "val_macro_f1": val_f1}
            )  # fmt: skip
            improved = val_accuracy > best["accuracy"] or (
                val_accuracy == best["accuracy"] and val_loss < best["loss"]
            )
            if improved:
                state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
                best.update(accuracy=val_accuracy, loss=val_loss, macro_f1=val_f1, epoch=epoch, state=state)
                stale = 0
            else:
                stale += 1
            print(
                f"{description} train loss {train_loss:.4f} accuracy {train_accuracy:.2f} | val loss {val_loss:.4f} "
                f"accuracy {val_accuracy:.2f} macro-F1 {val_f1:.2f}{' *' if improved else ''}"
            )
            if epoch == 1 and total_epochs > 1:
                print(remaining_time_estimate(time.perf_counter() - started, total_epochs))
            patience = int(train["patience"])
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
    if checkpoint == "best" and best["state"] is not None:
        model.load_state_dict(best["state"])
    out_dir = args.output_dir
    model.save_pretrained(out_dir / MODEL_SUBDIR)
    tokenizer.save_pretrained(out_dir / MODEL_SUBDIR)
    seconds = time.perf_counter() - started
    # metrics.json holds only the numbers dvc compares, best val accuracy first: `dvc exp show` gives every key
    # a column, and a per-epoch history or a sha256 there would push accuracy off the screen.
    metrics = {
        "best_val_accuracy": best["accuracy"],
        "best_val_macro_f1": best["macro_f1"],
        "best_epoch": best["epoch"],
        "epochs_run": epoch,
    }
    report = {
        **metrics,
        "stopped_early": stopped_early,
        "saved": checkpoint,
        "strategy": "from_scratch" if args.from_scratch else train["strategy"],
        "from_scratch": bool(args.from_scratch),
        "max_length": max_length,
        "source_files_sha256": dict(params["model"]["files"]),
        "seconds": round(seconds, 1),
        "train_texts_per_second": round(len(samples["train"]) * epoch / seconds, 1) if seconds else None,
        "history": history,
    }
    write_json(out_dir / "metrics.json", metrics)
    write_json(out_dir / "train_report.json", report)
    print(
        f"best val accuracy {best['accuracy']:.2f} at epoch {best['epoch']} ({epoch} epochs, {seconds:.1f}s); "
        f"wrote {out_dir / MODEL_SUBDIR}"
    )
    evaluate = "python evaluate.py" + ("" if out_dir == OUTPUT_DIR else f" --model-dir {out_dir}")
    print(
        f"test accuracy: `{evaluate}` measures it (dvc repro runs it next) and writes {out_dir / 'eval_metrics.json'}"
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights-dir", type=Path, help="a local copy of the pretrained files (sha256 checked)"
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
