"""Limits as the real multi-process server enforces them (the command `make run` uses, hub/gunicorn_conf.py):
one throttle shared by every web process, and X-Forwarded-* believed only from DEPOT_TRUSTED_PROXIES."""

import http.client
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.security import throwaway_server

REQUESTS = 2_400
RATE = 600  # the documented anonymous rate (DEPOT_API_THROTTLE_ANON's default)
TRUSTED_PROXY = "127.0.0.2"  # loopback too: a test can connect from it (Linux routes all of 127/8 locally)
FLOOD_SOURCE = (
    "127.0.0.4"  # the address the 2,400 requests come from, so other tests' clients stay under the rate
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = throwaway_server.start(
        tmp_path_factory.mktemp("served") / "var",
        DEPOT_WEB_WORKERS="2",
        DEPOT_API_THROTTLE_ANON=f"{RATE}/min",
        DEPOT_TRUSTED_PROXIES=TRUSTED_PROXY,
    )
    yield started
    started.stop()


def get(server, path: str, *, source: str = "127.0.0.1", headers: dict | None = None):
    """(status, headers, body) of one GET on a fresh connection from `source`."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def worker_pids(server) -> set[str]:
    return {
        line.split("pid: ")[1].strip()
        for line in server.access_log().splitlines()
        if "Booting worker" in line
    }


@pytest.mark.long(seconds=60)
@pytest.mark.slow
def test_2400_anonymous_requests_across_all_web_processes_get_no_more_than_the_rate(server):
    local = threading.local()

    def one(_: int) -> int:
        # One keep-alive connection per thread: requests spread over the worker processes as connections do.
        if getattr(local, "connection", None) is None:
            host, port = server.url.removeprefix("http://").split(":")
            local.connection = http.client.HTTPConnection(
                host, int(port), timeout=30, source_address=(FLOOD_SOURCE, 0)
            )
        local.connection.request("GET", "/plot.svg")
        response = local.connection.getresponse()
        response.read()
        return response.status

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(one, range(REQUESTS)))
    served_by = Counter(
        line.split("]")[0].strip("[") for line in server.access_log().splitlines() if '"GET /plot.svg' in line
    )
    print(f"{REQUESTS} requests to /plot.svg: {dict(statuses)}; answered by processes {dict(served_by)}")
    assert len(worker_pids(server)) == 2
    assert len(served_by) >= 2, served_by  # the limit held across processes, not inside one
    assert set(statuses) <= {200, 429}
    assert statuses[200] <= RATE
    assert statuses[200] >= RATE * 0.9  # the limit is the rate, not far below it


def models_list(server, *, source: str, forwarded_for: str) -> tuple[int, dict]:
    status, _, body = get(
        server, "/api/v1/models/?page_size=1", source=source,
        headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"},
    )  # fmt: skip
    return status, json.loads(body)


def test_an_untrusted_peer_s_forwarded_headers_are_ignored_even_from_loopback(server):
    """gunicorn's own default trusts 127.0.0.1; Depot's trusts nothing but DEPOT_TRUSTED_PROXIES."""
    status, page = models_list(server, source="127.0.0.1", forwarded_for="203.0.113.50")
    assert status == 200
    assert page["next"].startswith("http://"), page["next"]  # X-Forwarded-Proto: https not believed


def test_a_trusted_proxy_s_forwarded_headers_are_believed(server):
    status, page = models_list(server, source=TRUSTED_PROXY, forwarded_for="203.0.113.51")
    assert status == 200
    assert page["next"].startswith("https://"), page["next"]


def test_throttling_counts_the_forwarded_client_only_behind_a_trusted_proxy(server):
    # An untrusted peer sending a fresh X-Forwarded-For each time is still one client: it reaches the rate
    # (at once when the 2,400 above ran first from the same address).
    answers = (
        get(
            server,
            "/plot.svg",
            source=FLOOD_SOURCE,
            headers={"X-Forwarded-For": f"198.51.{i // 250}.{i % 250}"},
        )
        for i in range(RATE + 1)
    )
    status, headers, _ = next(answer for answer in answers if answer[0] != 200)
    assert status == 429 and int(headers["Retry-After"]) >= 1
    # ... while the trusted proxy's clients are each counted on their own.
    status, _, _ = get(server, "/plot.svg", source=TRUSTED_PROXY, headers={"X-Forwarded-For": "198.51.100.7"})
    assert status == 200
