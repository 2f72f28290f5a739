"""A real Celery worker process on the embedded transport (SQLite through SQLAlchemy, no server) runs a job."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from evaluation import services
from evaluation.models import BenchmarkRun, RunStatus
from evaluation.tasks import run_benchmark
from hub.celery import app
from tests.evaluation.conftest import FAST

CELERY = str(Path(sys.executable).with_name("celery"))


@pytest.fixture
def worker(tmp_path):
    app.conf.task_always_eager = False  # this test goes through a real broker and a real worker
    if connection.vendor != "sqlite":
        pytest.skip(
            "this test proves the embedded default; the reliability suite covers PostgreSQL and Redis"
        )
    broker = f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite3'}"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "DEPOT_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEPOT_VAR_DIR": str(tmp_path / "worker-var"),
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [CELERY, "-A", "hub", "worker", "-Q", "benchmarks", "--concurrency", "1", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", "test-worker@%h"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
    )  # fmt: skip
    try:
        yield broker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.mark.django_db(transaction=True)
def test_a_job_goes_queued_running_succeeded_on_a_real_worker(worker, digit_model, small_digits):
    run, _ = services.run_request(
        model=digit_model, dataset=small_digits, config={**FAST, "batch_size": 4}, enqueue=False
    )
    seen = [BenchmarkRun.objects.get(pk=run.pk).status]
    with app.connection_for_write(worker) as broker_connection:
        run_benchmark.apply_async((run.pk,), connection=broker_connection)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = BenchmarkRun.objects.get(pk=run.pk).status
        if status != seen[-1]:
            seen.append(status)
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            break
        time.sleep(0.02)
    run.refresh_from_db()
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED], (seen, run.error)
    assert run.worker.startswith("test-worker@")
    assert run.top1 is not None and run.started < run.finished
