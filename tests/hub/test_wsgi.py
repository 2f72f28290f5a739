"""The web process as gunicorn loads it: the ML stack imported at start, and only the default hosts allowed."""

import json
import os
import subprocess
import sys
import textwrap

from django.conf import settings

from hub.wsgi import ML_MODULES

PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    import hub.wsgi
    from django.conf import settings
    print(json.dumps({"loaded": [m for m in hub.wsgi.ML_MODULES if m in sys.modules],
                      "views_loaded": "catalog.api.views" in sys.modules,
                      "allowed_hosts": settings.ALLOWED_HOSTS, "seconds": time.perf_counter() - started}))
    """
)


def load_like_gunicorn(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DEPOT_", "DJANGO_"))}
    env["DEPOT_VAR_DIR"] = str(tmp_path / "var")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_imports_the_ml_stack_when_the_process_starts_not_on_the_first_request(tmp_path):
    loaded = load_like_gunicorn(tmp_path)
    print(f"hub.wsgi loaded with the ML stack in {loaded['seconds']:.1f} s")
    assert loaded["loaded"] == list(ML_MODULES)
    assert loaded["views_loaded"]  # the URL patterns too, which the first request would otherwise read
    assert {"torch", "timm"} <= set(ML_MODULES)


def test_the_default_hosts_do_not_include_the_test_clients_name(tmp_path):
    assert load_like_gunicorn(tmp_path)["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
