"""A transfer ranking has the benchmark runs' lifecycle (evaluation/lifecycle.py): attempt guard, takeover of a
dead execution, the reaper, and republishing a ranking whose message was lost."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation import transfer_services
from evaluation.models import RunStatus, TransferRanking
from tests.evaluation.test_faults import dead_pid

QUICK = {"batch_size": 32, "threads": 1, "baseline": False}


@pytest.fixture
def queued_ranking(digit_model, small_digits):
    return transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id], config=QUICK, enqueue=False
    )


def mark_running(ranking, *, worker="w@host", pid=None, heartbeat_age=0.0, attempts=1, started_age=0.0):
    now = timezone.now()
    TransferRanking.objects.filter(pk=ranking.pk).update(
        status=RunStatus.RUNNING, worker=worker, worker_pid=pid, attempts=attempts,
        heartbeat=now - timedelta(seconds=heartbeat_age), started=now - timedelta(seconds=started_age),
    )  # fmt: skip


def test_a_ranking_records_its_attempt_heartbeat_and_process(queued_ranking):
    ranking = transfer_services.ranking_execute(ranking_id=queued_ranking.pk, worker="w@host")
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    assert ranking.attempts == 1 and ranking.worker_pid == os.getpid()
    assert ranking.started <= ranking.heartbeat <= ranking.finished


def test_a_redelivered_ranking_takes_over_when_its_process_is_dead(queued_ranking):
    mark_running(queued_ranking, pid=dead_pid())
    ranking = transfer_services.ranking_execute(ranking_id=queued_ranking.pk, worker="w2@host")
    assert ranking.status == RunStatus.SUCCEEDED and ranking.attempts == 2
    assert "attempt 1 lost" in ranking.log_tail


def test_a_duplicate_delivery_of_a_live_ranking_is_dropped(queued_ranking):
    mark_running(queued_ranking, worker="w@other-host", pid=12345)  # fresh heartbeat, another machine
    ranking = transfer_services.ranking_execute(ranking_id=queued_ranking.pk, worker="w2@host")
    assert ranking.status == RunStatus.RUNNING and ranking.attempts == 1 and ranking.worker == "w@other-host"
    assert ranking.candidates.get().score is None


def test_a_superseded_ranking_execution_never_writes_its_result(queued_ranking):
    def take_over_midway(fraction, message):
        if fraction > 0.3:
            TransferRanking.objects.filter(pk=queued_ranking.pk).update(attempts=2, worker="newer@host")

    ranking = transfer_services.ranking_execute(
        ranking_id=queued_ranking.pk, worker="w@host", on_progress=take_over_midway
    )
    assert (
        ranking.status == RunStatus.RUNNING and ranking.best_score is None and ranking.worker == "newer@host"
    )
    assert ranking.candidates.get().rank is None


def test_the_reaper_requeues_a_ranking_whose_heartbeat_stopped(
    queued_ranking, settings, django_capture_on_commit_callbacks
):
    mark_running(queued_ranking, heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT + 5)
    with django_capture_on_commit_callbacks(execute=True):
        report = transfer_services.rankings_reap()
    assert report.requeued == [queued_ranking.pk] and report.failed == []
    ranking = TransferRanking.objects.get(pk=queued_ranking.pk)
    # Tasks run eagerly in tests: the requeued job ran at once, as attempt 2.
    assert ranking.status == RunStatus.SUCCEEDED and ranking.attempts == 2
    assert "requeued: w@host showed no sign of life" in ranking.log_tail


def test_the_reaper_fails_rankings_out_of_attempts_or_time(
    queued_ranking, digit_model, small_digits, settings
):
    stale = settings.RUN_HEARTBEAT_TIMEOUT + 5
    mark_running(queued_ranking, heartbeat_age=stale, attempts=settings.RUN_MAX_ATTEMPTS)
    other = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id], config=QUICK, enqueue=False
    )
    mark_running(other, heartbeat_age=stale, started_age=settings.RANKING_TIME_LIMIT + 1)
    report = transfer_services.rankings_reap()
    assert sorted(report.failed) == sorted([queued_ranking.pk, other.pk])
    first, second = (
        TransferRanking.objects.get(pk=queued_ranking.pk),
        TransferRanking.objects.get(pk=other.pk),
    )
    assert first.status == second.status == RunStatus.FAILED
    assert "Worker lost" in first.error and "gave up after" in first.error
    assert f"Time limit exceeded ({settings.RANKING_TIME_LIMIT} s)" in second.error


def test_the_reaper_republishes_a_ranking_queued_too_long_and_the_late_original_is_dropped(
    queued_ranking, settings, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_QUEUED_TIMEOUT + 5)
    TransferRanking.objects.filter(pk=queued_ranking.pk).update(enqueued=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        report = transfer_services.rankings_reap()
    assert report.republished == [queued_ranking.pk]
    ranking = TransferRanking.objects.get(pk=queued_ranking.pk)
    assert ranking.status == RunStatus.SUCCEEDED and ranking.attempts == 1
    assert "republished: queued since" in ranking.log_tail
    # The original message resurfaces after all: the attempt guard drops it, the result stays the first one.
    again = transfer_services.ranking_execute(ranking_id=queued_ranking.pk, worker="late@host")
    assert again.attempts == 1 and again.finished == ranking.finished and again.worker == ranking.worker


def test_the_reaper_leaves_recently_queued_and_live_rankings_alone(queued_ranking, digit_model, small_digits):
    live = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id], config=QUICK, enqueue=False
    )
    mark_running(live)
    report = transfer_services.rankings_reap()
    assert report.requeued == report.failed == report.republished == []
    assert TransferRanking.objects.get(pk=queued_ranking.pk).status == RunStatus.QUEUED
