"""Server-rendered catalog pages. They parse the request, call selectors, and render; nothing else."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from catalog import bundles, selectors, services
from catalog.filters import ORDERING_FIELDS
from catalog.forms import RunConfigForm, StarterBundleForm, TextStarterBundleForm
from catalog.models import DEFAULT_TOP1_DATASET, Domain, Library, ModelEntry, Task
from catalog.rendering import (
    SVG,
    catalog_row,
    catalog_rows_html,
    empty_svg,
    facet_lists_html,
    format_size,
    render_card,
    results_bars_svg,
    scatter_plot,
    scatter_svg,
)
from catalog.templatetags.depot import query_with
from catalog.uploads import attach_uploaded_weights
from core import weights
from core.starter.builder import BundleConfigError
from core.timm_results import TEST_SETS
from hub.pagination import EXACT_COUNT_LIMIT
from hub.uploads import UploadTooLarge

PAGE_SIZE = 25
# Facet choices travel as links; the search form carries them along so "Apply" keeps them.
HIDDEN_FILTERS = (
    "domain", "task", "library", "license", "pretrained_on", "fine_tuned_on", "base_model", "architecture",
    "namespace",
)  # fmt: skip
FACET_LABELS = {"pretrained_on": "Pretrained on", "base_model": "Fine-tuned from"}
# What the search form calls each parameter, so an error names the field people see, not its query name.
PARAMETER_LABELS = {
    "search": "Search",
    "params_max": "Parameters at most",
    "params_min": "Parameters at least",
    "min_top1": "Top-1 at least (%)",
    "claim_dataset": "Claim on test set",
    "min_claim": "Top-1 on that set at least (%)",
    "ordering": "Sort by",
    "verified": "Verified by the hub only",
    "size_mb_max": "File size at most (MB)",
    "gmacs_max": "GMACs at most",
    "page": "Page",
    "domain": "Domain",
    "task": "Task",
    "library": "Library",
    "license": "License",
    "architecture": "Architecture",
    "namespace": "Namespace",
    **FACET_LABELS,
    "fine_tuned_on": "Fine-tuned on",
}


def labelled_errors(errors: dict[str, list[str]]) -> list[dict]:
    return [
        {"field": field, "label": PARAMETER_LABELS.get(field, field), "messages": messages}
        for field, messages in errors.items()
    ]


MAX_COMPARE = 6
# Accuracy sorts name the list's dataset ({dataset}): they rank on it alone.
SORT_LABELS = {
    "name": "Name",
    "-downloads": "Most downloaded",
    "-claimed_top1": "Claimed top-1 on {dataset} (high first)",
    "-verified_top1": "Verified top-1 on {dataset} (high first)",
    "num_params": "Parameters (small first)",
    "-num_params": "Parameters (large first)",
    "size": "File size (small first)",
    "gmacs": "GMACs (low first)",
    "-created": "Newest",
}


def _page_number(raw: str | None) -> int:
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError({"page": f"Page must be a whole number of at least 1, not {raw!r}."})
    return int(raw)


class CountedPaginator(Paginator):
    """A paginator told the count it would otherwise ask the database for (the facet summary has it)."""

    def __init__(self, object_list, per_page: int, *, count: int, count_is_estimate: bool = False):
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # Paginator.count is a cached_property
        self.count_is_estimate = count_is_estimate


class EstimatedPage:
    """A page of a result whose size is an estimate: it reads one row more to know whether a next page exists,
    so a low estimate never hides a real page and a high one never shows an empty page as if it had rows."""

    def __init__(self, queryset, paginator: CountedPaginator, number: int):
        offset = (number - 1) * paginator.per_page
        rows = list(queryset[offset : offset + paginator.per_page + 1])
        if not rows and number > 1:
            raise ValidationError(
                {"page": f"Page {number} is past the end (about {paginator.count} models)."}
            )
        self.paginator, self.number = paginator, number
        self.object_list = rows[: paginator.per_page]
        self._has_next = len(rows) > paginator.per_page
        # Never claim fewer rows than this page proves exist.
        paginator.__dict__["count"] = max(paginator.count, offset + len(rows))

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _catalog_page(queryset, summary: selectors.FacetSummary, number: int):
    paginator = CountedPaginator(
        queryset, PAGE_SIZE, count=summary.count, count_is_estimate=summary.count_is_estimate
    )
    if summary.count_is_estimate:
        return EstimatedPage(queryset, paginator, number)
    try:
        return paginator.page(number)
    except EmptyPage:
        raise ValidationError(
            {"page": f"Page {number} is past the end ({paginator.num_pages} pages)."}
        ) from None


def catalog_index(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    page = None
    summary = None
    try:
        queryset = selectors.model_list(query=request.GET, allowed_extra=("page",))
        number = _page_number(request.GET.get("page"))
        summary = selectors.catalog_facets(query=request.GET, queryset=queryset)
        page = _catalog_page(queryset, summary, number)
    except ValidationError as error:
        errors = error.message_dict
    query_without_page = request.GET.copy()
    query_without_page.pop("page", None)
    dataset = selectors.top1_dataset(query=request.GET)
    rows = [catalog_row(model) for model in page.object_list] if page else []
    context = {
        "page": page,
        "rows": rows,
        "rows_html": catalog_rows_html(rows, dataset=dataset),
        "compare_url": _compare_url(request, [row.model_id for row in rows[:MAX_COMPARE]]),
        "compare_count": min(len(rows), MAX_COMPARE),
        "errors": errors,
        "error_list": labelled_errors(errors),
        "facets": summary.facets if summary else {},
        "facets_html": facet_lists_html(
            summary.facets if summary else {},
            chosen=request.GET,
            link=lambda facet, value: query_with(request.GET, facet, value),
            labels=FACET_LABELS,
        ),
        "facet_counts_omitted": bool(summary and summary.counts_omitted),
        "exact_count_limit": EXACT_COUNT_LIMIT,
        "plot_query": query_without_page.urlencode(),
        "query": request.GET,
        "query_without_page": query_without_page.urlencode(),
        "hidden_filters": [(key, request.GET[key]) for key in HIDDEN_FILTERS if request.GET.get(key)],
        "sort_labels": {value: label.format(dataset=dataset) for value, label in SORT_LABELS.items()},
        "all_orderings": sorted(ORDERING_FIELDS),
        "test_sets": TEST_SETS,
        "dataset_choices": selectors.top1_dataset_choices(chosen=request.GET.get("claim_dataset", "")),
        "default_dataset": DEFAULT_TOP1_DATASET,
        "top1_dataset": dataset,
        "claim_dataset": request.GET.get("claim_dataset", ""),
        "domains": Domain.choices,
        "tasks": Task.choices,
        "libraries": Library.choices,
        "total": summary.total if summary else None,
    }
    return render(request, "catalog/index.html", context, status=400 if errors else 200)


class WeightsUploadForm(forms.Form):
    file = forms.FileField(label="Weights file (.safetensors)")
    convert_pickle = forms.BooleanField(
        required=False, label="This is a pickle checkpoint: convert it once (weights_only=True)"
    )


def _get_model_or_404(namespace: str, name: str) -> ModelEntry:
    try:
        return selectors.model_get(namespace=namespace, name=name)
    except ModelEntry.DoesNotExist:
        raise Http404(f"No model {namespace}/{name} in this catalog.") from None


def _bundle_form(model: ModelEntry) -> type:
    """The bundle form of this model's kind: text models' options differ from images'."""
    return TextStarterBundleForm if bundles.is_text_model(model) else StarterBundleForm


