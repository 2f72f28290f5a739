"""Reads for evaluation: datasets, runs and the verdict on every claim, shared by pages and the API."""

from dataclasses import dataclass

from django.db.models import QuerySet

from catalog.models import AccuracyClaim, Metric, ModelEntry
from core.verdict import DEFAULT_TOLERANCE, judge
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus


def dataset_list() -> QuerySet[EvalDataset]:
    return EvalDataset.objects.order_by("name")


def run_queryset() -> QuerySet[BenchmarkRun]:
    return BenchmarkRun.objects.select_related("model", "dataset", "requested_by").order_by("-created")


def runs_for_model(*, model: ModelEntry, limit: int = 20) -> list[BenchmarkRun]:
    return list(run_queryset().filter(model=model)[:limit])


@dataclass(frozen=True)
class ClaimVerdict:
    claim: AccuracyClaim
    status: str  # verified | disagrees | unverifiable | pending (dataset here, not measured yet)
    measured: float | None
    delta: float | None
    tolerance: float
    run: BenchmarkRun | None


def claim_verdicts(*, model: ModelEntry) -> list[ClaimVerdict]:
    """A verdict for every top-1 claim: measured by the hub on the same dataset and split, or why not."""
    datasets = set(EvalDataset.objects.values_list("name", flat=True))
    runs = list(
        BenchmarkRun.objects.filter(
            model=model, status=RunStatus.SUCCEEDED, weights_sha256=getattr(model.weights, "sha256", "")
        )
        .select_related("dataset")
        .order_by("-finished")
    )
    verdicts = []
    for claim in model.claims.all():
        if claim.metric not in (Metric.TOP1, Metric.ACCURACY):
            continue
        run = next((r for r in runs if r.dataset.name == claim.dataset and r.split == claim.split), None)
        if run is not None:
            verdict = judge(claim.value, run.top1)
            verdicts.append(
                ClaimVerdict(claim, verdict.status.value, run.top1, verdict.delta, verdict.tolerance, run)
            )
        else:
            status = "pending" if claim.dataset in datasets else "unverifiable"
            verdicts.append(ClaimVerdict(claim, status, None, None, DEFAULT_TOLERANCE, None))
    return verdicts
