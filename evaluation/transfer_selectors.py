"""Reads for transfer rankings: the jobs, their candidates in rank order, and the catalog filter for candidates."""

from django.db.models import Prefetch, QuerySet

from catalog.models import Domain, Library, ModelEntry
from evaluation.models import Modality, TransferCandidate, TransferRanking


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
    modality: str = Modality.IMAGE,
    limit: int,
) -> list[ModelEntry]:
    """Catalog models of the modality (timm models for images, nlp transformers models for texts) that pass the
    filter, smallest first; those without weights included (the ranking reports them), those of unknown size
    excluded when a size bound is given."""
    queryset = _candidates(
        domain=domain, task=task, max_params=max_params, max_gmacs=max_gmacs, modality=modality
    )
    return list(queryset.select_related("weights").order_by("num_params", "namespace", "name")[:limit])


def candidate_models_count(
    *, domain: str | None = None, task: str | None = None, max_params: int | None = None,
    max_gmacs: float | None = None, modality: str = Modality.IMAGE,
) -> int:  # fmt: skip
    """How many models the filter matches (to tell a user how far a too-broad filter is from the limit)."""
    return _candidates(
        domain=domain, task=task, max_params=max_params, max_gmacs=max_gmacs, modality=modality
    ).count()


def _candidates(
    *, domain: str | None, task: str | None, max_params: int | None, max_gmacs: float | None, modality: str
) -> QuerySet[ModelEntry]:
    if modality == Modality.TEXT:  # what a text ranking can load: transformers directories of the nlp domain
        queryset = ModelEntry.objects.filter(library=Library.TRANSFORMERS, domain=Domain.NLP)
    else:
        queryset = ModelEntry.objects.filter(library="timm").exclude(architecture="")
    if domain:
        queryset = queryset.filter(domain=domain)
    if task:
        queryset = queryset.filter(task=task)
    if max_params is not None:
        queryset = queryset.filter(num_params__lte=max_params)
    if max_gmacs is not None:
        queryset = queryset.filter(gmacs__lte=max_gmacs)
    return queryset


# Past rankings the time estimate reads: enough to smooth out one odd job, recent enough to be this machine.
ESTIMATE_RANKINGS = 20


def ranking_time_estimate(*, modality: str = Modality.IMAGE) -> dict | None:
    """Seconds per candidate per image and, for the baseline, per image per epoch: medians over the newest
    succeeded rankings on this hub, on data of the modality (a text's features and a TF-IDF baseline cost
    nothing like an image's). None before the first one (the page then says it has no figures yet)."""
    recent = list(
        TransferRanking.objects.filter(status="succeeded", num_images__gt=0, dataset__modality=modality)
        .order_by("-finished", "-pk")
        .values("pk", "num_images", "baseline")[:ESTIMATE_RANKINGS]
    )
    if not recent:
        return None
    images = {row["pk"]: row["num_images"] for row in recent}
    per_candidate = [
        seconds / images[ranking_id]
        for ranking_id, seconds in TransferCandidate.objects.filter(
            ranking_id__in=list(images), status="scored", seconds__isnull=False
        ).values_list("ranking_id", "seconds")
    ]
    per_baseline = [
        row["baseline"]["seconds"] / row["num_images"] / max(1, row["baseline"]["config"].get("epochs", 1))
        for row in recent
        if row["baseline"] and row["baseline"].get("seconds") and row["baseline"].get("config")
    ]
    if not per_candidate:
        return None
    return {
        "rankings": len(recent),
        "candidate_seconds_per_image": _median(per_candidate),
        "baseline_seconds_per_image_epoch": _median(per_baseline) if per_baseline else None,
    }


def estimated_ranking_seconds(
    *, estimate: dict, candidates: int, images: int, baseline_epochs: int | None
) -> float:
    """The measured medians applied to a ranking of this size (baseline_epochs None: no baseline)."""
    seconds = estimate["candidate_seconds_per_image"] * candidates * images
    if baseline_epochs and estimate["baseline_seconds_per_image_epoch"] is not None:
        seconds += estimate["baseline_seconds_per_image_epoch"] * images * baseline_epochs
    return seconds


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
