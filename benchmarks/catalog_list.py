"""Catalog list latency at 20,000 entries in SQLite (or 100,000 on PostgreSQL), in-process, median of many requests.

Prints the median and p95 time of a filtered, searched and sorted list through the REST API and through the
HTML catalog page, and the SQL query count per page at several page sizes. Goal: median under 30 ms.
Run: .venv/bin/python benchmarks/catalog_list.py [--entries 20000] [--repeat 50]
     .venv/bin/python benchmarks/catalog_list.py --entries 100000 --database-url postgres://postgres@127.0.0.1/depot_bench
(--database-url: a PostgreSQL database the script may drop and recreate; it is emptied first.)
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
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def setup_django(var_dir: str, database_url: str | None = None) -> None:
    os.environ["DEPOT_VAR_DIR"] = var_dir
    if database_url:
        recreate_postgres_database(database_url)
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ["DEPOT_API_THROTTLE_ANON"] = "1000000/min"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def populate(entries: int) -> None:
    from catalog.models import AccuracyClaim, ModelEntry
    from catalog.services import catalog_analyze

    rng = random.Random(0)
    families = [
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
    domains = ["vision"] * 8 + ["nlp", "audio"]
    rows = []
    for index in range(entries):
        family = families[index % len(families)]
        rows.append(
            ModelEntry(
                namespace=rng.choice(["timm", "acme", "lab"]),
                name=f"{family}_{index:05d}.tag{index % 7}",
                title=f"{family} variant {index}",
                summary=f"A {family} model, variant {index}, pretrained on imagenet",
                domain=domains[index % len(domains)],
                task="image-classification",
                library="timm",
                license=rng.choice(["apache-2.0", "mit", "cc-by-4.0"]),
                pretrained_on="imagenet-1k",
                tags=f"{family},imagenet,bench",
                num_params=rng.randint(500_000, 300_000_000),
                weights_size_bytes=rng.randint(2_000_000, 1_200_000_000),
                gmacs=rng.uniform(0.05, 60),
                claimed_top1=rng.uniform(55, 90),
                verified_top1=rng.uniform(55, 90) if index % 5 == 0 else None,
            )
        )
    for row in rows:
        row.search_text = row.build_search_text()
    ModelEntry.objects.bulk_create(rows, batch_size=2000)
    claims = [
        AccuracyClaim(
            model_id=pk, dataset="imagenet-1k", split="validation", metric="top1", value=rng.uniform(55, 90)
        )
        for pk in ModelEntry.objects.values_list("pk", flat=True)
    ]
    AccuracyClaim.objects.bulk_create(claims, batch_size=2000)
    catalog_analyze()


def time_requests(client, url: str, repeat: int) -> list[float]:
    client.get(url)  # warm caches (templates, query plans)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return samples


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument(
        "--database-url", help="a PostgreSQL database to (re)create and use instead of SQLite"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir, args.database_url)
        populate(args.entries)
        from django.test import Client

        client = Client()
        query = "domain=vision&search=resnet&params_max=100M&min_top1=70&ordering=-claimed_top1"
        engine = "PostgreSQL" if args.database_url else "SQLite (WAL)"
        print(f"catalog of {args.entries} entries, {engine}, in-process, {args.repeat} requests each")
        for label, url in (
            ("API  /api/v1/models/", f"/api/v1/models/?{query}&page_size=25"),
            ("API  unfiltered, sorted", "/api/v1/models/?ordering=-num_params&page_size=25"),
            ("page /", f"/?{query}"),
            ("plot /plot.svg (loads beside /)", f"/plot.svg?{query}"),
        ):
            samples = time_requests(client, url, args.repeat)
            median = statistics.median(samples)
            p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
            verdict = "OK" if median < 30 else "SLOW"
            print(f"{label:28s} p50 {median:6.1f} ms  p95 {p95:6.1f} ms  goal < 30 ms p50: {verdict}")
        sizes = (1, 25, 100)
        counts = [count_queries(client, f"/api/v1/models/?{query}&page_size={size}") for size in sizes]
        print(
            "SQL queries per API page at page_size "
            + ", ".join(f"{s}: {c}" for s, c in zip(sizes, counts, strict=True))
        )


if __name__ == "__main__":
    main()
