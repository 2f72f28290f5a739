"""Real worker processes on a real broker (the embedded SQLite one and Redis), and a tally of faults.

Every test here reports what it submitted and injected; the session prints the totals at the end, so a run
of the suite gives the figures (submitted / finished / duplicated / lost, faults injected / survived).
"""

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from tests import servers
from tests.conftest import CELERY, _reset_publishers, _test_database_url

# A Redis database number of its own, so several checkouts can share one Redis server; each parallel test
# process (pytest-xdist worker) counts down from it, so two workers never purge each other's queue.
JOBS_REDIS_DB = int(os.environ.get("DEPOT_TEST_JOBS_REDIS_DB", "11")) - servers.test_worker_index()
# Faults are detected in seconds, not minutes: a short heartbeat timeout and a reaper round every second.
HEARTBEAT_TIMEOUT = 6


class Worker:
    """One `celery worker` process (concurrency 1) in its own session, so it can be killed as a whole."""

    def __init__(self, name: str, broker: str, tmp_path: Path, extra_env: dict[str, str] | None = None):
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "DATABASE_URL": _test_database_url(),
            "DEPOT_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "DEPOT_VAR_DIR": str(tmp_path / f"{name}-var"),
            "DEPOT_RUN_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "DEPOT_RUN_REAPER_INTERVAL": "1",
            **(extra_env or {}),
        }
        self.log = open(self.log_path, "a")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [CELERY, "-A", "hub", "worker", "-Q", "benchmarks", "--concurrency", "1", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", f"{name}@%h"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR, start_new_session=True,
        )  # fmt: skip

    def kill_all(self) -> None:
        """SIGKILL the main process and its children at once: the whole worker vanishes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def discard(self) -> None:
        """After its test: SIGKILL it at once. Its jobs have finished or are the test's business, and a warm
        shutdown (waiting on the pool, under load 5-15 s) would only lengthen the suite."""
        self.kill_all()
        self.log.close()

    def stop(self) -> None:
        """A warm shutdown, as an operator's restart does: unacknowledged messages go back to the broker."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_all()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # children a killed main process left behind
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text()


@pytest.fixture
def start_worker(tmp_path):
    started: list[Worker] = []

    def start(broker: str, name: str | None = None, **extra_env: str) -> Worker:
        worker = Worker(name or f"worker{len(started) + 1}", broker, tmp_path, extra_env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.log.closed:
            continue  # stopped by the test itself
        worker.discard()
    for worker in started:
        print(f"--- {worker.name} log (tail) ---\n{worker.output()[-2500:]}")


def point_publishers_at(broker: str) -> None:
    """Publish to this broker from this process. Celery reads CELERY_BROKER_URL from the environment before
    its configuration, so the variable is set too; Redis's transport options mean nothing to SQLite's."""
    from hub.celery import app

    os.environ["CELERY_BROKER_URL"] = broker
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    app.conf.broker_transport_options = (
        {} if broker.startswith("sqlalchemy") else getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    )
    _reset_publishers(app)


def restore_publishers() -> None:
    from hub.celery import app

    if _CONFIGURED_BROKER_ENV is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = _CONFIGURED_BROKER_ENV
    app.conf.broker_url = settings.CELERY_BROKER_URL
    app.conf.broker_transport_options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    _reset_publishers(app)


_CONFIGURED_BROKER_ENV = os.environ.get("CELERY_BROKER_URL")


def purge(broker: str) -> None:
    from hub.celery import app

    with app.connection_for_write(broker) as connection:
        connection.default_channel.queue_purge("benchmarks")


@pytest.fixture(params=["embedded", "redis"])
def broker(request, tmp_path):
    """The broker URL, the publishers in this process pointed at it; restored afterwards."""
    if request.param == "embedded":
        url = f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite3'}"
    else:
        url = f"{request.getfixturevalue('redis_url')}/{JOBS_REDIS_DB}"
        purge(url)
    point_publishers_at(url)
    yield url
    restore_publishers()


def results_recorded(workers: list[Worker], label: str = "run") -> Counter:
    """job id -> how many executions recorded a result, read from every worker's log (label: run, ranking)."""
    counts: Counter = Counter()
    pattern = rf"\b{label} (\d+): result recorded"
    for worker in workers:
        counts.update(int(job_id) for job_id in re.findall(pattern, worker.output()))
    return counts


def wait_for(predicate, seconds: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")
