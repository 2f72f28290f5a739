"""Demo models trained once per test run and shared by every test process that needs the same one.

Training is deterministic (demo/training.py pins seeds, threads and algorithms), so a model trained for one test
is the model any other test would train from the same spec, seed and data. The first process to ask trains it
into a cache directory of the run (under an exclusive file lock, so parallel workers wait instead of training it
twice); later requests copy the written files into the caller's out_dir and get the same DemoTrainResult,
with its paths pointing there. Tests of training itself (epochs reported, determinism) call the real function.
"""

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.datasets import dataset_content_hash
from demo.training import DemoModelSpec, DemoTrainResult, ProgressCallback, train_demo_model

PATH_FIELDS = ("model_dir", "weights_path", "config_path", "card_path")
RESULT_FILE = "result.json"


def run_cache_root(tmp_path_factory) -> Path:
    """A directory shared by every process of this run: xdist workers' base temp dirs sit side by side."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "trained-demo-models"
    root.mkdir(exist_ok=True)
    return root


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_key(spec: DemoModelSpec, seed: int, data_root: Path) -> str:
    identity = f"{spec!r}|seed={seed}|data={dataset_content_hash(data_root)}"
    return f"{spec.slug}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def _save(result: DemoTrainResult, entry: Path) -> None:
    fields = dataclasses.asdict(result)
    fields.pop("spec")
    for name in PATH_FIELDS:
        fields[name] = str(Path(fields[name]).relative_to(result.model_dir))
    (entry / RESULT_FILE).write_text(json.dumps(fields), encoding="utf-8")


def _load(spec: DemoModelSpec, entry: Path, out_dir: Path) -> DemoTrainResult:
    fields = json.loads((entry / RESULT_FILE).read_text(encoding="utf-8"))
    shutil.copytree(entry / "model", out_dir, dirs_exist_ok=True)
    for name in PATH_FIELDS:
        fields[name] = out_dir / fields[name]
    return DemoTrainResult(spec=spec, **fields)


class DemoTrainer:
    """A drop-in for demo.training.train_demo_model that trains each distinct model once per test run."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(
        self,
        spec: DemoModelSpec,
        *,
        data_root: Path,
        out_dir: Path,
        seed: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> DemoTrainResult:
        entry = self.root / _cache_key(spec, seed, Path(data_root))
        with exclusive_lock(entry.with_suffix(".lock")):
            if not (entry / RESULT_FILE).exists():
                result = train_demo_model(
                    spec, data_root=data_root, out_dir=entry / "model", seed=seed, on_progress=on_progress
                )
                _save(result, entry)
        return _load(spec, entry, Path(out_dir))
