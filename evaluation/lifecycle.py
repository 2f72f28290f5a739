"""The one job lifecycle both kinds of job share (a BenchmarkRun, a TransferRanking; models.Job).

queued -> running -> succeeded | failed | cancelled. An execution claims its job (`job_claim`: attempt + 1), and
every later write of that execution is one UPDATE conditional on `status = running AND attempts = <its attempt>`,
so a redelivered or superseded execution never writes a second result. While it runs, a thread beats
(`Heartbeat`); the reaper (`jobs_reap`, run by every worker on a timer) requeues or fails a running job whose
heartbeat stopped, and republishes a queued job whose message was lost before any worker took it.

evaluation/services.py and evaluation/transfer_services.py keep their public functions; each describes its
kind once (a JobKind) and hands it to the functions here.
"""

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from evaluation.models import Job, RunStatus
from hub.heartbeat import RowHeartbeat

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 40
PROGRESS_WRITE_INTERVAL = 0.5  # seconds: progress rows are written at most this often
SOFT_TIME_LIMIT_REASON = "Time limit exceeded: the worker stopped the {label} at its soft time limit."

# Errors that mean "the database is briefly unreachable", not "this job is broken".
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class JobKind:
    """What the lifecycle needs to know about one kind of job."""

    model: type[Job]
    label: str  # "run", "ranking": the word in log lines and reasons ("run 7: result recorded ...")
    task: str  # the attribute of evaluation.tasks that executes it
    time_limit: Callable[[], int]  # its hard time limit in seconds, read when needed (tests change settings)

    def publish_on_commit(self, job_id: int) -> None:
        from evaluation import tasks

        getattr(tasks, self.task).delay_on_commit(job_id)


class JobCancelled(Exception):
    """Raised inside a running job when its row was cancelled meanwhile."""


class JobSuperseded(JobCancelled):
    """Raised inside an execution whose job was taken over by a newer attempt (or reaped)."""


class TransientJobError(Exception):
    """The database went away mid-job. The task retries with backoff and resumes as the same attempt."""

    def __init__(self, job_id: int, attempt: int | None, cause: Exception):
        super().__init__(f"job {job_id}, attempt {attempt}: {type(cause).__name__}: {cause}")
        self.job_id, self.attempt, self.cause = job_id, attempt, cause


def append_line(log_tail: str, line: str) -> str:
    stamp = timezone.now().strftime("%H:%M:%S")
    return "\n".join([*log_tail.splitlines(), f"{stamp} {line}"][-LOG_TAIL_LINES:])


# --- claiming: queued -> running, or a takeover of a dead execution -----------------------------------------


def _same_host(worker_a: str, worker_b: str) -> bool:
    return worker_a.rpartition("@")[2] == worker_b.rpartition("@")[2]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _previous_execution_gone(job: Job, worker: str, now: datetime) -> bool:
    """A job found "running" may be taken over only when its execution is certainly dead: its process on this
    host is gone (a worker child killed; Celery redelivers at once), or its heartbeat is stale."""
    if job.heartbeat is None or job.heartbeat < now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT):
        return True
    if job.worker_pid and _same_host(job.worker, worker):
        return job.worker_pid == os.getpid() or not _process_alive(job.worker_pid)
    return False


def job_claim(*, kind: JobKind, job_id: int, worker: str, resume_attempt: int | None = None) -> int | None:
    """Claim the job for this process; returns the attempt number that guards every later write, or None.

    queued -> running always; running -> running (a redelivered message) only when the previous execution
    is gone or this is its retry (resume_attempt). A duplicate message for a job that is alive elsewhere or
    finished is dropped. Too many attempts fail the job with the reason.
    """
    now = timezone.now()
    with transaction.atomic():
        job = kind.model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return None
        running = job.status == RunStatus.RUNNING
        resuming = resume_attempt is not None and running and job.attempts == resume_attempt
        if running and not resuming and not _previous_execution_gone(job, worker, now):
            logger.info(
                "%s %s is running on %s (pid %s); duplicate delivery dropped",
                kind.label, job_id, job.worker, job.worker_pid,
            )  # fmt: skip
            return None
        if running and not resuming:
            note = (
                f"attempt {job.attempts} lost: {job.worker} (pid {job.worker_pid}) stopped without finishing"
            )
            logger.warning("%s %s: %s", kind.label, job_id, note)
            job.log_tail = append_line(job.log_tail, note)
        if not resuming and job.attempts >= settings.RUN_MAX_ATTEMPTS:
            _fail_out_of_attempts(kind, job, now)
            return None
        attempt = job.attempts if resuming else job.attempts + 1
        logger.info(
            "%s %s: attempt %s started on %s (pid %s)", kind.label, job_id, attempt, worker, os.getpid()
        )
        kind.model.objects.filter(pk=job_id).update(
            status=RunStatus.RUNNING, worker=worker, worker_pid=os.getpid(), started=now, heartbeat=now,
            attempts=attempt, progress=0.0, error="", log_tail=job.log_tail,
        )  # fmt: skip
        return attempt


