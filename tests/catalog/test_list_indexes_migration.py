"""Migrations 0003 and 0004 (PostgreSQL-only list indexes): a no-op on SQLite, the indexes on PostgreSQL,
reversible, and still successful where the role may not create the pg_trgm extension (0003's trigram index,
which 0004 replaces by the word search's tsvector column and GIN index, is then skipped)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ORDERING_INDEXES = 16  # eight orderings, both directions
TRIGRAM_INDEX = "catalog_modelentry_search_trgm"
SEARCH_INDEX = "catalog_me_search_vector"  # 0004
CLAIM_DESC_INDEX = "catalog_dtc_dataset_value_desc"  # 0004, on catalog_datasettop1claim
CLAIM_PROBE_INDEX = "catalog_dtc_model_dataset_value"  # 0004, on catalog_datasettop1claim


def test_sqlite_migrates_without_the_postgresql_indexes(db):
    if connection.vendor != "sqlite":
        pytest.skip("checks the SQLite test database")
    with connection.cursor() as cursor:
        names = {index for index in connection.introspection.get_constraints(cursor, "catalog_modelentry")}
    assert not {name for name in names if name.startswith("catalog_me_") or name == TRIGRAM_INDEX}
    assert "unique_model_id" in names  # the table itself is there, migrated through 0004


def _admin_url(url: str, *, user: str | None = None, database: str = "postgres") -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.hostname}:{parts.port or 5432}"
    return parts._replace(scheme="postgresql", netloc=netloc, path=f"/{database}").geturl()


def _migrate(url: str, tmp_path: Path, *target: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DEPOT_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "migrate", *target, "-v", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _list_indexes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes "
            "WHERE tablename IN ('catalog_modelentry', 'catalog_datasettop1claim')"
        ).fetchall()
    ours = (TRIGRAM_INDEX, SEARCH_INDEX, CLAIM_DESC_INDEX, CLAIM_PROBE_INDEX)
    return {row[0] for row in rows if row[0].startswith("catalog_me_ord_") or row[0] in ours}


def _has_search_vector(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'catalog_modelentry' AND column_name = 'search_vector'"
            ).fetchone()
        )


@pytest.fixture
def scratch_database(postgres_url):
    name = f"depot_perf_mig_{uuid.uuid4().hex[:8]}"
    admin = _admin_url(postgres_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name, admin
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgresql_gets_the_indexes_and_the_migration_reverses(scratch_database, postgres_url, tmp_path):
    name, _admin = scratch_database
    url = _admin_url(postgres_url, database=name)
    result = _migrate(url, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    indexes = _list_indexes(url)
    new_in_0004 = {SEARCH_INDEX, CLAIM_DESC_INDEX, CLAIM_PROBE_INDEX}
    assert new_in_0004 <= indexes and TRIGRAM_INDEX not in indexes, sorted(indexes)
    assert len(indexes) == ORDERING_INDEXES + 3 and _has_search_vector(url)
    with psycopg.connect(
        url
    ) as conn:  # the index gives the list's exact order (the empty table can't show cost)
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_sort = off")
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                'EXPLAIN SELECT id FROM catalog_modelentry ORDER BY "in1k_claimed_top1" DESC NULLS LAST, '
                '"namespace", "name" LIMIT 25'
            )
        )
    assert "catalog_me_ord_in1k_claimed_top1_desc" in plan, plan
    # 0006 moved the accuracy orderings' indexes from the headline columns to the ImageNet-1k ones
    assert not {
        name for name in indexes if name.startswith(("catalog_me_ord_claimed", "catalog_me_ord_verified"))
    }
    result = _migrate(url, tmp_path, "catalog", "0003")  # 0004-0007 reversed: the trigram index is back
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    headline = {name.replace("_in1k_", "_") for name in indexes if "_in1k_" in name}
    expected = {name for name in indexes if "_in1k_" not in name} | headline
    assert _list_indexes(url) - {TRIGRAM_INDEX} == expected - new_in_0004
    assert TRIGRAM_INDEX in _list_indexes(url) and not _has_search_vector(url)
    result = _migrate(url, tmp_path, "catalog", "0002")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _list_indexes(url) == set()


def test_without_the_right_to_create_pg_trgm_the_migration_still_succeeds(
    scratch_database, postgres_url, tmp_path
):
    name, admin = scratch_database
    role = f"depot_perf_noext_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with psycopg.connect(_admin_url(postgres_url, database=name), autocommit=True) as conn:
            # Tables in the public schema, but no CREATE on the database: a trusted extension is refused.
            conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
            conn.execute(f'GRANT ALL ON SCHEMA public TO "{role}"')
        url = _admin_url(postgres_url, user=role, database=name)
        result = _migrate(url, tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "skipping the trigram index" in result.stderr + result.stdout
        indexes = _list_indexes(url)
        assert TRIGRAM_INDEX not in indexes and len(indexes) == ORDERING_INDEXES + 3, sorted(indexes)
        assert _has_search_vector(url)  # the word search needs no extension
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
