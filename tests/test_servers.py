"""tests/servers.py: with nothing answering on the configured address, a throwaway server is started and stopped."""

import psycopg
import redis

from tests import servers


def test_a_throwaway_redis_is_started_when_none_answers_and_stopped_after():
    nobody = f"redis://127.0.0.1:{servers.free_port()}"
    url, started = servers.ensure_redis(nobody)
    assert started is not None and url != nobody
    try:
        client = redis.Redis.from_url(f"{url}/11")
        assert client.ping() and client.set("depot-test", "1") and client.get("depot-test") == b"1"
    finally:
        started.stop()
    assert started.process.poll() is not None and not servers.reachable("127.0.0.1", started.port)
    assert not started.directory.exists()


def test_a_throwaway_postgresql_is_started_when_none_answers_and_stopped_after():
    nobody = f"postgres://postgres@127.0.0.1:{servers.free_port()}/depot_nobody"
    url, started = servers.ensure_postgres(nobody)
    assert started is not None and url.endswith("/depot_nobody") and f":{started.port}/" in url
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{started.port}/postgres") as connection:
            assert connection.execute("SELECT 1 + 1").fetchone() == (2,)
    finally:
        started.stop()
    assert started.process.poll() is not None and not servers.reachable("127.0.0.1", started.port)


def test_a_server_that_answers_is_used_as_it_is():
    running = servers.start_redis()
    try:
        url, started = servers.ensure_redis(running.url + "/")
        assert (url, started) == (running.url, None)
    finally:
        running.stop()
