"""The broker's queues are declared once, before serve.sh starts the worker and the web server: on the embedded
SQLite broker a worker and a web process declaring the same queue at once could both INSERT it, and the worker
died of the IntegrityError (seen in CI: the first benchmark was posted as the worker started)."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def queue_rows(broker_file: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(broker_file) as connection:
        return connection.execute("SELECT id, name FROM kombu_queue ORDER BY id").fetchall()


def declare(broker_file: Path) -> str:
    env = {**os.environ, "CELERY_BROKER_URL": f"sqlalchemy+sqlite:///{broker_file}"}
    result = subprocess.run(
        [sys.executable, "manage.py", "declare_queues"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_declare_queues_creates_the_served_queues_once(tmp_path):
    broker_file = tmp_path / "broker.sqlite3"

    assert "benchmarks, default" in declare(broker_file)
    assert queue_rows(broker_file) == [(1, "benchmarks"), (2, "default")]
    declare(broker_file)  # idempotent: a second start finds them
    assert queue_rows(broker_file) == [(1, "benchmarks"), (2, "default")]


def test_serve_sh_declares_them_before_starting_the_worker_or_the_web_server():
    script = (ROOT / "scripts" / "serve.sh").read_text()
    declared = script.index("manage.py declare_queues")
    assert declared < script.index('"$BIN/celery" -A hub worker') < script.index('"$BIN/gunicorn"')
    assert declared < script.index("manage.py runserver")
