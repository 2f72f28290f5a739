"""A real Celery worker process on the embedded transport (SQLite through SQLAlchemy, no server) runs a job."""

import time

import pytest

from evaluation import services
from evaluation.models import BenchmarkRun, RunStatus
from evaluation.tasks import run_benchmark
from hub.celery import app
from tests.fixtures_data import FAST


@pytest.mark.django_db(transaction=True)
def test_a_job_goes_queued_running_succeeded_on_a_real_worker(
    celery_worker_process, digit_model, small_digits
):
    worker = celery_worker_process
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
