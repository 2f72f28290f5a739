"""Leaderboard latency as the catalog grows, on catalog_list.py's synthetic catalog (about ten claims an entry).

Entries get one of ARCHITECTURES architectures, each with published speeds on both of timm's tables (at two
image sizes, so the nearest-size rule has work to do); one entry in fifty is measured by the hub on ImageNet-1k
(a succeeded run on its current weights), so the verified column sorts over real rows. For each size it prints
p50/p95 wall time, CPU p50 and the ratio to the unfiltered sorted catalog API list, then the SQL queries per
request. It prints measured figures; it asserts nothing about time.
Run: .venv/bin/python benchmarks/leaderboard.py [--sizes 1000,20000] [--repeat 20]
     .venv/bin/python benchmarks/leaderboard.py --database-url postgres://postgres@127.0.0.1/depot_bench
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.catalog_list import count_queries, p95, populate, setup_django, time_requests, vacuum

ARCHITECTURES = 500
BASELINE = "API  catalog list, sorted"
VARIANTS = (
    (BASELINE, "/api/v1/models/?ordering=-num_params"),
    ("page  default (-top1, plot)", "/leaderboard/"),
    ("page  sort=params", "/leaderboard/imagenet-1k/?sort=params"),
    ("page  sort=-top5", "/leaderboard/imagenet-1k/?sort=-top5"),
    ("page  sort=-verified", "/leaderboard/imagenet-1k/?sort=-verified"),
    ("page  sort=-gpu_speed, x=gpu", "/leaderboard/imagenet-1k/?sort=-gpu_speed&x=gpu_speed"),
    ("page  filtered (search+params)", "/leaderboard/imagenet-sketch/?search=resnet&params_max=30M"),
    ("CSV   default", "/leaderboard/imagenet-1k.csv"),
    ("API   JSON default", "/api/v1/leaderboard/imagenet-1k/"),
    ("API   JSON page 30", "/api/v1/leaderboard/imagenet-1k/?page=30"),
)


def add_speeds_and_runs(start: int, stop: int) -> None:
    """Architectures, their published speeds and a few measured entries, for entries start..stop-1."""
    from django.utils import timezone

    from catalog.models import ModelEntry, SpeedClaim, WeightsFile
    from core.timm_results import SPEED_TABLES
    from evaluation.models import BenchmarkRun, EvalDataset, RunStatus

    pks = list(ModelEntry.objects.order_by("pk").values_list("pk", flat=True)[start:stop])
    for number in range(ARCHITECTURES):
        ModelEntry.objects.filter(pk__in=pks[number::ARCHITECTURES]).update(
            architecture=f"arch{number}", input_size=[3, 224, 224]
        )
    if start == 0:
        SpeedClaim.objects.bulk_create(
            SpeedClaim(
                architecture=f"arch{number}", device=table.device, hardware=table.hardware,
                precision=table.precision, torch_version=table.torch_version,
                samples_per_sec=100.0 + (number * 37 + size) % 5000, batch_size=256, img_size=size,
            )
            for number in range(ARCHITECTURES)
            for table in SPEED_TABLES
            for size in (224, 288)
        )  # fmt: skip
    dataset, _ = EvalDataset.objects.get_or_create(
        name="imagenet-1k", defaults={"kind": "directory", "root": "/nonexistent"}
    )
    for pk in pks[::50]:
        weights = WeightsFile.objects.create(
            sha256=f"{pk:064d}", file=f"w/{pk}", size_bytes=1, tensor_count=1
        )
        ModelEntry.objects.filter(pk=pk).update(weights=weights)
        BenchmarkRun.objects.create(
            model_id=pk, dataset=dataset, split="validation", status=RunStatus.SUCCEEDED, config_key="k",
            weights_sha256=weights.sha256, dataset_hash="h", top1=50.0 + pk % 40, finished=timezone.now(),
        )  # fmt: skip
    vacuum()


def measure(client, repeat: int) -> dict[str, tuple[float, float, float]]:
    walls = {label: [] for label, _ in VARIANTS}
    cpus = {label: [] for label, _ in VARIANTS}
    rounds = 5
    for _ in range(rounds):  # interleaved, so a burst of load elsewhere hits every variant alike
        for label, url in VARIANTS:
            wall, cpu = time_requests(client, url, max(1, repeat // rounds))
            walls[label] += wall
            cpus[label] += cpu
    return {
        label: (statistics.median(walls[label]), p95(walls[label]), statistics.median(cpus[label]))
        for label, _ in VARIANTS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size] or (
        [1_000, 100_000] if args.database_url else [1_000, 20_000]
    )
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir, args.database_url)
        from django.test import Client

        client = Client(HTTP_HOST="127.0.0.1")  # testserver is not an allowed host outside tests
        print(
            f"{'PostgreSQL' if args.database_url else 'SQLite (WAL)'}, in-process, {args.repeat} requests each"
        )
        built = 0
        for size in sorted(sizes):
            started = time.perf_counter()
            populate(built, size, 10)
            add_speeds_and_runs(built, size)
            built = size
            results = measure(client, args.repeat)
            base = results[BASELINE][0]
            print(f"\n{size:,} entries (grown in {time.perf_counter() - started:.0f} s)")
            print(
                f"  {'variant':32s} {'p50 ms':>7s} {'p95 ms':>7s} {'CPU p50':>8s} {'x list':>7s} {'queries':>8s}"
            )
            for label, url in VARIANTS:
                median, tail, cpu = results[label]
                queries = count_queries(client, url)
                print(f"  {label:32s} {median:7.1f} {tail:7.1f} {cpu:8.1f} {median / base:7.2f} {queries:8d}")


if __name__ == "__main__":
    main()
