"""The direction of imports (README, "Development"): import-linter's contracts from pyproject.toml hold.

The core is Django-free, catalog never imports evaluation or demo, and hub's shared helpers import no app. The
same contracts run in `make lint`; here they also guard the test run, with the broken imports in the message.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> list[str]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [contract["id"] for contract in config["tool"]["importlinter"]["contracts"]]


def test_the_contracts_cover_the_core_and_the_app_layers():
    assert {"core-is-django-free", "app-layers", "hub-helpers-import-no-app"} <= set(_contracts())


@pytest.mark.parametrize("contract", _contracts())
def test_import_contract_is_kept(contract):
    result = subprocess.run(
        [str(LINT_IMPORTS), "--contract", contract, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout


def test_the_core_really_runs_without_django():
    """The static contract could miss a dynamic import: import every core module in a fresh interpreter
    where importing django fails, and check no Depot app was loaded either."""
    script = """
import importlib, pkgutil, sys

class NoDjango:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"django", "rest_framework", "celery", "catalog", "evaluation", "hub"}:
            raise ImportError(f"the core imported {name}")
        return None

sys.meta_path.insert(0, NoDjango())
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    if ".template" not in module.name:  # the bundle template is files copied into a zip, not a package
        importlib.import_module(module.name)
importlib.import_module("demo.training")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
