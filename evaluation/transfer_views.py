"""The transfer-ranking pages: the list with the form that starts one, a ranking (candidates by score, chart,
baseline, starter-bundle buttons) and its cancel button."""

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Domain, Task
from core.transfer.chart import ChartRow, ranking_chart_svg
from core.transfer.ranking import fold_spread
from evaluation import selectors, transfer_selectors, transfer_services
from evaluation.api.transfer_serializers import request_ranking
from evaluation.models import Modality, TransferRanking


def _get_ranking_or_404(ranking_id: int) -> TransferRanking:
    from django.http import Http404

    try:
        return transfer_selectors.ranking_get(ranking_id=ranking_id)
    except TransferRanking.DoesNotExist as error:
        raise Http404(f"No transfer ranking {ranking_id}.") from error


def ranking_detail(request: HttpRequest, ranking_id: int) -> HttpResponse:
    ranking = _get_ranking_or_404(ranking_id)
    candidates = list(ranking.candidates.all())
    for candidate in candidates:
        candidate.fold_spread = fold_spread(candidate.score_folds)
    context = {
        "ranking": ranking,
        "comparison": _comparison(ranking),
        "estimated": None if ranking.is_finished else _duration(_estimated_seconds(ranking, len(candidates))),
        "candidates": candidates,
        "has_chart": any(c.score is not None for c in candidates),
        "class_names": ", ".join(ranking.dataset.class_names),
        **_modality_words(ranking.dataset.modality),
    }
    return render(request, "evaluation/transfer_ranking.html", context)


def _modality_words(modality: str) -> dict[str, str]:
    """How the page names the samples and the baseline of a ranking on this modality's data."""
    if modality == Modality.TEXT:
        return {
            "samples": "texts",
            "sample": "text",
            "baseline_name": "a bag-of-words classifier (TF-IDF + logistic regression)",
        }
    return {"samples": "images", "sample": "image", "baseline_name": "a small CNN trained from scratch"}


def _estimated_seconds(ranking: TransferRanking, candidates: int) -> float | None:
    """How long this ranking should take, from the figures measured by earlier rankings here."""
    modality = ranking.dataset.modality
    estimate = transfer_selectors.ranking_time_estimate(modality=modality)
    if estimate is None:
        return None
    config = ranking.config or {}
    # The bag-of-words baseline has no epochs: its figure is per text, once (one "epoch" to the estimate).
    epochs = 1 if modality == Modality.TEXT else config.get("baseline_epochs", 15)
    baseline_epochs = epochs if config.get("baseline", True) else None
    return transfer_selectors.estimated_ranking_seconds(
        estimate=estimate, candidates=candidates, images=ranking.num_images, baseline_epochs=baseline_epochs
    )


def _estimate_text(estimate: dict | None) -> str:
    """The form's time estimate, in measured figures: what 4 candidates on 1,000 images took here."""
    if estimate is None:
        return ""
    example = transfer_selectors.estimated_ranking_seconds(
        estimate=estimate, candidates=4, images=1000, baseline_epochs=15
    )
    per_candidate = estimate["candidate_seconds_per_image"] * 1000
    return (
        f"Measured on this hub (medians of the last {estimate['rankings']} rankings): a candidate takes about "
        f"{_duration(per_candidate)} per 1,000 images; 4 candidates on 1,000 images with the 15-epoch baseline "
        f"about {_duration(example)}."
    )


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _comparison(ranking: TransferRanking) -> dict[str, Any] | None:
    """How the best candidate fares against the from-scratch baseline, as the page words it."""
    if ranking.baseline_accuracy is None:
        return None
    gap, spread = ranking.transfer_gap, ranking.transfer_spread
    if ranking.negative_transfer:
        verdict = "negative"
    elif gap is not None and spread is not None and abs(gap) <= spread:
        verdict = "on_par"
    else:
        verdict = "beats"
    return {"verdict": verdict, "gap_points": f"{abs(gap):.2f}" if gap is not None else "", "spread": spread}


def ranking_chart(request: HttpRequest, ranking_id: int) -> HttpResponse:
    """The chart as a standalone SVG document; the page embeds it with <object>, like the catalog's plot."""
    ranking = _get_ranking_or_404(ranking_id)
    rows = [ChartRow(c.model_label, c.score, c.knn) for c in ranking.candidates.all() if c.score is not None]
    return HttpResponse(ranking_chart_svg(rows, ranking.baseline_accuracy), content_type="image/svg+xml")


