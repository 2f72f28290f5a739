"""The first write on a fresh web process, with the ML stack imported as the process starts (hub/startup.py,
what `make run` serves) and without (Django's bare ASGI application: what every process did before).

For each, a throwaway server (tests/security/throwaway_server.py: gunicorn, one uvicorn worker, its own var dir)
is started, and a staff client registers a timm model and uploads its safetensors weights twice, each time to a
new entry. The upload checks the file against the architecture with timm, so it needs torch and timm. Before
any request, the benchmark waits for the worker to have loaded the application ("ready"), then times two reads
and two writes: what the first of each pays over the second is what the process left for its first request.
Run: .venv/bin/python benchmarks/first_request.py
"""

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security import throwaway_server  # noqa: E402

ARCHITECTURE = "test_resnet"
# Django's ASGI application without hub/startup.py's import: the web process as it was before.
COLD_APPLICATION = "django.core.asgi:get_asgi_application()"


def weights_file(directory: Path) -> Path:
    import safetensors.torch
    import timm

    path = directory / f"{ARCHITECTURE}.safetensors"
    model = timm.create_model(ARCHITECTURE, pretrained=False, num_classes=10)
    safetensors.torch.save_file(model.state_dict(), str(path))
    return path


def call(url: str, token: str, *, body: bytes, content_type: str) -> float:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": content_type},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()
    return time.perf_counter() - started


def register_and_upload(server: throwaway_server.ThrowawayServer, weights: Path) -> tuple[float, float]:
    name = f"first-{uuid.uuid4().hex[:8]}"
    entry = {
        "namespace": "bench", "name": name, "domain": "vision", "task": "image-classification", "library": "timm",
        "architecture": ARCHITECTURE, "num_classes": 10,
    }  # fmt: skip
    registered = call(
        f"{server.url}/api/v1/models/",
        server.token,
        body=json.dumps(entry).encode(),
        content_type="application/json",
    )
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{weights.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + weights.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    uploaded = call(
        f"{server.url}/api/v1/models/bench/{name}/weights/", server.token, body=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )  # fmt: skip
    return registered, uploaded


def start(var_dir: Path, application: str | None) -> tuple[throwaway_server.ThrowawayServer, float]:
    """The server, once its worker process has loaded the application (its "Started server process" line), and
    the seconds that took; no request has been sent to it yet."""
    env, token = throwaway_server.prepare(var_dir)
    port = throwaway_server.free_port()
    log_path = var_dir / "server.log"
    command = throwaway_server.server_command(port) + ([application] if application else [])
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = throwaway_server.ThrowawayServer(
        url=f"http://127.0.0.1:{port}", token=token, var_dir=var_dir, process=process, log_path=log_path
    )
    while "Started server process" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.perf_counter() - started > 300:
            server.stop()
            raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)
    return server, time.perf_counter() - started


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
    return time.perf_counter() - started


def measure(label: str, application: str | None, work: Path, weights: Path) -> dict:
    server, startup = start(work / label, application)
    try:
        reads = [get(f"{server.url}/api/v1/models/") for _ in range(2)]
        first = register_and_upload(server, weights)
        second = register_and_upload(server, weights)
    finally:
        server.stop()
    return {"label": label, "startup": startup, "reads": reads, "first": first, "second": second}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = weights_file(work)
        rows = [
            measure("before (bare Django ASGI app)", COLD_APPLICATION, work, weights),
            measure("after (hub.asgi, ML stack at start)", None, work, weights),
        ]
    load = subprocess.run(["cat", "/proc/loadavg"], capture_output=True, text=True).stdout.split()[0]
    print(f"A fresh web process (load average {load}); seconds")
    print(f"{'server':38} {'ready':>6} {'1st read':>9} {'2nd read':>9} {'1st write':>10} {'2nd write':>10}")
    for row in rows:
        first_write, second_write = sum(row["first"]), sum(row["second"])
        print(
            f"{row['label']:38} {row['startup']:6.2f} {row['reads'][0]:9.3f} {row['reads'][1]:9.3f} "
            f"{first_write:10.3f} {second_write:10.3f}  (register {row['first'][0]:.3f} + upload {row['first'][1]:.3f})"
        )
    print(
        "(a write: register a timm model, then upload its safetensors weights, checked against the architecture)"
    )


if __name__ == "__main__":
    main()