def _render_model(
    request: HttpRequest, model: ModelEntry, *, upload_form=None, bundle_form=None, status: int = 200
) -> HttpResponse:
    runs = selectors.runs_for_model(model=model)
    results = selectors.results_on_test_sets(model=model)
    size, size_is_estimate = format_size(model)
    context = {
        "model": model,
        "lineage": selectors.model_lineage(model=model),
        "mirror": selectors.latest_mirror(model=model),
        "card_html": render_card(model.card),
        "claims": list(model.claims.all()),
        "retired_claims": selectors.retired_claims(model=model),
        "verdicts": selectors.claim_verdicts(model=model),
        "runs": runs,
        "test_set_results": results,
        "results_svg": results_bars_svg(results) if results else "",
        "published_speeds": model.published_speeds,
        "measured_throughput": selectors.measured_throughput(runs=runs),
        "size": size,
        "size_is_estimate": size_is_estimate,
        "datasets": selectors.dataset_names(),
        "upload_form": upload_form or WeightsUploadForm(),
        "bundle_form": bundle_form or _bundle_form(model)(initial={"num_classes": model.num_classes or 2}),
        "run_form": RunConfigForm(auto_id="id_run_%s"),  # beside the bundle form: ids of its own
        "label_preview": selectors.label_preview(model=model),
    }
    return render(request, "catalog/model_detail.html", context, status=status)


