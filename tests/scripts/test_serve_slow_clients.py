"""Slow clients against the server `make run` starts (scripts/serve.sh): 200 connections that send one header
line every few seconds neither delay ordinary requests nor stay open past the header timeout.

With gunicorn's sync workers (before hub/server.py) four such connections stalled every other request.
"""

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from tests.scripts.test_serve import ROOT, free_port, interruptible, wait_for_page
from tests.security.throwaway_server import throwaway_environment

SLOW_CONNECTIONS = 200
HEADER_LINE_EVERY = 2.0  # seconds between two header lines of a slow client
HEADER_TIMEOUT = 6.0  # DEPOT_HTTP_HEADER_TIMEOUT for this server (default 10)
ORDINARY_EVERY = 0.25


@pytest.fixture
def served(tmp_path):
    """scripts/serve.sh on a throwaway var dir and a free port (its base URL); stopped with Ctrl-C."""
    var_dir = tmp_path / "var"
    env = throwaway_environment(var_dir) | {
        "HOST": "127.0.0.1", "PORT": str(free_port()), "DEPOT_WEB_WORKERS": "2",
        "DEPOT_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }  # fmt: skip
    var_dir.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    log_path = var_dir / "serve.out"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["scripts/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=interruptible,
        )  # fmt: skip
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        assert wait_for_page(f"{url}/api/v1/models/", process, 120).status_code == 200
        yield url
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
    import requests

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
    events = [asyncio.Event() for _ in range(SLOW_CONNECTIONS)]
    slow = [asyncio.create_task(slow_client(port, event)) for event in events]
    await asyncio.gather(*(event.wait() for event in events))
    ordinary = await ordinary_requests_while(url, time.monotonic() + HEADER_TIMEOUT - 1)
    return await asyncio.gather(*slow), ordinary


@pytest.mark.long(seconds=60)
@pytest.mark.slow
def test_200_slow_clients_neither_delay_ordinary_requests_nor_outstay_the_header_timeout(served):
    url = served
    slow, ordinary = asyncio.run(slowloris(url))

    latencies = sorted(seconds for seconds, _ in ordinary)
    open_for = sorted(seconds for seconds, _ in slow)
    print(
        f"{SLOW_CONNECTIONS} slow connections: ordinary requests meanwhile {len(ordinary)}, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"slow ones cut off after {open_for[0]:.1f}-{open_for[-1]:.1f} s (header timeout {HEADER_TIMEOUT:g} s)"
    )
    assert {status for _, status in ordinary} == {200}
    assert len(ordinary) >= 10
    assert latencies[-1] < 1.0
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in slow), {a[:40] for _, a in slow}
    assert open_for[0] >= HEADER_TIMEOUT - 0.5 and open_for[-1] <= HEADER_TIMEOUT + 3
    assert b'"detail": "timeout"' in slow[0][1]
