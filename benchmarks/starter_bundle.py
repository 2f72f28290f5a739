"""Starter bundle build time: median (and p95) over many builds, in-process, plus the bundle size.

The first build of an architecture inspects it with timm on the meta device (then cached); the rest render
the templates and write the zip. Goal: well under a second per bundle (warm).
Run: .venv/bin/python benchmarks/starter_bundle.py [--builds 20] [--architecture resnet10t]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.starter import ModelRecord, TargetConfig, build_bundle, bundle_cache_key


def demo_record(architecture: str) -> ModelRecord:
    return ModelRecord(
        model_id=f"bench/{architecture}",
        architecture=architecture,
        model_args={},
        num_classes=1000,
        label_names=[],
        input_size=(3, 224, 224),
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        interpolation="bicubic",
        crop_pct=0.875,
        crop_mode="center",
        license="apache-2.0",
        title=f"{architecture} (benchmark)",
        summary="A benchmark record.",
        pretrained_on="imagenet-1k",
        weights_sha256="0" * 64,
        revision="1" * 40,
        hub_url="http://127.0.0.1:8000",
        hf_repo_id=f"timm/{architecture}",
        hf_revision="main",
        claims=[
            {"dataset": "imagenet-1k", "split": "val", "metric": "top1", "value": 80.0, "source": "card"}
        ],
        verified=[],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--builds", type=int, default=20)
    parser.add_argument("--architecture", default="resnet10t")
    args = parser.parse_args()

    started = time.perf_counter()
    import timm  # noqa: F401  (a server imports it once, at start)

    imports = time.perf_counter() - started
    record = demo_record(args.architecture)
    started = time.perf_counter()
    first = build_bundle(record, TargetConfig(num_classes=10))
    cold = time.perf_counter() - started

    times, size = [], len(first)
    for index in range(args.builds):
        # A different target each time, so nothing but the architecture inspection is reused.
        target = TargetConfig(num_classes=10 + index, seed=index)
        started = time.perf_counter()
        data = build_bundle(record, target)
        times.append(time.perf_counter() - started)
        size = len(data)
    started = time.perf_counter()
    bundle_cache_key(record, TargetConfig(num_classes=10))
    key_time = time.perf_counter() - started

    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"architecture {args.architecture}: {args.builds} builds")
    print(f"importing torch and timm (once per process): {imports * 1000:.0f} ms")
    print(f"first build (inspects the architecture on the meta device): {cold * 1000:.1f} ms")
    print(f"median build: {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    print(f"cache key: {key_time * 1000:.2f} ms")
    print(f"bundle size: {size:,} bytes ({size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
