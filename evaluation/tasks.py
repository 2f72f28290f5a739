"""Celery tasks: fetch by id, call one service. CELERY_TASK_ROUTES sends them to the `benchmarks` queue.

Fault handling (README: "Jobs and faults"):
Both kinds of job (benchmark runs, transfer rankings) share one lifecycle (evaluation/lifecycle.py):
- acks_late + reject_on_worker_lost: a job whose process was killed goes back to the queue and the next
  execution takes the job over (lifecycle.job_claim); the attempt guard keeps exactly one result.
- a database that is briefly away: retried with exponential backoff, resuming the same attempt.
- the hard time limit: the worker's main process fails the job with the reason (on_failure below).
- a worker that vanished entirely: the reaper thread every worker runs (start_reaper) requeues the job; it
  also publishes again a job whose message was lost before any worker took it.
"""

import logging
import random
import threading

from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings
from django.db import close_old_connections

from catalog import services as catalog_services
from evaluation import lifecycle, services, transfer_services

logger = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 6
# A dataset deletion's time limit: removing 100k files takes seconds to minutes; a job stopped at the limit
# has removed what it could, and the reaper publishes it again to carry on.
DELETE_TIME_LIMIT = 3600
BACKOFF_MAX_SECONDS = 120


class JobTask(DjangoTask):
    """on_failure for both kinds of job: record why the task gave up on a job that is still running."""

    kind: lifecycle.JobKind

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        job_id = args[0] if args else next(iter(kwargs.values()), None)
        if job_id is None or isinstance(exc, WorkerLostError):
            return  # a lost worker's message is requeued (reject_on_worker_lost); the next execution takes over
        try:
            close_old_connections()
            lifecycle.job_fail_running(kind=self.kind, job_id=job_id, reason=self._reason(exc))
        except Exception:  # the database may be the thing that is away; the reaper will settle the job
            logger.exception("could not record the failure of %s %s", self.kind.label, job_id)

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, SoftTimeLimitExceeded):  # struck outside the job's body (e.g. while starting)
            return lifecycle.SOFT_TIME_LIMIT_REASON.format(label=self.kind.label)
        if isinstance(exc, TimeLimitExceeded):
            seconds = float(exc.args[0]) if exc.args else 0.0
            return f"Hard time limit exceeded: the worker stopped the {self.kind.label} after {seconds:g} s."
        if isinstance(exc, lifecycle.TRANSIENT_DB_ERRORS):
            return f"Gave up after {self.max_retries} retries, the database stayed unreachable: {exc}"
        return f"The job failed: {type(exc).__name__}: {exc}"


class BenchmarkTask(JobTask):
    kind = services.RUNS


class RankingTask(JobTask):
    kind = transfer_services.RANKINGS


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter: 1, 2, 4, ... capped, so retries of many jobs spread out."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_MAX_SECONDS, 2**retries)


@shared_task(
    base=BenchmarkTask,
    name="evaluation.run_benchmark",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RUN_SOFT_TIME_LIMIT,
    time_limit=settings.RUN_TIME_LIMIT,
    max_retries=MAX_TRANSIENT_RETRIES,
)
def run_benchmark(self, run_id: int, resume_attempt: int | None = None) -> None:
    try:
        services.run_execute(
            run_id=run_id, worker=self.request.hostname or "worker", resume_attempt=resume_attempt
        )
    except lifecycle.TransientJobError as error:
        raise _retry(self, run_id, error) from error


def _retry(task: JobTask, job_id: int, error: lifecycle.TransientJobError) -> Exception:
    """The database went away mid-job: try again later as the same attempt (the guard still holds)."""
    close_old_connections()
    retries = task.request.retries
    logger.warning("%s %s: transient error, retry %s: %s", task.kind.label, job_id, retries + 1, error)
    return task.retry(
        args=(job_id,),
        kwargs={"resume_attempt": error.attempt},
        exc=error.cause,
        countdown=backoff_seconds(retries),
    )


# --- the reaper: a thread in every worker's main process ------------------------------------------------

_reaper_stop = threading.Event()


def reap_once() -> tuple[lifecycle.ReapReport, lifecycle.ReapReport] | None:
    """One round for both kinds of job: (runs, rankings); dataset deletions that stopped making progress are
    published again, and weights mirrors whose worker stopped answering are failed."""
    try:
        close_old_connections()
        reports = services.runs_reap(), transfer_services.rankings_reap()
        services.datasets_deletion_reap()
        catalog_services.weights_mirrors_reap()
        return reports
    except Exception:  # the database may be briefly away: try again next round
        logger.exception("reaper round failed")
        return None
    finally:
        close_old_connections()


def _reaper_loop(interval: float) -> None:
    while True:
        reap_once()
        if _reaper_stop.wait(interval):
            return


@worker_ready.connect
def start_reaper(**_: object) -> None:
    """No beat scheduler to deploy: each worker reaps at start (a restarted worker settles what its previous
    life left running) and then every DEPOT_RUN_REAPER_INTERVAL seconds. Reaping is idempotent."""
    _reaper_stop.clear()
    threading.Thread(
        target=_reaper_loop, args=(settings.RUN_REAPER_INTERVAL,), name="depot-reaper", daemon=True
    ).start()


@worker_shutting_down.connect
def stop_reaper(**_: object) -> None:
    _reaper_stop.set()


@shared_task(
    base=RankingTask,
    name="evaluation.rank_transfer",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.RANKING_SOFT_TIME_LIMIT,
    time_limit=settings.RANKING_TIME_LIMIT,
    max_retries=MAX_TRANSIENT_RETRIES,
)
def rank_transfer(self, ranking_id: int, resume_attempt: int | None = None) -> None:
    try:
        transfer_services.ranking_execute(
            ranking_id=ranking_id, worker=self.request.hostname or "worker", resume_attempt=resume_attempt
        )
    except lifecycle.TransientJobError as error:
        raise _retry(self, ranking_id, error) from error


@shared_task(
    base=DjangoTask,
    name="evaluation.delete_dataset",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=DELETE_TIME_LIMIT - 60,
    time_limit=DELETE_TIME_LIMIT,
)
def delete_dataset(dataset_id: int) -> None:
    """Idempotent: a killed or timed-out execution leaves the dataset `deleting`; a redelivery or the reaper's
    republish (DEPOT_DATASET_DELETE_TIMEOUT) finishes it."""
    services.dataset_delete_execute(dataset_id=dataset_id)