def _fail_out_of_attempts(kind: JobKind, job: Job, now: datetime) -> None:
    reason = (
        f"Gave up after {job.attempts} attempts: each time the worker stopped without finishing "
        f"(last: {job.worker}). The job may be killing its worker (out of memory?)."
    )
    kind.model.objects.filter(pk=job.pk).update(
        status=RunStatus.FAILED, error=reason, finished=now, log_tail=append_line(job.log_tail, reason)
    )


# --- an execution: progress, heartbeat, the end ----------------------------------------------------------


class ProgressWriter:
    """Writes progress, a log tail and the heartbeat to the job's row, at most twice a second, and notices
    cancellation or a takeover (every write is guarded by this execution's attempt number)."""

    def __init__(self, kind: JobKind, job_id: int, attempt: int, log_tail: str = ""):
        self.kind, self.job_id, self.attempt = kind, job_id, attempt
        self.lines: list[str] = log_tail.splitlines()[-LOG_TAIL_LINES:]
        self.last_write = 0.0

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines = [*self.lines, f"{stamp} {line}"][-LOG_TAIL_LINES:]

    def transition(self, **fields: Any) -> bool:
        """One conditional UPDATE: only while this attempt still owns the running job."""
        owned = self.kind.model.objects.filter(
            pk=self.job_id, status=RunStatus.RUNNING, attempts=self.attempt
        )
        return owned.update(**fields) == 1

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_WRITE_INTERVAL and fraction < 1.0:
            return
        self.last_write = now
        self.log(message)
        if not self.transition(
            progress=round(fraction * 100, 1), log_tail="\n".join(self.lines), heartbeat=timezone.now()
        ):
            status = self.kind.model.objects.filter(pk=self.job_id).values_list("status", flat=True).first()
            raise JobCancelled() if status == RunStatus.CANCELLED else JobSuperseded()


class Heartbeat(RowHeartbeat):
    """Beats for the execution in a thread while it runs (hub.heartbeat), also through phases without progress
    (building a model, scanning the data, measuring latency), so the reaper never mistakes a slow phase for a dead
    worker. Progress writes beat too. Only while this attempt owns the running row."""

    def __init__(self, kind: JobKind, job_id: int, attempt: int):
        super().__init__(
            rows=kind.model.objects.filter(pk=job_id, status=RunStatus.RUNNING, attempts=attempt),
            interval=max(0.2, settings.RUN_HEARTBEAT_TIMEOUT / 5),
            label=f"{kind.label}-{job_id}",
        )


def job_execute(
    *, kind: JobKind, job_id: int, worker: str, body: Callable[[ProgressWriter], Job],
    resume_attempt: int | None = None,
) -> Job | None:  # fmt: skip
    """Claim the job, beat while `body` does the work, and record how it ended; never left running.

    `body` computes and records its result through progress.transition; any exception it raises fails the job
    with its text, a cancellation or takeover leaves the row to whoever owns it now, and a database that went
    away raises TransientJobError (the task retries as the same attempt).
    """
    attempt = resume_attempt
    try:
        attempt = job_claim(kind=kind, job_id=job_id, worker=worker, resume_attempt=resume_attempt)
        if attempt is None:  # cancelled, finished, deleted, or alive in another execution
            return kind.model.objects.filter(pk=job_id).first()
        log_tail = kind.model.objects.filter(pk=job_id).values_list("log_tail", flat=True).get()
        progress = ProgressWriter(kind, job_id, attempt, log_tail)
        with Heartbeat(kind, job_id, attempt):
            return _guarded(kind, progress, body)
    except TRANSIENT_DB_ERRORS as error:
        raise TransientJobError(job_id, attempt, error) from error


def _guarded(kind: JobKind, progress: ProgressWriter, body: Callable[[ProgressWriter], Job]) -> Job:
    progress.log(f"attempt {progress.attempt} started")
    try:
        return body(progress)
    except JobCancelled:  # cancelled, or superseded by a newer attempt: that one owns the row now
        return kind.model.objects.get(pk=progress.job_id)
    except TRANSIENT_DB_ERRORS:
        raise
    except SoftTimeLimitExceeded:
        return job_fail(progress, SOFT_TIME_LIMIT_REASON.format(label=kind.label))
    except Exception as error:  # any failure is recorded on the row, never left "running"
        logger.exception("%s %s failed", kind.label, progress.job_id)
        return job_fail(progress, f"{type(error).__name__}: {error}")


