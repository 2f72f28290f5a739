"""Fault handling in the service layer: takeover of dead executions, the attempt guard, the reaper."""

import os
import subprocess
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from evaluation import services
from evaluation.models import BenchmarkRun, RunStatus
from tests.fixtures_data import FAST


@pytest.fixture
def queued_run(digit_model, small_digits):
    run, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    return run


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def mark_running(run, *, worker="w@host", pid=None, heartbeat_age=0.0, attempts=1, started_age=0.0):
    now = timezone.now()
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, worker=worker, worker_pid=pid, attempts=attempts,
        heartbeat=now - timedelta(seconds=heartbeat_age), started=now - timedelta(seconds=started_age),
    )  # fmt: skip


def test_a_run_records_its_attempt_heartbeat_and_process(queued_run):
    run = services.run_execute(run_id=queued_run.pk, worker="w@host")
    assert run.status == RunStatus.SUCCEEDED
    assert run.attempts == 1 and run.worker_pid == os.getpid()
    assert run.started <= run.heartbeat <= run.finished


def test_a_redelivered_job_takes_over_when_its_process_is_dead(queued_run):
    mark_running(queued_run, worker="w@host", pid=dead_pid())
    run = services.run_execute(run_id=queued_run.pk, worker="w2@host")
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2
    assert "attempt 1 lost" in run.log_tail


def test_a_duplicate_delivery_of_a_live_run_is_dropped(queued_run):
    mark_running(queued_run, worker="w@other-host", pid=12345)  # fresh heartbeat, another machine
    run = services.run_execute(run_id=queued_run.pk, worker="w2@host")
    assert run.status == RunStatus.RUNNING and run.attempts == 1 and run.worker == "w@other-host"


def test_a_superseded_execution_never_writes_its_result(queued_run):
    """Attempt 1 still computing when attempt 2 took the run over: only attempt 2's result lands."""

    def take_over_midway(fraction, message):
        if fraction > 0.3:
            BenchmarkRun.objects.filter(pk=queued_run.pk).update(attempts=2, worker="newer@host")

    run = services.run_execute(run_id=queued_run.pk, worker="w@host", on_progress=take_over_midway)
    assert run.status == RunStatus.RUNNING and run.top1 is None and run.worker == "newer@host"


def test_too_many_attempts_fail_the_run_with_the_reason(queued_run, settings):
    mark_running(queued_run, pid=dead_pid(), attempts=settings.RUN_MAX_ATTEMPTS)
    run = services.run_execute(run_id=queued_run.pk, worker="w@host")
    assert (
        run.status == RunStatus.FAILED and f"Gave up after {settings.RUN_MAX_ATTEMPTS} attempts" in run.error
    )


def test_a_database_error_is_transient_and_the_retry_resumes_the_same_attempt(queued_run, monkeypatch):
    real_execute = services._execute

    def database_away(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "_execute", database_away)
    with pytest.raises(services.TransientRunError) as caught:
        services.run_execute(run_id=queued_run.pk, worker="w@other")
    assert caught.value.attempt == 1
    assert BenchmarkRun.objects.get(pk=queued_run.pk).status == RunStatus.RUNNING
    monkeypatch.setattr(services, "_execute", real_execute)
    run = services.run_execute(run_id=queued_run.pk, worker="w@other", resume_attempt=caught.value.attempt)
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1


def test_the_reaper_requeues_a_run_whose_heartbeat_stopped(
    queued_run, settings, django_capture_on_commit_callbacks
):
    mark_running(queued_run, heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT + 5)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.runs_reap()
    assert report.requeued == [queued_run.pk] and report.failed == []
    run = BenchmarkRun.objects.get(pk=queued_run.pk)
    # Tasks run eagerly in tests: the requeued job ran at once, as attempt 2.
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2
    assert "requeued: w@host showed no sign of life" in run.log_tail


def test_the_reaper_leaves_live_runs_alone(queued_run, settings):
    mark_running(queued_run, heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT - 30)
    assert services.runs_reap().requeued == []
    assert BenchmarkRun.objects.get(pk=queued_run.pk).status == RunStatus.RUNNING


def test_the_reaper_fails_runs_out_of_attempts_or_time(queued_run, digit_model, small_digits, settings):
    stale = settings.RUN_HEARTBEAT_TIMEOUT + 5
    mark_running(queued_run, heartbeat_age=stale, attempts=settings.RUN_MAX_ATTEMPTS)
    other, _ = services.run_request(
        model=digit_model, dataset=small_digits, config=FAST, force=True, enqueue=False
    )
    mark_running(other, heartbeat_age=stale, started_age=settings.RUN_TIME_LIMIT + 1)
    report = services.runs_reap()
    assert sorted(report.failed) == sorted([queued_run.pk, other.pk])
    first, second = BenchmarkRun.objects.get(pk=queued_run.pk), BenchmarkRun.objects.get(pk=other.pk)
    assert first.status == second.status == RunStatus.FAILED
    assert "Worker lost" in first.error and "gave up after" in first.error
    assert "Time limit exceeded" in second.error


def test_reap_runs_command_reports_what_it_did(queued_run, settings):
    from io import StringIO

    from django.core.management import call_command

    mark_running(
        queued_run, heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT + 5, attempts=settings.RUN_MAX_ATTEMPTS
    )
    out = StringIO()
    call_command("reap_runs", stdout=out)
    assert out.getvalue().splitlines() == [
        f"runs: requeued 0 [], failed 1 [{queued_run.pk}], republished 0 []",
        "rankings: requeued 0 [], failed 0 [], republished 0 []",
        "dataset deletions: republished 0 []",
    ]


def test_the_reaper_republishes_a_run_queued_too_long_once_per_timeout(
    queued_run, settings, django_capture_on_commit_callbacks
):
    """A message lost before any worker took it: the run is published again, not left queued forever."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_QUEUED_TIMEOUT + 5)
    BenchmarkRun.objects.filter(pk=queued_run.pk).update(enqueued=long_ago)
    with django_capture_on_commit_callbacks(execute=True) as published:
        assert services.runs_reap().republished == [queued_run.pk]
        assert services.runs_reap().republished == []  # queued afresh: not again until the next timeout
    assert len(published) == 1
    run = BenchmarkRun.objects.get(pk=queued_run.pk)
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1  # tasks run eagerly in tests
    assert "republished: queued since" in run.log_tail
