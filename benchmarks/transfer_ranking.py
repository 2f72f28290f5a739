"""Does the hub's transfer ranking predict fine-tuning? And how long does ranking take?

1. Trains the demo catalog's source models on digits 0-4 (demo/training.py), plus two of genuinely
   different transfer quality: the same resnet10t after a single epoch, and one never trained (random weights).
2. Target task: all ten digits with few labels (--train-per-class, --val-per-class). The hub ranks every
   candidate on those labelled images (core/transfer: frozen features, LogME, k-NN, linear probe).
3. Fine-tunes every candidate with the starter bundle's own code (core/starter/template: prepare.py, train.py,
   evaluate.py, imported from each unpacked bundle and called) on one budget, measured on the 359 test images.
4. Prints both rankings and Kendall's tau between each estimator and the fine-tuned top-1 (goal >= 0.6), then the
   time to rank five candidates on a 500-image target set, from-scratch baseline included (goal < 60 s).
Run: .venv/bin/python benchmarks/transfer_ranking.py [--work-dir var/bench-transfer] [--seeds 0 1]
"""

import argparse
import hashlib
import importlib
import io
import json
import shutil
import sys
import time
import zipfile
from argparse import Namespace
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from scipy.stats import kendalltau

from core import harness
from core.datasets import build_digits_imagefolder, dataset_content_hash
from core.starter import ModelRecord, TargetConfig, build_bundle
from core.transfer.ranking import Candidate, RankingConfig, rank_candidates
from demo.training import DEMO_MODEL_SPECS, DemoModelSpec, demo_spec, train_demo_model

DIGITS = [str(digit) for digit in range(10)]
# Candidates beyond the demo catalog, so the comparison spans good, weak and useless source models.
EXTRA_SPECS = (
    replace(
        demo_spec("digits-resnet10t"), slug="digits-resnet10t-1epoch", epochs=1, title="resnet10t, 1 epoch"
    ),
    replace(
        demo_spec("digits-resnet10t"),
        slug="digits-resnet10t-untrained",
        epochs=1,
        lr=1e-9,
        title="resnet10t, untrained",
    ),
)
BUNDLE_MODULES = ("common", "prepare", "train", "evaluate")


@dataclass(frozen=True)
class SourceModel:
    """A trained candidate as the benchmark needs it (from train_demo_model, or its directory on a rerun)."""

    spec: DemoModelSpec
    config: dict
    weights_path: Path
    weights_sha256: str


def train_candidates(digits_root: Path, work: Path) -> list[SourceModel]:
    """Train every candidate once; a rerun with the same work dir reuses the written model directories."""
    models = []
    for spec in (*DEMO_MODEL_SPECS, *EXTRA_SPECS):
        out_dir = work / "models" / spec.slug
        done = out_dir / ".complete"
        if not done.exists():
            started = time.perf_counter()
            result = train_demo_model(spec, data_root=digits_root, out_dir=out_dir, seed=0)
            print(f"  source model {spec.repo_id}: {time.perf_counter() - started:.1f}s, digits 0-4 test top-1 "
                  f"{result.accuracy['test']:.1f}%")  # fmt: skip
            done.write_text(json.dumps(result.accuracy))
        weights = out_dir / "model.safetensors"
        config = json.loads((out_dir / "config.json").read_text())
        models.append(SourceModel(spec, config, weights, hashlib.sha256(weights.read_bytes()).hexdigest()))
    return models


def model_args(result) -> dict:
    # timm's exported config repeats num_classes in model_args; it is passed on its own.
    return {k: v for k, v in (result.config.get("model_args") or {}).items() if k != "num_classes"}


def model_source(result) -> harness.ModelSource:
    config = result.config
    return harness.ModelSource(
        architecture=config["architecture"], num_classes=config["num_classes"], model_args=model_args(result),
        weights_path=result.weights_path, weights_sha256=result.weights_sha256,
        pretrained_cfg=config["pretrained_cfg"], label_names=list(config["label_names"]),
    )  # fmt: skip