@xframe_options_sameorigin  # embedded by the catalog page; the site default (DENY) would blank it
def catalog_plot(request: HttpRequest) -> HttpResponse:
    """The accuracy-vs-size plot of a catalog query as a standalone SVG document.

    The catalog page embeds it with <object>, so it loads beside the page (and works without JavaScript).
    """
    try:
        queryset = selectors.model_list(query=request.GET, allowed_extra=("page",))
    except ValidationError as error:
        return HttpResponse(
            empty_svg(f"Invalid query: {', '.join(error.message_dict)}"), content_type=SVG, status=400
        )
    dataset = selectors.top1_dataset(query=request.GET)
    plot = scatter_plot(selectors.scatter_points(queryset=queryset))
    body = (
        scatter_svg(plot, dataset=dataset, standalone=True)
        if plot
        else empty_svg(f"No model here has both a size and a top-1 on {dataset}.")
    )
    response = HttpResponse(body, content_type=SVG)
    response["Cache-Control"] = "public, max-age=60"
    return response


def model_detail(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    return _render_model(request, _get_model_or_404(namespace, name))


def model_starter_bundle(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """The model page's bundle form (GET): the zip, or the page again with the bad field named."""
    model = _get_model_or_404(namespace, name)
    form = _bundle_form(model)(request.GET)
    try:
        data, filename, etag = bundles.starter_bundle(
            model=model, raw_target=form.given(), hub_url=bundles.hub_url(request)
        )
    except BundleConfigError as error:
        form.refuse(error.field, error.message)
        messages.error(request, f"Starter bundle: {error.field}: {error.message}")
        return _render_model(request, model, bundle_form=form, status=400)
    return bundles.bundle_response(request, data, filename, etag)


@require_POST
@staff_member_required
def model_weights_upload(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    model = _get_model_or_404(namespace, name)
    form = WeightsUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            weights_file = attach_uploaded_weights(
                model=model, upload=upload, convert_pickle=form.cleaned_data["convert_pickle"]
            )
        except (UploadTooLarge, weights.WeightsError) as error:
            form.add_error("file", str(error))
        else:
            messages.success(
                request, f"Stored weights {weights_file.sha256[:12]} ({weights_file.size_bytes:,} bytes)."
            )
            return redirect(model.get_absolute_url())
    return _render_model(request, _get_model_or_404(namespace, name), upload_form=form, status=400)


@require_POST
@staff_member_required
def model_mirror_weights(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """The page's "Mirror weights" button: queue the job and show its progress on the model page."""
    model = _get_model_or_404(namespace, name)
    try:
        mirror, created = services.weights_mirror_request(
            model=model, revision=request.POST.get("revision", "").strip(), requested_by=request.user
        )
    except ValidationError as error:
        messages.error(
            request, " ".join(f"{field}: {' '.join(text)}" for field, text in error.message_dict.items())
        )
        return redirect(model.get_absolute_url() + "#weights")
    verb = "Queued" if created else "Already running:"
    messages.success(request, f"{verb} mirror #{mirror.pk} of {mirror.repo_id}@{mirror.revision[:12]}.")
    return redirect(model.get_absolute_url() + "#weights")


def _compare_url(request: HttpRequest, model_ids: list[str]) -> str:
    """The compare page for these models, on the list's chosen dataset (claim_dataset travels along)."""
    if len(model_ids) < 2:
        return ""
    query = {"models": ",".join(model_ids)}
    if request.GET.get("claim_dataset"):
        query["claim_dataset"] = request.GET["claim_dataset"]
    return f"/compare/?{urlencode(query)}"


def compare(request: HttpRequest) -> HttpResponse:
    model_ids = [item.strip() for item in request.GET.get("models", "").split(",") if item.strip()]
    dataset = selectors.top1_dataset(query=request.GET)
    error = ""
    if not model_ids:
        error = "Choose models to compare: /compare/?models=namespace/name,namespace/name"
    elif len(model_ids) > MAX_COMPARE:
        error = f"Compare at most {MAX_COMPARE} models at once; you asked for {len(model_ids)}."
    models, missing = ([], []) if error else selectors.models_by_ids(model_ids=list(dict.fromkeys(model_ids)))
    context = {
        "models": models,
        "missing": missing,
        "error": error,
        "top1_dataset": dataset,
        "default_dataset": DEFAULT_TOP1_DATASET,
        "claim_dataset": request.GET.get("claim_dataset", ""),
        "dataset_choices": selectors.top1_dataset_choices(chosen=request.GET.get("claim_dataset", "")),
        "ranked": selectors.compare_on_dataset(models=models, dataset=dataset),
        "test_sets": [
            (test_set.label, [_result_on(model, test_set.dataset) for model in models])
            for test_set in TEST_SETS
        ],
        "sizes": [format_size(model) for model in models],
    }
    status = 400 if error else (404 if missing and not models else 200)
    return render(request, "catalog/compare.html", context, status=status)


def _result_on(model: ModelEntry, dataset: str) -> selectors.ResultOnTestSet | None:
    return next((result for result in model.test_set_results if result.dataset == dataset), None)
