"""schemathesis over every API operation, anonymous and with a staff token, against a live server on a
throwaway database: zero 5xx, zero responses that break the schema, zero schema-invalid input accepted, zero
schema-valid input refused, at least 2,000 requests in all.

The server is a separate process whose var dir (SQLite database, media, broker, secret key) is under
tmp_path, so the fuzzer's creates, edits and deletes cannot reach anything else; the test checks that the
checkout's own var/ is untouched afterwards.

Every check runs, with the configuration in tests/security/schemathesis.toml. positive_data_acceptance allows
its defaults (2xx, 401, 403, 404, 409, 429) everywhere; these operations may also answer schema-valid input
with a 400, for a reason an OpenAPI schema cannot state (it depends on what the hub stores, or on several
fields together), which the 400's message names:
- v1_models_create, v1_models_partial_update: the id is taken (in any letter case); a Hugging Face source needs
  a pinned commit; label_names must name num_classes classes; mean and std need one value per input_size
  channel (at most 4); a base_model cannot be the entry itself.
- v1_models_list: claim_dataset must name a dataset some entry claims a top-1 on.
- v1_models_weights_create: the file must really be a safetensors file (or a checkpoint converted with
  convert_pickle) that fits the architecture; the schema can only say `binary`.
- v1_datasets_create: the file must really be an ImageFolder zip or a text dataset, the name free.
- v1_benchmarks_create, v1_transfer_rankings_create: the model and the dataset must exist, the split be one of
  the dataset's.
- v1_models_mirror_weights_create: the entry must have a Hugging Face repository and a pinned commit.
- v1_models_starter_bundle_retrieve, v1_models_starter_bundle_create: num_classes or class_names is required
  (and they must agree), warmup_epochs at most epochs; the model needs stored weights and a timm architecture.
negative_data_rejection runs with its defaults: JSON bodies are held to their documented types
(hub/strict_json.py), so no "1.5" passes for a number.
"""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.security import throwaway_server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MIN_REQUESTS = 2_000
CONFIG = Path(__file__).with_name("schemathesis.toml")
ACCESS_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|TRACE|\S+) (\S+)[^"]*" (\d{3})\b')


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Files of the checkout's own var dir (minus per-process test databases and temp files)."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith("test-depot-") and "tmp" not in path.parts
    }


def run_schemathesis(server: throwaway_server.ThrowawayServer, *, label: str, headers: list[str]) -> str:
    command = [
        SCHEMATHESIS, "--config-file", str(CONFIG), "run", f"{server.url}/api/schema/?format=json",
        "--url", server.url, "--max-examples", "6", "--seed", "20261122",
        "--workers", "1", "--phases", "examples,coverage,fuzzing,stateful", "--request-timeout", "30",
        *headers,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=server.var_dir)
    output = result.stdout + result.stderr
    summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
    print(f"schemathesis ({label}): exit {result.returncode}; {summary.group(1) if summary else '?'}")
    assert result.returncode == 0, output[-12000:]
    assert "No issues found" in output or "passed" in output, output[-3000:]
    return output


@pytest.mark.long(seconds=160)
@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path, settings):
    # The configuration widens expected statuses per operation; it never turns a check off.
    assert "enabled" not in CONFIG.read_text() and "exclude" not in CONFIG.read_text()
    own_var = Path(settings.BASE_DIR) / "var"
    before = snapshot(own_var)
    env = throwaway_server.throwaway_environment(tmp_path / "var")
    assert "DATABASE_URL" not in env and "DEPOT_CACHE_URL" not in env
    assert all(
        str(tmp_path) in env[key] for key in ("DEPOT_VAR_DIR", "DEPOT_MEDIA_ROOT", "CELERY_BROKER_URL")
    )

    server = throwaway_server.start(tmp_path / "var")
    try:
        run_schemathesis(server, label="anonymous", headers=[])
        run_schemathesis(server, label="staff token", headers=["-H", f"Authorization: Token {server.token}"])
    finally:
        server.stop()

    requests = [match.groups() for match in ACCESS_LINE.finditer(server.access_log())]
    statuses = Counter(status for _, _, status in requests)
    print(f"requests served: {len(requests)}; by status: {dict(sorted(statuses.items()))}")
    server_errors = [(method, path, status) for method, path, status in requests if status.startswith("5")]
    assert server_errors == []
    assert len(requests) >= MIN_REQUESTS
    assert sum(count for status, count in statuses.items() if status.startswith("2")) > 50  # it got past auth
    assert snapshot(own_var) == before
