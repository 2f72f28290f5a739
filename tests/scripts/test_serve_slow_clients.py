"""Slow clients against the server `make run` starts (scripts/serve.sh): 200 connections that send one header
line every few seconds neither delay ordinary requests nor stay open past the header timeout.

With gunicorn's sync workers (before hub/server.py) four such connections stalled every other request.
"""

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest
import requests

from tests.event_loops import run_in_a_loop_of_its_own
from tests.scripts.test_serve import ROOT, free_port, interruptible, wait_for_page
from tests.security.throwaway_server import prepare

SLOW_CONNECTIONS = 200
HEADER_LINE_EVERY = 2.0  # seconds between two header lines of a slow client
HEADER_TIMEOUT = 6.0  # DEPOT_HTTP_HEADER_TIMEOUT for this server (default 10)
ORDINARY_EVERY = 0.25


BODY_TIMEOUT = 3.0  # DEPOT_HTTP_BODY_TIMEOUT for this server (default 30)


@dataclass
class Served:
    url: str
    port: int
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """scripts/serve.sh (gunicorn + the Celery worker) on a throwaway, seeded var dir and a free port; stopped
    with Ctrl-C at the end."""
    var_dir = tmp_path_factory.mktemp("serve") / "var"
    port = free_port()
    env, token = prepare(
        var_dir, HOST="127.0.0.1", PORT=str(port), DEPOT_WEB_WORKERS="2",
        DEPOT_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT), DEPOT_HTTP_BODY_TIMEOUT=str(BODY_TIMEOUT),
    )  # fmt: skip
    log_path = var_dir / "serve.out"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["scripts/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=interruptible,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # The first answer waits for a worker that imports torch: minutes on a busy 2-core machine.
        assert wait_for_page(f"{url}/api/v1/models/", process, 300, read_timeout=240).status_code == 200
        yield Served(url=url, port=port, token=token)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        print(log_path.read_text()[-2000:])


async def slow_client(port: int, started: asyncio.Event) -> tuple[float, bytes]:
    """Sends a request head one line at a time until the server closes; (seconds it stayed open, answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    writer.write(b"GET /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started.set()
    answer = b""
    line = 0
    while not reader.at_eof():
        try:
            answer += await asyncio.wait_for(reader.read(4096), HEADER_LINE_EVERY)
        except TimeoutError:
            line += 1
            writer.write(f"X-Slow-{line}: {'x' * 20}\r\n".encode())
        except ConnectionError:
            break
        if time.monotonic() - opened > HEADER_TIMEOUT * 4:
            break  # never cut off: the assertion below says so
    writer.close()
    return time.monotonic() - opened, answer


def ordinary_request(url: str) -> tuple[float, int]:
    started = time.monotonic()
    status = requests.get(f"{url}/api/v1/models/?page_size=5", timeout=30).status_code
    return time.monotonic() - started, status


async def ordinary_requests_while(url: str, until: float) -> list[tuple[float, int]]:
    answers = []
    while time.monotonic() < until:
        answers.append(await asyncio.to_thread(ordinary_request, url))
        await asyncio.sleep(ORDINARY_EVERY)
    return answers


async def slowloris(url: str) -> tuple[list[tuple[float, bytes]], list[tuple[float, int]]]:
    port = int(url.rsplit(":", 1)[1])
    for _ in range(6):  # every worker process has answered once: the first answer of each is slower
        await asyncio.to_thread(ordinary_request, url)
    events = [asyncio.Event() for _ in range(SLOW_CONNECTIONS)]
    slow = [asyncio.create_task(slow_client(port, event)) for event in events]
    await asyncio.gather(*(event.wait() for event in events))
    ordinary = await ordinary_requests_while(url, time.monotonic() + HEADER_TIMEOUT - 1)
    return await asyncio.gather(*slow), ordinary


@pytest.mark.long(seconds=60)
@pytest.mark.slow
def test_200_slow_clients_neither_delay_ordinary_requests_nor_outstay_the_header_timeout(served):
    slow, ordinary = run_in_a_loop_of_its_own(slowloris(served.url))

    latencies = sorted(seconds for seconds, _ in ordinary)
    p90 = latencies[int(len(latencies) * 0.9) - 1]
    open_for = sorted(seconds for seconds, _ in slow)
    print(
        f"{SLOW_CONNECTIONS} slow connections: ordinary requests meanwhile {len(ordinary)}, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; "
        f"slow ones cut off after {open_for[0]:.1f}-{open_for[-1]:.1f} s (header timeout {HEADER_TIMEOUT:g} s)"
    )
    assert {status for _, status in ordinary} == {200}
    # Answered all along the 5 s window: one every 0.25 s makes about 16, and even one answer at the 3 s bound
    # below leaves room for 5 more (a CI run on a loaded machine once had a 2.7 s first answer, then 8 quick ones).
    assert len(ordinary) >= 5
    # Within a second; the slowest may take longer when other jobs load the shared 2-core machine (load 15 while
    # this was written: one request of 14 took 1.05 s). Sync workers never answered at all.
    assert p90 < 1.0
    assert latencies[-1] < 3.0
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in slow), {a[:40] for _, a in slow}
    assert open_for[0] >= HEADER_TIMEOUT - 0.5 and open_for[-1] <= HEADER_TIMEOUT + 3
    assert b'"detail": "timeout"' in slow[0][1]


def exchange(port: int, data: bytes) -> tuple[float, bytes]:
    """Sends `data` on a fresh connection, then reads until the server closes: (seconds that took, answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT * 4) as connection:
        started = time.monotonic()
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return time.monotonic() - started, answer


def status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_body_that_stops_arriving_is_cut_off_with_a_408(served):
    head = (
        "POST /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Token {served.token}\r\nContent-Length: 100\r\n\r\n"
    )
    seconds, answer = exchange(served.port, head.encode() + b'{"namespace": ')
    status, error = status_and_error(answer)
    assert status == 408 and error["detail"] == "timeout", answer
    assert BODY_TIMEOUT - 0.5 <= seconds <= BODY_TIMEOUT + 3
    assert requests.get(f"{served.url}/api/v1/models/?namespace=demo", timeout=10).json()["count"] == 2


def test_an_endless_request_line_is_a_414_and_a_malformed_head_a_400_in_the_error_shape(served):
    _, answer = exchange(served.port, b"GET /?q=" + b"a" * 20_000)
    assert status_and_error(answer) == (
        414, {"error": "The request line is too long.", "detail": "uri_too_long"}
    )  # fmt: skip
    _, answer = exchange(served.port, b"NOT HTTP AT ALL\r\n\r\n")
    status, error = status_and_error(answer)
    assert status == 400 and error["error"] == "Invalid HTTP request."


def test_a_benchmark_queued_through_the_asgi_server_reaches_the_worker_after_commit(served):
    """The view runs in Django's thread under ASGI; delay_on_commit still publishes once the run row is
    committed, and the worker that serve.sh started takes it (the seeded model is not timm's: the run fails,
    with its reason, which only a worker can record)."""
    auth = {"Authorization": f"Token {served.token}"}
    patched = requests.patch(
        f"{served.url}/api/v1/models/demo/alpha/",
        json={"num_classes": 2, "label_names": ["a", "b"]},
        headers=auth,
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    queued = requests.post(
        f"{served.url}/api/v1/benchmarks/", json={"model": "demo/alpha", "dataset": "tiny", "split": "test"},
        headers=auth, timeout=30,
    )  # fmt: skip
    assert queued.status_code == 202, queued.text
    run_url = urljoin(served.url, queued.json()["url"])
    deadline = time.monotonic() + 240
    while (run := requests.get(run_url, timeout=10).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
    assert run["status"] in ("failed", "succeeded"), run


def test_a_chunked_body_over_the_upload_limit_is_a_413_before_django_spools_it(served):
    """No Content-Length to refuse it by: the server counts the bytes (the throwaway limit is 5 MB)."""
    head = (
        "POST /api/v1/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Authorization: Token {served.token}\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"z" * (1 << 20))
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as connection:
        connection.sendall(head.encode())
        answer = b""
        try:
            for _ in range(12):  # 12 MB, far over 5 MB + 1 MB of framing
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-way, as it should be
        try:
            while part := connection.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
    status, error = status_and_error(answer)
    assert status == 413 and error["detail"] == "body_too_large", answer[:300]
    assert requests.get(f"{served.url}/api/v1/datasets/", timeout=10).json()["count"] == 1