@require_POST
@staff_member_required
def ranking_cancel(request: HttpRequest, ranking_id: int) -> HttpResponse:
    ranking = _get_ranking_or_404(ranking_id)
    try:
        transfer_services.ranking_cancel(ranking=ranking)
        messages.success(request, f"Ranking {ranking.pk} cancelled.")
    except ValidationError as error:
        messages.error(request, error.message_dict["status"][0])
    return redirect(ranking.get_absolute_url())


RANKINGS_PER_PAGE = 50
FORM_FIELDS = (
    "dataset",
    "split",
    "candidates",
    "domain",
    "task",
    "max_params",
    "max_gmacs",
    "baseline_epochs",
)


def ranking_list(request: HttpRequest) -> HttpResponse:
    return _render_list(request, form_values={"split": "train", "baseline": True})


@require_POST
@staff_member_required
def ranking_create(request: HttpRequest) -> HttpResponse:
    """The list page's form, queued by request_ranking as POST /api/v1/transfer-rankings/ is (the same parsing,
    the same service); on success the ranking's page, else the form again with the fields named."""
    values = {name: request.POST.get(name, "").strip() for name in FORM_FIELDS}
    values["baseline"] = bool(request.POST.get("baseline"))
    ranking, errors = request_ranking(data=_api_request_body(values), requested_by=request.user)
    if errors:
        return _render_list(request, form_values=values, errors=_flat_errors(errors), status=400)
    messages.success(request, f"Ranking {ranking.pk} queued: {ranking.candidates.count()} candidates.")
    return redirect(ranking.get_absolute_url())


def _api_request_body(values: dict[str, Any]) -> dict[str, Any]:
    """The form's strings in the API's request shape; empty fields are left out, so the API's defaults apply."""
    body: dict[str, Any] = {key: values[key] for key in ("dataset", "split") if values[key]}
    candidates = values["candidates"].replace(",", " ").split()
    if candidates:
        body["candidates"] = candidates
    candidate_filter = {key: values[key] for key in transfer_services.FILTER_KEYS if values[key]}
    if candidate_filter:
        body["filter"] = candidate_filter
    # Text as typed: the ranking config's schema parses and checks it (and names the field when it is not a
    # number), as it does for the API and the CLI.
    body["config"] = {"baseline": values["baseline"], "baseline_epochs": values["baseline_epochs"]}
    return body


def _flat_errors(detail: Any, field: str = "__all__") -> dict[str, list[str]]:
    """Serializer or service errors keyed by the form field they concern; the filter's nested keys
    (max_params, ...) are form fields of their own, a list item's error names its position."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):
                name, prefix = field, f"item {key + 1}: "
            else:
                name, prefix = ("__all__" if key == "non_field_errors" else str(key)), ""
            for sub_field, texts in _flat_errors(value, name).items():
                flat.setdefault(sub_field, []).extend(prefix + text for text in texts)
        return flat
    if isinstance(detail, (list, tuple)):
        flat = {}
        for item in detail:
            for sub_field, texts in _flat_errors(item, field).items():
                flat.setdefault(sub_field, []).extend(texts)
        return flat
    return {field: [str(detail)]}


def _render_list(
    request: HttpRequest, *, form_values: dict[str, Any], errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:  # fmt: skip
    page = Paginator(transfer_selectors.ranking_queryset(), RANKINGS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    datasets = list(selectors.dataset_list())
    errors = errors or {}
    context = {
        "page": page,
        "rows": [{"ranking": ranking, **_summary(ranking)} for ranking in page.object_list],
        "datasets": datasets,
        # Each dataset's own splits: the form shows those of the chosen dataset (static/depot/ranking-form.js).
        "dataset_splits": [
            (dataset.name, split, size) for dataset in datasets for split, size in dataset.split_sizes.items()
        ],
        "estimate": _estimate_text(transfer_selectors.ranking_time_estimate()),
        "domains": Domain.choices,
        "tasks": Task.choices,
        "form": form_values,
        "errors": errors,
        "error_list": [
            (field if field != "__all__" else "", text) for field, texts in errors.items() for text in texts
        ],
        "max_candidates": transfer_services.MAX_CANDIDATES,
    }
    return render(request, "evaluation/transfer_rankings.html", context, status=status)


def _summary(ranking: TransferRanking) -> dict[str, Any]:
    candidates = list(ranking.candidates.all())  # prefetched, best rank first
    best = candidates[0] if candidates and candidates[0].rank == 1 else None
    return {"count": len(candidates), "best": best}
