"""Benchmark-harness overhead: the harness's images/s against the bare forward pass, in one run.

Builds the digits ImageFolder (32x32 PNGs) in a temporary folder and a small timm model with random weights
saved as safetensors, then alternates, `--repeats` times:
  raw      the model's forward pass alone over the split's images, already decoded and transformed
           (same model, batch size and torch threads);
  harness  evaluate_model over the same split: decoding, transforms, batching and the forward pass.
Prints the median images/s of each and their ratio, for each --workers value. Goal: harness / raw >= 0.90.
Alternating the two, and taking medians, keeps a busy machine from favouring one side.
Run: .venv/bin/python benchmarks/harness.py [--arch resnet10t] [--threads 1] [--workers 0,1]
"""

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import safetensors.torch
import timm
import torch

from core.datasets import build_digits_imagefolder
from core.harness import (
    DatasetSource,
    HarnessConfig,
    ModelSource,
    build_model,
    create_eval_transform,
    evaluate_model,
    load_image,
    resolve_preprocessing,
)
from core.imagefolder import scan_imagefolder

GOAL = 0.90
PRETRAINED_CFG = {
    "input_size": (3, 32, 32),
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "interpolation": "bilinear",
    "crop_pct": 0.875,
    "crop_mode": "center",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="resnet10t", help="timm architecture (random weights)")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, both sides")
    parser.add_argument(
        "--workers",
        default="0,1",
        help="the harness's data-loader workers: one harness run per value, comma-separated",
    )
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def make_model_source(arch: str, folder: Path) -> ModelSource:
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=10)
    path = folder / f"{arch}.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    return ModelSource(
        architecture=arch,
        num_classes=10,
        model_args={},
        weights_path=path,
        weights_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        pretrained_cfg=PRETRAINED_CFG,
        label_names=[],
    )


def pretransformed_batches(source: ModelSource, split_dir: Path, batch_size: int) -> list[torch.Tensor]:
    """The split's images decoded and transformed exactly as the harness does, batched in the same order."""
    model = build_model(source)
    transform = create_eval_transform(resolve_preprocessing(source, model))
    tensors = [transform(load_image(path)) for path, _ in scan_imagefolder(split_dir).samples]
    return [torch.stack(tensors[i : i + batch_size]) for i in range(0, len(tensors), batch_size)]


def raw_ips(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    with torch.inference_mode():
        model(batches[0])  # warm-up: first calls pay for allocations and kernel selection
        start = time.perf_counter()
        for batch in batches:
            model(batch)
        elapsed = time.perf_counter() - start
    return sum(len(b) for b in batches) / elapsed


def report(raw: list[float], harness: dict[int, list[float]]) -> None:
    raw_median = statistics.median(raw)
    print(f"raw forward           : {raw_median:8.1f} img/s (median)")
    for workers, values in harness.items():
        ratio = statistics.median(values) / raw_median
        verdict = "met" if ratio >= GOAL else "NOT met"
        print(
            f"harness, {workers} worker(s) : {statistics.median(values):8.1f} img/s (median)   "
            f"ratio {ratio:.3f} (goal >= {GOAL:.2f}: {verdict})"
        )


def main() -> None:
    args = parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="depot-bench-") as tmp:
        folder = Path(tmp)
        digits = build_digits_imagefolder(folder / "digits")
        split_dir = digits.root / args.split
        source = make_model_source(args.arch, folder)
        dataset = DatasetSource(
            name="digits", split=args.split, root=split_dir, content_hash=digits.content_hash
        )
        model = build_model(source)
        batches = pretransformed_batches(source, split_dir, args.batch_size)
        images = sum(len(b) for b in batches)
        print(
            f"{args.arch} at 32x32, {images} images ({args.split}), batch {args.batch_size}, "
            f"{args.threads} torch thread(s); {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        raw: list[float] = []
        harness: dict[int, list[float]] = {w: [] for w in worker_counts}
        for repeat in range(1, args.repeats + 1):
            raw.append(raw_ips(model, batches))
            line = f"  repeat {repeat}: raw {raw[-1]:7.1f}"
            for workers in worker_counts:
                config = HarnessConfig(
                    batch_size=args.batch_size, num_workers=workers, threads=args.threads, latency_samples=0
                )
                ips = evaluate_model(source, dataset, config).throughput_ips
                harness[workers].append(ips)
                line += f"   harness/{workers}w {ips:7.1f} ({ips / raw[-1]:.2f})"
            print(line + "  img/s")
    report(raw, harness)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (busy cores slow the side that needs two)")


if __name__ == "__main__":
    main()
