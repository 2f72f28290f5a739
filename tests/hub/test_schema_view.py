"""The schema endpoint answers concurrent first requests: drf-spectacular loads its extensions lazily and not
thread-safely, which made one of two simultaneous first requests in a fresh process a 500 (seen under load
when a client retried a slow first schema request on a threaded gunicorn worker)."""

import json
import os
import subprocess
import sys
import textwrap

from django.conf import settings

FIRST_REQUESTS_AT_ONCE = textwrap.dedent(
    """
    import json, threading
    import django
    django.setup()
    from django.test import Client
    statuses, start = [], threading.Barrier(8)
    def fetch():
        start.wait()
        statuses.append(Client().get("/api/schema/?format=json").status_code)
    threads = [threading.Thread(target=fetch) for _ in range(8)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    print(json.dumps(statuses))
    """
)


def test_eight_simultaneous_first_schema_requests_all_succeed(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DEPOT_", "DJANGO_"))}
    env.update(DEPOT_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="hub.settings")
    env["DEPOT_ALLOWED_HOSTS"] = "testserver"
    result = subprocess.run(
        [sys.executable, "-c", FIRST_REQUESTS_AT_ONCE],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200] * 8, result.stderr[-3000:]