def record(result) -> ModelRecord:
    cfg = result.config["pretrained_cfg"]
    return ModelRecord(
        model_id=result.spec.repo_id, architecture=result.config["architecture"],
        model_args=model_args(result), num_classes=result.config["num_classes"],
        label_names=result.config["label_names"], input_size=tuple(cfg["input_size"]), mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]), interpolation=cfg["interpolation"], crop_pct=cfg["crop_pct"],
        crop_mode=cfg["crop_mode"], license="cc-by-4.0", title=result.spec.title, summary=result.spec.summary,
        pretrained_on="digits-0-4", weights_sha256=result.weights_sha256, revision="0" * 40,
        hub_url="http://127.0.0.1:9", hf_repo_id="", hf_revision="",
    )  # fmt: skip


def copy_split(source: Path, destination: Path, per_class: int | None, skip: int = 0) -> None:
    for digit in DIGITS:
        files = sorted((source / digit).glob("*.png"))[skip:]
        (destination / digit).mkdir(parents=True, exist_ok=True)
        for path in files if per_class is None else files[:per_class]:
            shutil.copy(path, destination / digit / path.name)


def import_bundle(project: Path) -> dict:
    """The unpacked bundle's own modules (they import each other by plain name, from their directory)."""
    for name in BUNDLE_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(project))
    try:
        return {name: importlib.import_module(name) for name in BUNDLE_MODULES}
    finally:
        sys.path.remove(str(project))


def fine_tune(result, target: TargetConfig, data: Path, project: Path) -> float:
    """Build the bundle, drop in the data, run the bundle's prepare, train and evaluate; test top-1 %."""
    shutil.rmtree(project, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(build_bundle(record(result), target))) as archive:
        archive.extractall(project)
    shutil.copytree(data, project / "data", dirs_exist_ok=True)
    bundle = import_bundle(project)
    bundle["prepare"].main([])
    overrides = ["train.hflip=0"]  # mirrored digits are other digits
    args = Namespace(weights=result.weights_path, source="hub", from_scratch=False,
                     output_dir=project / "outputs", overrides=overrides, no_progress=True)  # fmt: skip
    bundle["train"].run(args)
    bundle["evaluate"].main(["--model-dir", str(project / "outputs")])
    metrics = json.loads((project / "outputs" / "eval_metrics.json").read_text())
    return float(metrics["top1"])


def digits_source(root: Path, name: str) -> harness.DatasetSource:
    return harness.DatasetSource(
        name=name, split="labelled", root=root, content_hash=dataset_content_hash(root)
    )


def print_rankings(ranking, fine_tuned: dict[str, float]) -> None:
    rows = [row for row in ranking.candidates if row.score is not None]
    print(f"\nhub ranking (score = linear probe CV top-1 on {ranking.num_images} labelled images):")
    print(f"  {'rank':>4}  {'model':<32} {'probe %':>8} {'k-NN %':>7} {'LogME':>8} {'seconds':>7}")
    for row in rows:
        print(f"  {row.rank:>4}  {row.model_id:<32} {row.linear_probe:8.1f} {row.knn:7.1f} {row.logme:8.3f} "
              f"{row.seconds:7.1f}")  # fmt: skip
    if ranking.baseline is not None:
        print(f"  from-scratch baseline (small CNN, same folds): {ranking.baseline.accuracy:.1f}%"
              f"{'  NEGATIVE TRANSFER' if ranking.negative_transfer else ''}")  # fmt: skip
    print("\nfine-tuned ranking (starter bundle train.py, same budget; top-1 on the 359 test images):")
    for place, (model_id, top1) in enumerate(sorted(fine_tuned.items(), key=lambda item: -item[1]), start=1):
        print(f"  {place:>4}  {model_id:<32} {top1:8.2f}")
    truth = [fine_tuned[row.model_id] for row in rows]
    print("\nKendall's tau against the fine-tuned top-1 (goal >= 0.6):")
    for estimator in ("linear_probe", "knn", "logme"):
        tau = kendalltau([getattr(row, estimator) for row in rows], truth).statistic
        print(
            f"  {estimator:<13} tau = {tau:+.3f}{'   <- the ranking score' if estimator == 'linear_probe' else ''}"
        )


