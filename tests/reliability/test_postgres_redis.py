"""The reliability suite: the same tests on the scale-out stack, real PostgreSQL and real Redis.

It runs a second pytest in a subprocess with DATABASE_URL, CELERY_BROKER_URL and DEPOT_CACHE_URL pointing at the
servers on this machine (127.0.0.1:5432 and :6379, or throwaway ones the postgres_url/redis_url fixtures start
when nothing answers there), so settings are read exactly as a deployment reads them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.reliability.tally import TALLY

ROOT = Path(__file__).resolve().parents[2]
# Redis databases for the broker, the cache and the inner run's job tests; set them apart when several
# checkouts share one Redis. The outer run's job tests count down from DEPOT_TEST_JOBS_REDIS_DB (11) per
# parallel worker, so the inner run's jobs take the database just below the cache's.
REDIS_DB = int(os.environ.get("DEPOT_TEST_REDIS_DB", "15"))
SUITE = [
    "tests/evaluation/test_worker.py",
    "tests/evaluation/test_services.py",
    "tests/evaluation/api/test_views.py",
    "tests/catalog/api/test_model_list.py",
    "tests/catalog/api/test_list_counts.py",
    "tests/catalog/api/test_claim_filters.py",
    "tests/catalog/api/test_top1_on_one_dataset.py",
    "tests/catalog/test_search_rank.py",
    "tests/catalog/test_list_search_and_facets.py",
    "tests/catalog/test_weights_upload.py",
    "tests/catalog/test_import_timm.py",
    "tests/evaluation/test_faults.py",
    "tests/evaluation/transfer/test_faults.py",
    "tests/catalog/test_claim_retirement.py",
    "tests/security/test_concurrent_delete.py",
    "tests/reliability/test_jobs.py",
]


def add_inner_tally(output: str) -> None:
    """Count the inner run's jobs and faults in this session's summary too (tests/reliability/conftest.py)."""
    section = output.partition("reliability: jobs and faults")[2]
    for key, value in re.findall(r"^\s*([\w:+ -]+?): (\d+)$", section, flags=re.MULTILINE):
        TALLY[f"{key} (PostgreSQL)" if key.startswith("fault:") else key] += int(value)


@pytest.mark.long(seconds=150)
@pytest.mark.slow
def test_the_suite_passes_on_postgresql_and_redis(tmp_path, postgres_url, redis_url):
    env = {
        **servers.without_test_worker_identity(dict(os.environ)),
        "DATABASE_URL": postgres_url,
        "CELERY_BROKER_URL": f"{redis_url}/{REDIS_DB}",
        "DEPOT_CACHE_URL": f"{redis_url}/{REDIS_DB - 1}",
        # The inner run must use these servers, not start others.
        "DEPOT_TEST_POSTGRES_URL": postgres_url,
        "DEPOT_TEST_REDIS_URL": redis_url,
        "DEPOT_TEST_JOBS_REDIS_DB": str(REDIS_DB - 2),
        "DEPOT_VAR_DIR": str(tmp_path / "var"),
    }
    # The job tests on the embedded broker already ran on SQLite in this session; here they run on Redis.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not embedded", *SUITE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    add_inner_tally(result.stdout)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "passed" in summary and "skipped" not in summary, summary
