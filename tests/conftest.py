import contextlib
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import services
from catalog.models import ModelEntry
from hub.hits import hits
from tests import servers
from tests.reliability import tally

pytest_plugins = ["tests.fixtures_data", "tests.browser"]

_counter = itertools.count()
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/depot"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
_STARTED_FOR_THE_RUN: list[servers.ThrowawayServer] = []


def _configured_postgres_url() -> str:
    return os.environ.get("DEPOT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _configured_redis_url() -> str:
    return os.environ.get("DEPOT_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def _is_distributed(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """A parallel run's controller starts the throwaway servers once, before its workers exist; the workers
    inherit their addresses through DEPOT_TEST_POSTGRES_URL / DEPOT_TEST_REDIS_URL instead of each starting
    its own. A serial run starts them lazily, only when a test asks for one (the fixtures below)."""
    if not _is_distributed(config):
        return
    # One thread per test process: the processes already share the cores, and OpenMP threads competing for
    # them spin instead of working (tests that choose a thread count still set it). Children inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    postgres, started_postgres = servers.ensure_postgres(_configured_postgres_url())
    redis, started_redis = servers.ensure_redis(_configured_redis_url())
    os.environ["DEPOT_TEST_POSTGRES_URL"], os.environ["DEPOT_TEST_REDIS_URL"] = postgres, redis
    _STARTED_FOR_THE_RUN.extend(server for server in (started_postgres, started_redis) if server)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _STARTED_FOR_THE_RUN:
        _STARTED_FOR_THE_RUN.pop().stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first (longest first), then the slow ones, then the rest (stable within each). A parallel
    run hands tests out one or two at a time (`make test` passes --maxschedchunk 1), so the longest start at
    once on different workers and the many quick ones fill the gaps at the end, instead of one long test
    starting last. Every worker sorts the same collection the same way, as xdist requires. (Grouping a module
    onto one process with xdist_group and --dist loadgroup has no effect with pytest 9.2 and xdist 3.8: the
    items' node ids never get the group suffix xdist schedules by, so each test stays a unit of its own.)"""
    items.sort(key=_schedule_rank)


def _schedule_rank(item: pytest.Item) -> tuple[int, float]:
    long = item.get_closest_marker("long")
    if long:
        return 0, -long.kwargs.get("seconds", 60)
    return (1 if item.get_closest_marker("slow") else 2), 0


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        tally.export(workeroutput)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    tally.absorb(getattr(node, "workeroutput", {}))


def pytest_terminal_summary(terminalreporter) -> None:
    tally.write_summary(terminalreporter)


@pytest.fixture(scope="session")
def postgres_url():
    """The configured PostgreSQL (DEPOT_TEST_POSTGRES_URL) or, when none answers there, a throwaway one."""
    url, started = servers.ensure_postgres(_configured_postgres_url())
    yield url
    if started:
        started.stop()


@pytest.fixture(scope="session")
def redis_url():
    """The configured Redis base URL (DEPOT_TEST_REDIS_URL, no db number) or a throwaway server's."""
    url, started = servers.ensure_redis(_configured_redis_url())
    yield url
    if started:
        started.stop()


CELERY = str(Path(sys.executable).with_name("celery"))


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run inline in tests, never through the broker under var/; test_worker.py uses a real worker."""
    from hub.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _isolated_storage_and_cache(settings, tmp_path, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Each test's own upload spool: parallel test processes share var/, and "nothing left in the spool"
    # checks must not see another process's upload in flight.
    # (beside tmp_path, not in it: tests list what they wrote there)
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path_factory.mktemp("upload-spool")
    cache.clear()
    if settings.HITS_URL.startswith("sqlite:"):  # parallel test processes share var/: a store per test
        settings.HITS_URL = f"sqlite:///{tmp_path_factory.mktemp('hits') / 'hits.sqlite3'}"
    hits().clear()  # throttle and login-failure counters
    yield
    hits().clear()
    cache.clear()


@pytest.fixture
def make_model(db):
    def make(
        namespace: str = "demo", name: str | None = None, claims: list[dict] | None = None, **fields
    ) -> ModelEntry:
        fields.setdefault("domain", "vision")
        fields.setdefault("task", "image-classification")
        fields.setdefault("library", "timm")
        model = services.model_register(namespace=namespace, name=name or f"model-{next(_counter)}", **fields)
        for claim in claims or []:
            services.claim_record(model=model, **claim)
        model.refresh_from_db()
        return model

    return make


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123", is_staff=True)


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("mallory", password="pw-mallory-123")


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=staff_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def outsider_client(outsider) -> APIClient:
    client = APIClient()
    token = Token.objects.create(user=outsider)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _test_database_url() -> str:
    """The test database, as the worker process must see it (the test run's, not the configured one)."""
    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    return f"postgres://{config['USER']}{password}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


def _worker_broker(app, tmp_path: Path) -> str:
    """The configured Redis broker (emptied of stale jobs) or, by default, a fresh SQLite broker file."""
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        with app.connection_for_write(settings.CELERY_BROKER_URL) as broker_connection:
            broker_connection.default_channel.queue_purge("benchmarks")
        return settings.CELERY_BROKER_URL
    return f"sqlalchemy+sqlite:///{tmp_path / 'broker.sqlite3'}"


def _reset_publishers(app) -> None:
    """Drop cached broker connections so the next publish connects to the current broker_url."""
    app._pool = None
    if "amqp" in app.__dict__:
        app.__dict__["amqp"]._producer_pool = None


@pytest.fixture
def celery_worker_process(tmp_path):
    """A real `celery worker` process on the test database and a real broker; yields the broker URL.

    Publishers in this process (delay_on_commit) are pointed at the same broker while it runs.
    """
    from hub.celery import app

    broker = _worker_broker(app, tmp_path)
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "DATABASE_URL": _test_database_url(),
        "DEPOT_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEPOT_VAR_DIR": str(tmp_path / "worker-var"),
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [CELERY, "-A", "hub", "worker", "-Q", "benchmarks", "--concurrency", "1", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", "test-worker@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR, start_new_session=True,
        )  # fmt: skip
        app.conf.task_always_eager = False
        app.conf.broker_url = broker
        _reset_publishers(app)
        try:
            yield broker
        finally:
            # SIGKILL to the whole worker (main process and pool): the test is over, and a warm shutdown only
            # waits on the pool (5-15 s under load) for nothing.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            app.conf.broker_url = settings.CELERY_BROKER_URL
            _reset_publishers(app)
    print(log_path.read_text()[-3000:])
