"""Catalog list latency as the catalog grows: 1,000, 10,000 and 20,000 entries in SQLite (or 100,000 on PostgreSQL).

Every entry carries about ten accuracy claims (top-1 and top-5 on five of timm's test sets), recorded and
summarised through the same service code import_timm uses. For each size (the same database grows from one to the
next) it prints, for every list the API and the pages serve, the median (p50) and p95 wall time of in-process
requests, the median CPU time of this process, and the ratio of each median to the unfiltered sorted API list at
that size; then the SQL queries per page at page sizes 1, 25 and 100. Goal: p50 under 30 ms and within 2x of the
unfiltered list. It prints measured figures; it asserts nothing about time.
Run: .venv/bin/python benchmarks/catalog_list.py [--sizes 1000,10000,20000] [--repeat 50] [--claims-per-entry 10]
     .venv/bin/python benchmarks/catalog_list.py --database-url postgres://postgres@127.0.0.1/depot_bench
(--database-url: a PostgreSQL database the script may drop and recreate; sizes then default to 1000,10000,100000.
--entries N is --sizes N. --reuse-database keeps what a previous run built there, migrated to this code, and
measures it, adding entries only up to a larger size: re-measuring 100,000 entries without building them again.)
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def recreate_postgres_database(url: str) -> None:
    """Drop and create the benchmark's own database, so each run starts from the same empty catalog."""
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(var_dir: str, database_url: str | None = None, *, reuse: bool = False) -> None:
    os.environ["DEPOT_VAR_DIR"] = var_dir
    if database_url:
        if not reuse:
            recreate_postgres_database(database_url)
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ["DEPOT_API_THROTTLE_ANON"] = "1000000/min"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


CLAIM_DATASETS = ("imagenet-1k", "imagenet-real", "imagenetv2-matched-frequency", "imagenet-sketch", "imagenet-a",
                  "imagenet-r")  # fmt: skip
FAMILIES = [
    "resnet",
    "vit",
    "convnext",
    "efficientnet",
    "mobilenetv3",
    "regnet",
    "deit",
    "swin",
    "bert",
    "wav2vec",
]
DOMAINS = ["vision"] * 8 + ["nlp", "audio"]


def populate(start: int, stop: int, claims_per_entry: int) -> None:
    """Add entries start..stop-1 (and their claims) through the bulk services; deterministic per index."""
    from catalog.models import AccuracyClaim, DatasetTop1Claim, ModelEntry
    from catalog.services import catalog_analyze, model_bulk_create, model_derived_refresh

    rng = random.Random(start)
    entries = []
    for index in range(start, stop):
        family = FAMILIES[index % len(FAMILIES)]
        entries.append(
            ModelEntry(
                namespace=rng.choice(["timm", "acme", "lab"]),
                name=f"{family}_{index:06d}.tag{index % 7}",
                title=f"{family} variant {index}",
                summary=f"A {family} model, variant {index}, pretrained on imagenet",
                domain=DOMAINS[index % len(DOMAINS)],
                task="image-classification",
                library="timm",
                license=rng.choice(["apache-2.0", "mit", "cc-by-4.0"]),
                pretrained_on="imagenet-1k",
                tags=f"{family},imagenet,bench",
                num_params=rng.randint(500_000, 300_000_000),
                weights_size_bytes=rng.randint(2_000_000, 1_200_000_000),
                gmacs=rng.uniform(0.05, 60),
            )
        )
    model_bulk_create(entries=entries)
    # (dataset, metric) pairs: top-1 and top-5 per test set, as many as asked for (10 = five test sets)
    kinds = [(dataset, metric) for dataset in CLAIM_DATASETS for metric in ("top1", "top5")][
        :claims_per_entry
    ]
    pks = list(ModelEntry.objects.filter(pk__in=[e.pk for e in entries]).values_list("pk", flat=True))
    if not pks:  # a database backend that does not return ids from bulk_create
        pks = list(ModelEntry.objects.order_by("-pk").values_list("pk", flat=True)[: stop - start])
    claims = [
        AccuracyClaim(
            model_id=pk, dataset=dataset, split="validation", metric=metric, source="results-table",
            # ImageNet-1k top-1 is the headline (55-90%); the harder sets lower, top-5 higher
            value=min(99.0, base - drop + (10 if metric == "top5" else 0)),
        )
        for pk in pks
        for base in [rng.uniform(55, 90)]
        for index, (dataset, metric) in enumerate(kinds)
        for drop in [0 if index < 2 else rng.uniform(0, 50)]
    ]  # fmt: skip
    AccuracyClaim.objects.bulk_create(claims, batch_size=5000)
    for first in range(0, len(pks), 5000):
        model_derived_refresh(model_ids=pks[first : first + 5000])
    # One entry in five is measured by the hub; the bench has no runs, so it sets the columns a run would.
    # Lists rank on ImageNet-1k by default, so its columns and claim row carry the measurement too.
    ModelEntry.objects.filter(pk__in=pks[::5]).update(
        verified_top1=70.0, in1k_verified_top1=70.0, verification="verified"
    )
    DatasetTop1Claim.objects.filter(model_id__in=pks[::5], dataset="imagenet-1k").update(verified_value=70.0)
    catalog_analyze()
    vacuum()


