"""Celery tasks: fetch by id, call one service. CELERY_TASK_ROUTES sends them to the `benchmarks` queue.

Fault handling (README: "Jobs and faults"):
- acks_late + reject_on_worker_lost: a job whose process was killed goes back to the queue and the next
  execution takes the run over (services._start); the attempt guard keeps exactly one result.
- a database that is briefly away: retried with exponential backoff, resuming the same attempt.
- the hard time limit: the worker's main process fails the run with the reason (on_failure below).
- a worker that vanished entirely: the reaper thread every worker runs (start_reaper) requeues the run.
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

from evaluation import services

logger = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 6
BACKOFF_MAX_SECONDS = 120


class BenchmarkTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        run_id = kwargs.get("run_id", args[0] if args else None)
        if run_id is None or isinstance(exc, WorkerLostError):
            return  # a lost worker's message is requeued (reject_on_worker_lost); the next execution takes over
        try:
            close_old_connections()
            if isinstance(exc, SoftTimeLimitExceeded):  # struck outside the harness (e.g. while starting)
                services.run_fail_running(run_id=run_id, reason=services.SOFT_TIME_LIMIT_REASON)
            elif isinstance(exc, TimeLimitExceeded):
                services.run_fail_timed_out(run_id=run_id, seconds=float(exc.args[0]) if exc.args else 0.0)
            elif isinstance(exc, services.TRANSIENT_DB_ERRORS):
                reason = f"Gave up after {self.max_retries} retries, the database stayed unreachable: {exc}"
                services.run_fail_running(run_id=run_id, reason=reason)
            else:
                services.run_fail_running(
                    run_id=run_id, reason=f"The job failed: {type(exc).__name__}: {exc}"
                )
        except Exception:  # the database may be the thing that is away; the reaper will settle the run
            logger.exception("could not record the failure of run %s", run_id)


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
    except services.TransientRunError as error:
        close_old_connections()
        logger.warning("run %s: transient error, retry %s: %s", run_id, self.request.retries + 1, error)
        raise self.retry(
            args=(run_id,), kwargs={"resume_attempt": error.attempt}, exc=error.cause,
            countdown=backoff_seconds(self.request.retries),
        ) from error  # fmt: skip


# --- the reaper: a thread in every worker's main process ------------------------------------------------

_reaper_stop = threading.Event()


def reap_once() -> services.ReapReport | None:
    try:
        close_old_connections()
        return services.runs_reap()
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
    name="evaluation.rank_transfer",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=3600,
    time_limit=3600 + 60,
)
def rank_transfer(self, ranking_id: int) -> None:
    from evaluation import transfer_services

    transfer_services.ranking_execute(ranking_id=ranking_id, worker=self.request.hostname or "worker")
