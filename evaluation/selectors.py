"""Reads for evaluation: datasets and runs, shared by pages and the API, and the catalog's measurements.

Claim verdicts are the catalog's (catalog.selectors.claim_verdicts): it reads runs through the port below.
"""

from collections.abc import Mapping

from django.db.models import F, QuerySet

from catalog.measurements import Measurements
from catalog.models import AccuracyClaim
from core.verdict import TOP1_METRICS
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus


def dataset_list() -> QuerySet[EvalDataset]:
    return EvalDataset.objects.order_by("name")


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
