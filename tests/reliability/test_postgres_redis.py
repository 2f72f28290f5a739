"""The reliability suite: the same tests on the scale-out stack, real PostgreSQL and real Redis.

It runs a second pytest in a subprocess with DATABASE_URL, CELERY_BROKER_URL and DEPOT_CACHE_URL pointing at the
servers on this machine (127.0.0.1:5432 and :6379), so settings are read exactly as a deployment reads them.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("DEPOT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/depot")
REDIS = os.environ.get("DEPOT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
SUITE = [
    "tests/evaluation/test_worker.py",
    "tests/evaluation/test_services.py",
    "tests/evaluation/api/test_views.py",
    "tests/catalog/api/test_model_list.py",
    "tests/catalog/test_weights_upload.py",
    "tests/catalog/test_import_timm.py",
]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_the_suite_passes_on_postgresql_and_redis(tmp_path):
    missing = [
        name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not reachable("127.0.0.1", port)
    ]
    assert not missing, f"{', '.join(missing)} not running on 127.0.0.1 (see README: Development)"
    env = {
        **os.environ,
        "DATABASE_URL": POSTGRES,
        "CELERY_BROKER_URL": f"{REDIS}/15",
        "DEPOT_CACHE_URL": f"{REDIS}/14",
        "DEPOT_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "passed" in summary and "skipped" not in summary, summary
