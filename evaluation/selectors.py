"""Reads for evaluation: datasets and runs, shared by pages and the API, and the catalog's measurements.

Claim verdicts are the catalog's (catalog.selectors.claim_verdicts): it reads runs through the port below.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from catalog.measurements import Measurements
from catalog.models import AccuracyClaim
from core.verdict import TOP1_METRICS
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus


def dataset_list() -> QuerySet[EvalDataset]:
    """Datasets in use: one being deleted (its files going) is hidden from lists, pages and re-checks."""
    return EvalDataset.objects.filter(deleting__isnull=True).order_by("name")


def dataset_roots() -> set[Path]:
    """Every dataset row's root, resolved, those being deleted included (their job removes them)."""
    return {Path(root).resolve() for root in EvalDataset.objects.values_list("root", flat=True)}


@dataclass(frozen=True)
class Orphan:
    """Something under MEDIA_ROOT/datasets/ (or an upload spool leftover) that no dataset row references."""

    path: Path
    bytes: int
    changed: datetime  # the newest modification inside it: an extraction in progress keeps this recent
    fresh: bool  # changed within the grace period: perhaps an upload being extracted right now; kept


def _size_and_newest(path: Path) -> tuple[int, float]:
    """Total bytes and newest mtime of a file or tree, never following symlinks."""
    stat = path.lstat()
    folder = path.is_dir() and not path.is_symlink()
    total, newest = (0 if folder else stat.st_size), stat.st_mtime  # a folder's own entry is no file's bytes
    if folder:
        for directory, dirnames, filenames in os.walk(path):
            for name in [*dirnames, *filenames]:
                with_stat = (Path(directory) / name).lstat()
                total += with_stat.st_size if name in filenames else 0
                newest = max(newest, with_stat.st_mtime)
    return total, newest


def dataset_orphans(*, grace: timedelta, now: datetime | None = None) -> list[Orphan]:
    """Entries under MEDIA_ROOT/datasets/ that no dataset row references, and leftovers in the upload spool
    (FILE_UPLOAD_TEMP_DIR: a spool file outlives its request only when the process died), with their sizes.
    Those changed within `grace` are marked fresh: an upload may be extracting into one right now."""
    now = now or timezone.now()
    referenced = dataset_roots()
    candidates = []
    for place in (Path(settings.MEDIA_ROOT) / "datasets", Path(settings.FILE_UPLOAD_TEMP_DIR)):
        if place.is_dir():
            candidates += [path for path in sorted(place.iterdir()) if path.resolve() not in referenced]
    orphans = []
    for path in candidates:
        try:
            size, newest = _size_and_newest(path)
        except FileNotFoundError:  # removed while we looked: not an orphan any more
            continue
        changed = datetime.fromtimestamp(newest, tz=now.tzinfo)
        orphans.append(Orphan(path=path, bytes=size, changed=changed, fresh=now - changed < grace))
    return orphans


def claims_to_recheck(
    *, datasets: list[str] | None = None, model_pattern: str = ""
) -> QuerySet[AccuracyClaim]:
    """Top-1 claims on a dataset this hub holds (or on those of `datasets`), of models whose name contains
    model_pattern, in model and dataset order: what a batch re-check of the catalog goes through. Models without
    stored weights are included; the caller reports them (their weights must be fetched first)."""
    names = list(dataset_list().values_list("name", flat=True))
    if datasets:
        names = [name for name in names if name in datasets]
    claims = AccuracyClaim.objects.filter(metric__in=TOP1_METRICS, dataset__in=names)
    if model_pattern:
        claims = claims.filter(model__name__icontains=model_pattern)
    return claims.select_related("model__weights").order_by("model__namespace", "model__name", "dataset")


def run_queryset() -> QuerySet[BenchmarkRun]:
    return BenchmarkRun.objects.select_related("model", "dataset", "requested_by").order_by("-created")


class RunMeasurements(Measurements):
    """evaluation's answer to catalog.measurements.Measurements, registered by EvaluationConfig.ready()."""

    def runs_for_model(self, *, model_id: int, limit: int) -> list[BenchmarkRun]:
        return list(run_queryset().filter(model_id=model_id)[:limit])

    def succeeded_runs(self, *, weights_by_model: Mapping[int, str]) -> dict[int, list[BenchmarkRun]]:
        runs: dict[int, list[BenchmarkRun]] = {}
        if not weights_by_model:
            return runs
        candidates = (
            BenchmarkRun.objects.filter(
                model_id__in=list(weights_by_model),
                status=RunStatus.SUCCEEDED,
                weights_sha256__in=set(weights_by_model.values()),
            )
            .select_related("dataset")
            .order_by("-finished", "-pk")
        )
        for run in candidates:
            # The filter matched any listed sha256; a run counts only on its own model's current weights.
            if weights_by_model[run.model_id] == run.weights_sha256:
                runs.setdefault(run.model_id, []).append(run)
        return runs

    def succeeded_runs_on_dataset(self, *, dataset: str) -> dict[int, list[BenchmarkRun]]:
        runs: dict[int, list[BenchmarkRun]] = {}
        # Only runs on the weights the model holds now: a run on replaced weights verifies nothing.
        candidates = (
            BenchmarkRun.objects.filter(
                dataset__name=dataset,
                status=RunStatus.SUCCEEDED,
                weights_sha256=F("model__weights__sha256"),
            )
            .select_related("dataset")
            .order_by("-finished", "-pk")
        )
        for run in candidates:
            runs.setdefault(run.model_id, []).append(run)
        return runs

    def dataset_names(self) -> list[str]:
        return list(dataset_list().values_list("name", flat=True))

    def weights_in_use(self, *, sha256: str) -> bool:
        return BenchmarkRun.objects.filter(
            weights_sha256=sha256, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        ).exists()
