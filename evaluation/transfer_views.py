"""The transfer-ranking page (candidates by score, chart, baseline, starter-bundle buttons) and its cancel button."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from evaluation import transfer_selectors, transfer_services
from evaluation.models import TransferRanking
from evaluation.transfer.chart import ChartRow, ranking_chart_svg


def _get_ranking_or_404(ranking_id: int) -> TransferRanking:
    from django.http import Http404

    try:
        return transfer_selectors.ranking_get(ranking_id=ranking_id)
    except TransferRanking.DoesNotExist as error:
        raise Http404(f"No transfer ranking {ranking_id}.") from error


def ranking_detail(request: HttpRequest, ranking_id: int) -> HttpResponse:
    ranking = _get_ranking_or_404(ranking_id)
    candidates = list(ranking.candidates.all())
    context = {
        "ranking": ranking,
        "candidates": candidates,
        "has_chart": any(c.score is not None for c in candidates),
        "class_names": ", ".join(ranking.dataset.class_names),
    }
    return render(request, "evaluation/transfer_ranking.html", context)


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
