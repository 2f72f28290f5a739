"""The leaderboard page and its CSV export. They parse the request, call the selectors, and render."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from catalog.leaderboard import rendering, selectors
from core.timm_results import TEST_SETS

# The first click on a column sorts it the way a reader looks for the best: high accuracy and speed first,
# small models first.
DESCENDING_FIRST = {"top1", "top5", "verified", *selectors.SPEEDS}


def _whole_number(raw: str | None, *, name: str, default: int, maximum: int | None = None) -> int:
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationError({name: f"Must be a whole number of at least 1{bound}, not {raw[:40]!r}."})
    return int(raw)


def _board(request: HttpRequest, dataset: str, queryset=None) -> selectors.Leaderboard:
    """Raises Http404 for an unknown dataset or a page past the end, ValidationError for a bad parameter."""
    try:
        return selectors.leaderboard_page(
            dataset=dataset,
            query=request.GET,
            queryset=queryset,
            page=_whole_number(request.GET.get("page"), name="page", default=1),
            page_size=_whole_number(
                request.GET.get("page_size"),
                name="page_size",
                default=selectors.PAGE_SIZE,
                maximum=settings.API_MAX_PAGE_SIZE,
            ),
        )
    except (selectors.UnknownDataset, selectors.PageNotFound) as error:
        raise Http404(str(error)) from None


def _query_with(query: QueryDict, **changes: str | None) -> str:
    updated = query.copy()
    for key, value in changes.items():
        updated.pop(key, None)
        if value:
            updated[key] = value
    encoded = updated.urlencode()
    return f"?{encoded}" if encoded else "?"


def _headers(query: QueryDict, board: selectors.Leaderboard, cols: list[rendering.Column]) -> list[dict]:
    current = board.sort.lstrip("-")
    descending = board.sort.startswith("-")
    headers = []
    for column in cols:
        header = {"column": column, "href": "", "aria_sort": "", "arrow": ""}
        if column.sortable:
            if column.key == current:
                next_sort = column.key if descending else f"-{column.key}"
                header["aria_sort"] = "descending" if descending else "ascending"
                header["arrow"] = "▼" if descending else "▲"
            else:
                next_sort = f"-{column.key}" if column.key in DESCENDING_FIRST else column.key
            header["href"] = _query_with(query, sort=next_sort, page=None, format=None)
        headers.append(header)
    return headers


def leaderboard(request: HttpRequest, dataset: str = selectors.DEFAULT_DATASET) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return leaderboard_csv(request, dataset)
    axis = request.GET.get("x") or "params"
    try:
        # One filtered queryset for the table and the plot: the filters are parsed and checked once.
        queryset = selectors.leaderboard_queryset(dataset=dataset, query=request.GET)
        board = _board(request, dataset, queryset)
        plot = selectors.pareto_points(queryset=queryset, axis=axis)
    except selectors.UnknownDataset as error:
        raise Http404(str(error)) from None
    except ValidationError as error:
        context = {
            "dataset": dataset,
            "label": selectors.dataset_label(dataset),
            "errors": error.message_dict,
        }
        return render(request, "catalog/leaderboard.html", _common(request, context), status=400)
    cols, cells = rendering.table_cells(board)
    candidates = [test_set.dataset for test_set in TEST_SETS] + sorted(board.hub_datasets) + [dataset]
    context = {
        "datasets": [
            (name, selectors.dataset_label(name)) for name in selectors.boards(candidates=candidates)
        ],
        "board": board,
        "dataset": dataset,
        "label": board.label,
        "headers": _headers(request.GET, board, cols),
        "table_body": rendering.table_body(board, cells),
        "plot_svg": rendering.pareto_svg(plot, label=board.label),
        "plot": plot,
        "axis": axis,
        "axes": [(name, rendering.x_axis_label(name)) for name in selectors.PLOT_AXES],
        "csv_href": f"/leaderboard/{dataset}.csv{_query_with(request.GET, format=None)}",
        "previous_href": _query_with(request.GET, page=str(board.page - 1)) if board.page > 1 else "",
        "next_href": _query_with(request.GET, page=str(board.page + 1))
        if board.page < board.num_pages
        else "",
    }
    return render(request, "catalog/leaderboard.html", _common(request, context))


def _common(request: HttpRequest, context: dict) -> dict:
    return {
        **context,
        "query": request.GET,
        "datasets": context.get("datasets", []),
        "hidden_sort": request.GET.get("sort", ""),
    }


def leaderboard_csv(request: HttpRequest, dataset: str) -> HttpResponse:
    """Exactly the rows the page shows for the same query: same filters, sort, page and columns."""
    try:
        board = _board(request, dataset)
    except ValidationError as error:
        problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())
        return HttpResponse(f"Invalid query: {problems}\n", content_type="text/plain", status=400)
    response = HttpResponse(rendering.csv_text(board), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{rendering.csv_filename(board)}"'
    return response