def job_fail(progress: ProgressWriter, reason: str) -> Job:
    progress.log(f"failed: {reason}")
    progress.transition(
        status=RunStatus.FAILED, error=reason, log_tail="\n".join(progress.lines), finished=timezone.now()
    )
    return progress.kind.model.objects.get(pk=progress.job_id)


def job_recorded(progress: ProgressWriter) -> None:
    """The log line the reliability suite counts results by: exactly one per job."""
    logger.info(
        "%s %s: result recorded by attempt %s", progress.kind.label, progress.job_id, progress.attempt
    )


def job_fail_running(*, kind: JobKind, job_id: int, reason: str) -> bool:
    """Fail a job that is still running, with the reason (its task gave up on it outside the execution)."""
    job = kind.model.objects.filter(pk=job_id).first()
    if job is None:
        return False
    return kind.model.transition(
        job_id, allowed_from=[RunStatus.RUNNING], status=RunStatus.FAILED, error=reason, finished=timezone.now(),
        log_tail=append_line(job.log_tail, f"failed: {reason}"),
    )  # fmt: skip


# --- the reaper: jobs whose worker vanished, and jobs whose message was lost ----------------------------


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    republished: list[int] = field(default_factory=list)


def jobs_reap(*, kind: JobKind, now: datetime | None = None) -> ReapReport:
    """Requeue (or fail, with the reason) every running job whose heartbeat stopped, and publish again every
    job queued longer than DEPOT_RUN_QUEUED_TIMEOUT.

    Safe to run from every worker at once: each change is one UPDATE conditional on what it read, so a job that
    showed a sign of life meanwhile, or that another reaper handled, is left alone.
    """
    now = now or timezone.now()
    report = ReapReport()
    _reap_stale_running(kind, now, report)
    _republish_lost(kind, now, report)
    return report


def _reap_stale_running(kind: JobKind, now: datetime, report: ReapReport) -> None:
    cutoff = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT)
    stale = kind.model.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat__lt=cutoff) | Q(heartbeat__isnull=True, started__lt=cutoff)
    )
    for job in stale.only("pk", "attempts", "heartbeat", "started", "worker", "log_tail"):
        outcome, reason = _stale_outcome(kind, job, now)
        unchanged = {
            "pk": job.pk,
            "status": RunStatus.RUNNING,
            "attempts": job.attempts,
            "heartbeat": job.heartbeat,
        }
        failed = outcome == RunStatus.FAILED
        with transaction.atomic():
            changed = kind.model.objects.filter(**unchanged).update(
                status=outcome, error=reason if failed else "", finished=now if failed else None,
                enqueued=now, log_tail=append_line(job.log_tail, reason),
            )  # fmt: skip
            if changed and not failed:
                kind.publish_on_commit(job.pk)
        if changed:
            logger.warning("%s %s: %s", kind.label, job.pk, reason)
            (report.failed if failed else report.requeued).append(job.pk)


def _stale_outcome(kind: JobKind, job: Job, now: datetime) -> tuple[str, str]:
    since = job.heartbeat or job.started
    lost = f"{job.worker or 'its worker'} showed no sign of life since {since:%Y-%m-%d %H:%M:%S} UTC"
    limit = kind.time_limit()
    if job.started and (now - job.started).total_seconds() > limit:
        return RunStatus.FAILED, f"Time limit exceeded ({limit} s) and {lost}."
    if job.attempts >= settings.RUN_MAX_ATTEMPTS:
        return RunStatus.FAILED, f"Worker lost: {lost}; gave up after {job.attempts} attempts."
    return RunStatus.QUEUED, f"requeued: {lost} (attempt {job.attempts} lost)"


def _republish_lost(kind: JobKind, now: datetime, report: ReapReport) -> None:
    """A message can be lost before any worker takes it (a broker that lost its data, a purged queue). The
    broker cannot be asked which messages it holds, so a job queued too long is published again; if the first
    message was merely waiting behind others, whichever arrives second is dropped by job_claim (one result)."""
    cutoff = now - timedelta(seconds=settings.RUN_QUEUED_TIMEOUT)
    waiting = kind.model.objects.filter(status=RunStatus.QUEUED, enqueued__lt=cutoff)
    for job in waiting.only("pk", "enqueued", "log_tail"):
        note = f"republished: queued since {job.enqueued:%Y-%m-%d %H:%M:%S} UTC and no worker took it"
        with transaction.atomic():
            changed = kind.model.objects.filter(
                pk=job.pk, status=RunStatus.QUEUED, enqueued=job.enqueued
            ).update(enqueued=now, log_tail=append_line(job.log_tail, note))
            if changed:
                kind.publish_on_commit(job.pk)
        if changed:
            logger.warning("%s %s: %s", kind.label, job.pk, note)
            report.republished.append(job.pk)
