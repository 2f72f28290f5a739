"""A Depot server process on a throwaway var dir (its own SQLite database, media, broker and secret key).

Used by the schemathesis run: whatever the fuzzer creates, changes or deletes lives under that directory,
because every variable that could point elsewhere (DATABASE_URL, CELERY_BROKER_URL, DEPOT_CACHE_URL, ...) is
replaced or removed from the child's environment.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Variables that could point a child process at shared state; they are dropped, then set to throwaway values.
SHARED_STATE_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "DEPOT_CACHE_URL", "DEPOT_MEDIA_ROOT",
                          "DEPOT_VAR_DIR", "DEPOT_SECRET_KEY", "DJANGO_SETTINGS_MODULE")  # fmt: skip

SEED = r"""
import io, json, struct
from pathlib import Path
from PIL import Image
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from catalog import services
from evaluation import services as evaluation_services

user = get_user_model().objects.create_user("fuzz-staff", password="fuzz-staff-pw-1", is_staff=True)
print(Token.objects.create(user=user).key)
for index, (name, params, top1) in enumerate([("alpha", 5_000_000, 71.5), ("beta", 25_000_000, 80.1)]):
    model = services.model_register(
        namespace="demo", name=name, domain="vision", task="image-classification", library="other",
        num_params=params, title=name.title(), summary=f"model {name}", tags="demo,fuzz", license="mit",
    )
    services.claim_record(model=model, dataset="digits", metric="top1", value=top1, split="test")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = Path(f"seed-{index}.safetensors")
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, float(index)))
    services.weights_attach(model=model, path=path, original_name=path.name)
    path.unlink()
root = Path("seed-dataset")
for split in ("test", "validation"):
    for label in ("a", "b"):
        folder = root / split / label
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8), (200 if label == "a" else 20, 0, 0)).save(folder / "0.png")
evaluation_services.dataset_register_directory(name="tiny", root=root.resolve(), title="Tiny")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def throwaway_environment(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SHARED_STATE_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="hub.settings",
        DEPOT_VAR_DIR=str(var_dir),
        DEPOT_MEDIA_ROOT=str(var_dir / "media"),
        CELERY_BROKER_URL=f"sqlalchemy+sqlite:///{var_dir / 'broker.sqlite3'}",
        DEPOT_DEBUG="false",
        # The fuzzer is one client sending thousands of requests; throttling is tested elsewhere.
        DEPOT_API_THROTTLE_ANON="1000000/min",
        DEPOT_API_THROTTLE_USER="1000000/min",
        DEPOT_MAX_UPLOAD_MB="5",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class ThrowawayServer:
    url: str
    token: str
    var_dir: Path
    process: subprocess.Popen
    log_path: Path

    def access_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_command(port: int) -> list[str]:
    """What `make run` serves (scripts/serve.sh): gunicorn with hub/gunicorn_conf.py, uvicorn workers over
    hub.asgi. It logs every request with its status, which is how the caller counts requests and 5xx
    independently of the fuzzer. DEPOT_WEB_WORKERS (1 unless the caller's environment says) sets the processes."""
    return [sys.executable, "-m", "gunicorn", "-c", "python:hub.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]


def prepare(var_dir: Path, **environment: str) -> tuple[dict[str, str], str]:
    """A migrated, seeded var dir: (the server's environment, a staff token). `environment` overrides the
    throwaway defaults (e.g. a rate)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = throwaway_environment(var_dir) | {"DEPOT_WEB_WORKERS": "1"} | environment
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    seeded = subprocess.run(
        [*manage, "shell", "-c", SEED], env=env, cwd=var_dir, check=True, capture_output=True, text=True
    )
    return env, seeded.stdout.strip().splitlines()[-1]


def start(var_dir: Path, **environment: str) -> ThrowawayServer:
    """The server of `prepare`, answering."""
    env, token = prepare(var_dir, **environment)
    port = free_port()
    log_path = var_dir / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            server_command(port), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # each web process imports torch as it starts: slow on a busy machine
    server = ThrowawayServer(url=url, token=token, var_dir=var_dir, process=process, log_path=log_path)
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/schema/?format=json", timeout=5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()  # TERM first: gunicorn stops its workers (a KILL would orphan them)
                raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}") from None
            time.sleep(0.3)
    return server