def vacuum() -> None:
    """PostgreSQL: what autovacuum does soon after a bulk load (visibility map for index-only scans)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


QUERY = "domain=vision&search=resnet&params_max=100M&min_top1=70&ordering=-claimed_top1"
CLAIM_QUERY = "claim_dataset=imagenet-sketch&params_max=30M&min_claim=40&ordering=-claim"
UNFILTERED = "API  unfiltered, sorted"
VARIANTS = (
    ("API  filtered+searched+sorted", f"/api/v1/models/?{QUERY}"),
    (UNFILTERED, "/api/v1/models/?ordering=-num_params"),
    ("API  searched only", "/api/v1/models/?search=resnet"),
    ("API  searched, two words", "/api/v1/models/?search=resnet%20imagenet&ordering=-downloads"),
    ("API  claim on a test set", f"/api/v1/models/?{CLAIM_QUERY}"),
    ("API  all with that claim", "/api/v1/models/?claim_dataset=imagenet-sketch&ordering=-claim"),
    ("API  min_top1", "/api/v1/models/?min_top1=80&ordering=-claimed_top1"),
    ("API  verified", "/api/v1/models/?verified=true&ordering=-verified_top1"),
    ("page /  unfiltered", "/"),
    ("page /  filtered", f"/?{QUERY}"),
    ("page /  domain facet only", "/?domain=nlp&ordering=-downloads"),
    ("page /  claim on a test set", f"/?{CLAIM_QUERY}"),
    ("plot /plot.svg (beside /)", f"/plot.svg?{QUERY}"),
)


def time_requests(client, url: str, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per request. On a shared, loaded machine the wall time includes waiting
    for a core; the CPU time of this process is what the request itself costs (the database's is not in it)."""
    client.get(url)  # warm caches (templates, query plans)
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return wall, cpu


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def measure(client, repeat: int) -> dict[str, tuple[float, float, float]]:
    """label -> (p50, p95, CPU p50) in ms. Variants interleave round by round, so a burst of load elsewhere on
    the machine hits them all alike and the ratios stay fair."""
    walls: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    cpus: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    rounds = 5
    for _ in range(rounds):
        for label, url in VARIANTS:
            wall, cpu = time_requests(client, url, max(1, repeat // rounds))
            walls[label] += wall
            cpus[label] += cpu
    return {
        label: (statistics.median(walls[label]), p95(walls[label]), statistics.median(cpus[label]))
        for label, _ in VARIANTS
    }


def print_table(size: int, results: dict[str, tuple[float, float, float]], count_summary: str) -> None:
    base = results[UNFILTERED][0]
    print(f"\n{size:,} entries ({count_summary})")
    print(f"  {'variant':31s} {'p50 ms':>7s} {'p95 ms':>7s} {'CPU p50':>8s} {'x unfiltered':>12s}  goal")
    for label, (median, tail, cpu) in results.items():
        ratio = median / base if base else float("nan")
        verdict = "OK" if median < 30 and ratio <= 2 else ("< 30 ms" if median < 30 else "SLOW")
        print(f"  {label:31s} {median:7.1f} {tail:7.1f} {cpu:8.1f} {ratio:12.2f}  {verdict}")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def print_query_counts(client) -> None:
    sizes = (1, 25, 100)
    print(f"\nSQL queries per request at page_size {', '.join(map(str, sizes))} (the pages show 25):")
    for label, url in VARIANTS:
        if url.startswith("/api/"):
            counts = [count_queries(client, f"{url}&page_size={size}") for size in sizes]
            print(f"  {label:31s} " + ", ".join(str(count) for count in counts))
        else:
            print(f"  {label:31s} {count_queries(client, url)}")


def parse_sizes(args: argparse.Namespace) -> list[int]:
    if args.entries:
        return [args.entries]
    if args.sizes:
        return sorted(int(size) for size in args.sizes.split(","))
    return [1_000, 10_000, 100_000] if args.database_url else [1_000, 10_000, 20_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", help="comma-separated catalog sizes, grown in one database")
    parser.add_argument("--entries", type=int, help="one size only (same as --sizes N)")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--claims-per-entry", type=int, default=10)
    parser.add_argument(
        "--database-url", help="a PostgreSQL database to (re)create and use instead of SQLite"
    )
    parser.add_argument(
        "--reuse-database",
        action="store_true",
        help="with --database-url: keep the entries a previous run left there (migrated to this code) and only "
        "add what a size needs beyond them; for re-measuring one size without rebuilding it",
    )
    args = parser.parse_args()
    sizes = parse_sizes(args)
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir, args.database_url, reuse=args.reuse_database)
        from django.test import Client

        from catalog.models import AccuracyClaim, DatasetTop1Claim, ModelEntry
        from hub.pagination import EXACT_COUNT_LIMIT

        client = Client(HTTP_HOST="127.0.0.1")  # an allowed host (testserver is not, outside tests)
        engine = "PostgreSQL" if args.database_url else "SQLite (WAL)"
        print(
            f"{engine}, in-process, {args.repeat} requests per variant and size; counts exact up to "
            f"{EXACT_COUNT_LIMIT:,}; 'x unfiltered' is p50 over the unfiltered sorted API list's p50"
        )
        built = ModelEntry.objects.count()
        for size in sizes:
            started = time.perf_counter()
            if size > built:
                populate(built, size, args.claims_per_entry)
                built = size
            elif size < built:
                print(f"\n(the database holds {built:,} entries: measuring those, not {size:,})")
            summary = (
                f"{AccuracyClaim.objects.count():,} claims, {DatasetTop1Claim.objects.count():,} per-dataset "
                f"top-1 rows; grown in {time.perf_counter() - started:.0f} s"
            )
            print_table(size, measure(client, args.repeat), summary)
        print_query_counts(client)


if __name__ == "__main__":
    main()
