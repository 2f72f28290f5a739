"""Evaluation pages: a run with its live progress and results, the datasets, and the re-check button."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog import selectors as catalog_selectors
from catalog.forms import RunConfigForm
from catalog.models import ModelEntry
from core import imagedecode
from evaluation import selectors, services
from evaluation.models import EvalDataset


def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(selectors.run_queryset(), pk=run_id)
    metrics = run.metrics or {}
    matrix = metrics.get("confusion_matrix") or []
    peak = max((max(row) for row in matrix if row), default=0)
    context = {
        "run": run,
        "metrics": metrics,
        "confusion": _confusion_rows(matrix, metrics.get("class_names") or [], peak),
        "confusion_columns": (metrics.get("class_names") or [])
        + (["other"] if matrix and len(matrix[0]) > len(matrix) else []),
        "per_class": sorted((metrics.get("per_class_accuracy") or {}).items()),
        "verdicts": [
            v for v in catalog_selectors.claim_verdicts(model=run.model) if v.run and v.run.pk == run.pk
        ],
    }
    return render(request, "evaluation/run_detail.html", context)


def _confusion_rows(matrix: list[list[int]], class_names: list[str], peak: int) -> list[dict]:
    rows = []
    for name, counts in zip(class_names, matrix, strict=False):
        cells = [{"count": count, "alpha": round(count / peak, 3) if peak else 0} for count in counts]
        rows.append({"name": name, "cells": cells})
    return rows


def dataset_list(request: HttpRequest) -> HttpResponse:
    datasets = list(selectors.dataset_list())
    for dataset in datasets:  # how registration read each split's images, as sentences
        dataset.decoding = [
            f"{split}: {sentence}"
            for split, counts in (dataset.decode_counts or {}).items()
            for sentence in imagedecode.describe_counts(counts)
        ]
    return render(request, "evaluation/datasets.html", {"datasets": datasets})


@require_POST
@staff_member_required
def model_recheck(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
    if model is None:
        raise Http404(f"No model {namespace}/{name}.")
    dataset = EvalDataset.objects.filter(name=request.POST.get("dataset", "")).first()
    if dataset is None:
        messages.error(request, f"No dataset {request.POST.get('dataset', '')!r} on this hub.")
        return redirect(model.get_absolute_url())
    try:
        run, created = services.run_request(
            model=model, dataset=dataset, split=request.POST.get("split") or "test",
            config=RunConfigForm(request.POST).given(), force=bool(request.POST.get("force")),
            requested_by=request.user,
        )  # fmt: skip
    except ValidationError as error:
        messages.error(
            request, " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
        )
        return redirect(model.get_absolute_url())
    if not created:
        messages.info(
            request, f"The same run already exists (run {run.pk}); tick 'run again' to force a new one."
        )
    return redirect(run.get_absolute_url())


@require_POST
@staff_member_required
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(selectors.run_queryset(), pk=run_id)
    try:
        services.run_cancel(run=run)
        messages.success(request, f"Run {run.pk} cancelled.")
    except ValidationError as error:
        messages.error(request, error.message_dict["status"][0])
    return redirect(run.get_absolute_url())
