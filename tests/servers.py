"""Throwaway PostgreSQL and Redis servers for the test suite, when none answers on the configured address.

`make test` must pass on a machine where nothing is running. A server that answers is used as it is; otherwise
one is started from Debian's binaries (scripts/ensure-servers.sh installs them) in a temporary directory on a
free port and stopped when the test session ends. A server that can be neither reached nor started is an
error, never a skip.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Debian's PostgreSQL refuses to run as root; the throwaway cluster runs as this user then.
POSTGRES_RUN_AS = "postgres"


class ServerUnavailable(RuntimeError):
    pass


def test_worker_index() -> int:
    """0 in a serial run; N in pytest-xdist's worker gwN (the variable xdist sets in each worker process)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


def without_test_worker_identity(env: dict[str, str]) -> dict[str, str]:
    """A child pytest run is a run of its own, not one of this run's xdist workers."""
    return {key: value for key, value in env.items() if not key.startswith("PYTEST_XDIST_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_reachable(host: str, port: int, process: subprocess.Popen, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(
                f"{process.args[0]} exited ({process.returncode}): {log.read_text()[-2000:]}"
            )
        if reachable(host, port, timeout=0.5):
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"{process.args[0]} did not listen on {host}:{port} within {seconds} s")


@dataclass
class ThrowawayServer:
    """A server process this test session started; stop() ends it and removes its files."""

    url: str
    process: subprocess.Popen
    directory: Path
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PostgreSQL: fast shutdown; Redis: shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def kill(self) -> None:
        """Crash it (tests of a broker that goes away)."""
        self.process.kill()
        self.process.wait()


def _binary(name: str, pattern: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(pattern), reverse=True)), None)
    if not found:
        raise ServerUnavailable(f"{name} not found: run scripts/ensure-servers.sh (make test does)")
    return found


def start_redis(port: int | None = None, directory: Path | None = None) -> ThrowawayServer:
    """redis-server on 127.0.0.1, no persistence, in its own directory."""
    port = port or free_port()
    directory = directory or Path(tempfile.mkdtemp(prefix="depot-redis-"))
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    process = subprocess.Popen(
        [_binary("redis-server", "/usr/bin/redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(directory), "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until_reachable("127.0.0.1", port, process, 20, log)
    return ThrowawayServer(f"redis://127.0.0.1:{port}", process, directory, port)


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={POSTGRES_RUN_AS}", f"--regid={POSTGRES_RUN_AS}", "--init-groups"]


def start_postgres() -> ThrowawayServer:
    """A fresh cluster (trust auth, user postgres) on a free port, its socket and data in a temp directory."""
    initdb = _binary("initdb", "/usr/lib/postgresql/*/bin/initdb")
    postgres = str(Path(initdb).with_name("postgres"))
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="depot-postgres-"))
    data = directory / "data"
    if os.geteuid() == 0:
        shutil.chown(directory, POSTGRES_RUN_AS, POSTGRES_RUN_AS)
    log = directory / "postgres.log"
    subprocess.run(
        [*_as_postgres_user(), initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-sync", "--no-instructions"],
        check=True, capture_output=True,
    )  # fmt: skip
    with open(log, "w") as log_file:
        if os.geteuid() == 0:
            shutil.chown(log, POSTGRES_RUN_AS, POSTGRES_RUN_AS)
        # Durability off: a test cluster is thrown away, and fsync would dominate on a shared disk.
        process = subprocess.Popen(
            [*_as_postgres_user(), postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
             "-k", str(directory), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until_reachable("127.0.0.1", port, process, 60, log)
    return ThrowawayServer(f"postgres://postgres@127.0.0.1:{port}/depot", process, directory, port)


def _address(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def ensure_postgres(url: str) -> tuple[str, ThrowawayServer | None]:
    """(the URL to use, the server started for it or None when the configured one answers)."""
    if reachable(*_address(url, 5432)):
        return url, None
    server = start_postgres()
    database = urlsplit(url).path or "/depot"
    parts = urlsplit(server.url)
    return urlunsplit(parts._replace(path=database)), server


def ensure_redis(url: str) -> tuple[str, ThrowawayServer | None]:
    """(the base URL to use, without a db number; the server started for it or None)."""
    if reachable(*_address(url, 6379)):
        return url.rstrip("/"), None
    server = start_redis()
    return server.url, server
