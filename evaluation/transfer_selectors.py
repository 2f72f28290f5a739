"""Reads for transfer rankings: the jobs, their candidates in rank order, and the catalog filter for candidates."""

from django.db.models import Prefetch, QuerySet

from catalog.models import ModelEntry
from evaluation.models import TransferCandidate, TransferRanking


def ranking_queryset() -> QuerySet[TransferRanking]:
    # Candidates come in TransferCandidate's Meta order: ranked ones by rank, then the unscored by position.
    return (
        TransferRanking.objects.select_related("dataset", "requested_by")
        .prefetch_related(Prefetch("candidates", queryset=TransferCandidate.objects.select_related("model")))
        .order_by("-created", "-pk")  # the id breaks ties, so pages neither repeat nor skip a row
    )


def ranking_get(*, ranking_id: int) -> TransferRanking:
    """Raises TransferRanking.DoesNotExist."""
    return ranking_queryset().get(pk=ranking_id)


def candidate_models_matching(
    *,
    domain: str | None = None,
    task: str | None = None,
    max_params: int | None = None,
    max_gmacs: float | None = None,
    limit: int,
) -> list[ModelEntry]:
    """timm models of the catalog that pass the filter, smallest first; those without weights included (the
    ranking reports them), those of unknown size excluded when a size bound is given."""
    queryset = ModelEntry.objects.select_related("weights").filter(library="timm").exclude(architecture="")
    if domain:
        queryset = queryset.filter(domain=domain)
    if task:
        queryset = queryset.filter(task=task)
    if max_params is not None:
        queryset = queryset.filter(num_params__lte=max_params)
    if max_gmacs is not None:
        queryset = queryset.filter(gmacs__lte=max_gmacs)
    return list(queryset.order_by("num_params", "namespace", "name")[:limit])
