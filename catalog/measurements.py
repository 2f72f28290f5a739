"""The catalog's port to what the hub measured: benchmark runs and the datasets they run on.

Why a port: evaluation sits above catalog (contract `app-layers` in pyproject.toml). Its runs point at catalog
models, so catalog importing evaluation would make the two apps one tangle again. Yet the catalog needs
measured results: for the derived columns of an entry (verified_top1, verification), for its model page (runs,
claim verdicts, the datasets of the re-check form, measured throughput), for the starter bundle's `verified`
record and to know whether a queued or running run still holds a weights file. So the catalog says here, in
one small Protocol, exactly what it reads; evaluation registers its implementation when Django starts
(evaluation.apps.EvaluationConfig.ready). Reading evaluation's tables from here through ORM reverse relations
or apps.get_model would only hide the same dependency.

Without evaluation registered (an install without it, or a test that unregisters it), NoMeasurements answers:
no runs, no datasets, no file in use. Every claim is then unverifiable and nothing is verified.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol


class MeasuredDataset(Protocol):
    name: str


class MeasuredRun(Protocol):
    """What the catalog reads of a benchmark run (evaluation's BenchmarkRun satisfies it)."""

    pk: int
    dataset: MeasuredDataset
    split: str
    status: str
    top1: float | None
    weights_sha256: str
    dataset_hash: str
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    config: dict[str, Any]
    created: datetime
    finished: datetime | None

    def get_absolute_url(self) -> str: ...


class Measurements(Protocol):
    def runs_for_model(self, *, model_id: int, limit: int) -> list[MeasuredRun]:
        """The model's runs in any state, newest first (the model page's run table)."""
        ...

    def succeeded_runs(self, *, weights_by_model: Mapping[int, str]) -> dict[int, list[MeasuredRun]]:
        """Succeeded runs of each model on the weights given for it (sha256), newest finished first.

        Batched: one read for any number of models, so refreshing the whole catalog stays a few queries.
        """
        ...

    def succeeded_runs_on_dataset(self, *, dataset: str) -> dict[int, list[MeasuredRun]]:
        """Succeeded runs on the dataset named `dataset`, each on its model's current weights, by model id,
        newest finished first. One read, for the leaderboard: its verified column sorts over every model."""
        ...

    def dataset_names(self) -> list[str]:
        """The names of the datasets the hub holds, sorted."""
        ...

    def weights_in_use(self, *, sha256: str) -> bool:
        """True while a queued or running run is about to read the weights file with this sha256."""
        ...


class NoMeasurements:
    """The answer without evaluation: nothing measured, no datasets, no run holding a file."""

    def runs_for_model(self, *, model_id: int, limit: int) -> list[MeasuredRun]:
        return []

    def succeeded_runs(self, *, weights_by_model: Mapping[int, str]) -> dict[int, list[MeasuredRun]]:
        return {}

    def succeeded_runs_on_dataset(self, *, dataset: str) -> dict[int, list[MeasuredRun]]:
        return {}

    def dataset_names(self) -> list[str]:
        return []

    def weights_in_use(self, *, sha256: str) -> bool:
        return False


_registered: Measurements | None = None


def register(measurements: Measurements | None) -> None:
    """Install the implementation the catalog reads from (evaluation does at start-up); None removes it."""
    global _registered
    _registered = measurements


def current() -> Measurements:
    """The registered implementation, or NoMeasurements when none is."""
    return _registered if _registered is not None else NoMeasurements()
