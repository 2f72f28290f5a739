"""scripts/serve.sh (what `make run` runs): gunicorn with uvicorn workers + a Celery worker; SIGINT stops both."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every process below pid, read from /proc (children of each thread)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(child) for child in (task / "children").read_text().split()}
            except OSError:
                continue
            pending.extend(children - found)
            found |= children
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def interruptible() -> None:
    """SIGINT back to its default in the child, as in a terminal: a test run started in the background (nohup,
    `cmd &` in a script) inherits SIGINT ignored, and a shell cannot trap a signal ignored at its start."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_page(
    url: str, process: subprocess.Popen, seconds: float, read_timeout: float = 60
) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve.sh exited before serving"
        try:
            return requests.get(url, timeout=read_timeout)
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered on {url} within {seconds} s")


@pytest.fixture
def var_dir(tmp_path) -> Path:
    var = tmp_path / "var"
    env = {**os.environ, "DEPOT_VAR_DIR": str(var)}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    return var


@pytest.mark.parametrize("ctrl_c_to", ["script", "process group"])
def test_serve_answers_with_gunicorn_serves_static_files_and_sigint_stops_everything(var_dir, ctrl_c_to):
    """Ctrl-C in a terminal signals the whole foreground process group; `kill -INT` only the script."""
    port = free_port()
    env = {**os.environ, "DEPOT_VAR_DIR": str(var_dir), "HOST": "127.0.0.1", "PORT": str(port),
           "DEPOT_WEB_WORKERS": "2"}  # fmt: skip
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    log = open(var_dir / "serve.out", "w")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(
        ["scripts/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=interruptible,
    )  # fmt: skip
    try:
        # The first answer waits for a worker that imports torch: minutes on a busy 2-core machine.
        page = wait_for_page(f"http://127.0.0.1:{port}/", process, 300, read_timeout=240)
        assert page.status_code == 200
        assert "Server" not in page.headers, page.headers  # no version banner
        assert "Using worker: hub.server.DepotUvicornWorker" in (var_dir / "serve.out").read_text()
        css = requests.get(f"http://127.0.0.1:{port}/static/depot/depot.css", timeout=5)
        assert css.status_code == 200
        assert css.content == (ROOT / "static" / "depot" / "depot.css").read_bytes()
        assert "max-age" in css.headers.get("Cache-Control", ""), "static files are not served by WhiteNoise"

        processes = {pid: command_line(pid) for pid in descendants(process.pid)}
        web = [pid for pid, cmd in processes.items() if "gunicorn" in cmd]
        worker = [pid for pid, cmd in processes.items() if "celery" in cmd]
        assert len(web) >= 1 + 2, processes  # the arbiter and two workers
        assert worker, processes

        if ctrl_c_to == "script":
            process.send_signal(signal.SIGINT)
        else:
            os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in processes):
            time.sleep(0.2)
        left = {pid: processes[pid] for pid in processes if alive(pid)}
        assert not left, f"still running after SIGINT: {left}"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        print((var_dir / "serve.out").read_text()[-3000:])