def time_five(digits_root: Path, work: Path, results: list, threads: int) -> None:
    target = work / "target-500"
    shutil.rmtree(target, ignore_errors=True)
    copy_split(digits_root / "train", target, 50)
    candidates = [Candidate(r.spec.repo_id, model_source(r)) for r in results[:5]]
    started = time.perf_counter()
    ranking = rank_candidates(candidates, digits_source(target, "digits-500"), RankingConfig(threads=threads))
    seconds = time.perf_counter() - started
    print(f"\nranking {len(candidates)} candidates on {ranking.num_images} images, from-scratch baseline included: "
          f"{seconds:.1f} s (goal < 60 s; threads {threads}; baseline {ranking.baseline.seconds:.1f} s)")  # fmt: skip
    for row in ranking.candidates:
        print(
            f"  {row.model_id:<32} {row.seconds:5.1f} s  features {row.feature_dim}  latency {row.latency_ms:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=Path("var/bench-transfer"))
    parser.add_argument("--train-per-class", type=int, default=10)
    parser.add_argument("--val-per-class", type=int, default=10)
    # 30 epochs of 7 batches: enough for the new head and the unfrozen layers to converge. At 6 epochs (42 steps)
    # no model had converged, so the fine-tuned order measured how fast each one trains, not how well it transfers.
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr-head", type=float, default=3e-3)
    parser.add_argument("--lr-backbone", type=float, default=3e-4)
    parser.add_argument("--strategy", default="freeze_then_unfreeze")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--skip-timing", action="store_true", help="skip the five-candidates timing")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work_dir.resolve()
    digits_root = build_digits_imagefolder(work / "digits").root

    print("training the candidates on the source task (digits 0-4):")
    results = train_candidates(digits_root, work)

    data = work / "target-data"
    shutil.rmtree(data, ignore_errors=True)
    copy_split(digits_root / "train", data / "train", args.train_per_class)
    copy_split(digits_root / "val", data / "val", args.val_per_class)
    copy_split(digits_root / "test", data / "test", None)
    labelled = work / "target-labelled"  # what the user has labelled: train and val together
    shutil.rmtree(labelled, ignore_errors=True)
    copy_split(data / "train", labelled, None)
    copy_split(data / "val", labelled, None)

    candidates = [Candidate(r.spec.repo_id, model_source(r)) for r in results]
    ranking = rank_candidates(
        candidates, digits_source(labelled, "digits-few-labels"), RankingConfig(threads=args.threads)
    )

    fine_tuned: dict[str, float] = {}
    for result in results:
        scores = []
        for seed in args.seeds:
            target = TargetConfig(
                num_classes=10, strategy=args.strategy, epochs=args.epochs, batch_size=16, lr_head=args.lr_head,
                lr_backbone=args.lr_backbone, augmentation="none", seed=seed, device="cpu",
            )  # fmt: skip
            started = time.perf_counter()
            scores.append(fine_tune(result, target, data, work / "projects" / result.spec.slug))
            print(f"  fine-tuned {result.spec.repo_id} seed {seed}: top-1 {scores[-1]:.2f}% "
                  f"({time.perf_counter() - started:.1f}s)")  # fmt: skip
        fine_tuned[result.spec.repo_id] = float(np.mean(scores))

    print_rankings(ranking, fine_tuned)
    if not args.skip_timing:
        time_five(digits_root, work, results, args.threads)


if __name__ == "__main__":
    main()
