"""Page-number pagination that refuses bad input instead of silently clamping it.

Counts are exact up to EXACT_COUNT_LIMIT rows (settings, DEPOT_EXACT_COUNT_LIMIT, 1,000 by default). On PostgreSQL a
larger result is not counted row by row (a COUNT(*) of a big filtered set costs more than the page itself): the
count is the query planner's estimate, and the response says so with `count_is_estimate: true`. A result the
planner puts past the limit is not counted at all (counting even up to the limit reads that many matching rows,
several times the page's cost); one it puts within the limit is counted, up to the limit + 1 rows, so a low
estimate is caught. Pages of an estimated result are fetched one row long to know whether a next page exists, so
no real page is ever refused because the estimate was low. Other databases (SQLite) always count exactly.
A view whose results' size is known without counting (a summary table) says so through `known_count`.
"""

import json
import math

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


def parse_positive_int(raw: str | None, *, name: str, default: int, maximum: int | None = None) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: [f"Must be a whole number, not {raw!r}."]}) from None
    if value < 1:
        raise exceptions.ValidationError({name: [f"Must be at least 1, got {value}."]})
    if maximum is not None and value > maximum:
        raise exceptions.ValidationError({name: [f"Must be at most {maximum}, got {value}."]})
    return value


EXACT_COUNT_LIMIT: int = settings.EXACT_COUNT_LIMIT


def planner_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` returns (one EXPLAIN, no execution); None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(queryset: QuerySet, *, exact_up_to: int = EXACT_COUNT_LIMIT) -> tuple[int, bool]:
    """(count, is_estimate): exact when at most `exact_up_to` rows or off PostgreSQL, else the planner's estimate
    (taken without counting when the planner puts the result past the limit)."""
    if connections[queryset.db].vendor != "postgresql":
        return queryset.count(), False
    estimate = planner_estimate(queryset) or 0
    if estimate > exact_up_to:
        return estimate, True
    # Counting at most limit + 1 rows stops early on a big result; below the limit it is the exact count.
    capped = queryset.order_by()[: exact_up_to + 1].count()
    if capped <= exact_up_to:
        return capped, False
    return max(estimate, exact_up_to + 1), True


class CountedPaginator(Paginator):
    """A paginator told the count it would otherwise ask the database for."""

    def __init__(self, object_list, per_page: int, *, count: int):
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


class StrictPageNumberPagination(BasePagination):
    page_query_param = "page"
    page_size_query_param = "page_size"
    exact_count_limit = EXACT_COUNT_LIMIT

    def paginate_queryset(self, queryset, request: Request, view=None) -> list:
        page_size = parse_positive_int(
            request.query_params.get(self.page_size_query_param),
            name=self.page_size_query_param,
            default=settings.API_DEFAULT_PAGE_SIZE,
            maximum=settings.API_MAX_PAGE_SIZE,
        )
        number = parse_positive_int(request.query_params.get(self.page_query_param), name="page", default=1)
        self.request = request
        self.page_size = page_size
        known = self.known_count(request)
        if known is not None:
            count, is_estimate = known, False
        elif isinstance(queryset, QuerySet):
            count, is_estimate = count_rows(queryset, exact_up_to=self.exact_count_limit)
        else:
            count, is_estimate = len(queryset), False
        self.count_is_estimate = is_estimate
        if is_estimate:
            return self._estimated_page(queryset, number=number, page_size=page_size, estimate=count)
        return self._exact_page(queryset, number=number, page_size=page_size, count=count)

    def known_count(self, request: Request) -> int | None:
        """The exact number of results when the view knows it without counting rows; None: count them."""
        return None

    def _estimated_page(self, queryset, *, number: int, page_size: int, estimate: int) -> list:
        offset = (number - 1) * page_size
        rows = list(queryset[offset : offset + page_size + 1])  # one row more: is there a next page?
        has_next = len(rows) > page_size
        rows = rows[:page_size]
        if not rows and number > 1:
            raise exceptions.NotFound(f"Page {number} is past the end of the results (about {estimate}).")
        self.number, self.has_next, self.has_previous = number, has_next, number > 1
        # The estimate may be low: never claim fewer rows than this page proves exist.
        self.count = max(estimate, offset + len(rows) + (1 if has_next else 0))
        return rows

    def _exact_page(self, queryset, *, number: int, page_size: int, count: int) -> list:
        paginator = CountedPaginator(queryset, page_size, count=count)
        try:
            page = paginator.page(number)
        except EmptyPage:
            if number == 1:  # an empty result is one empty page, not an error
                page = paginator.page(1) if paginator.count else None
            else:
                raise exceptions.NotFound(
                    f"Page {number} is past the end: there are {paginator.num_pages} page(s) of {page_size}."
                ) from None
        self.count = paginator.count
        self.number = page.number if page else 1
        self.has_next = bool(page and page.has_next())
        self.has_previous = bool(page and page.has_previous())
        return list(page.object_list) if page else []

    def _link(self, number: int | None) -> str | None:
        if number is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, number)

    def get_paginated_response(self, data) -> Response:
        number = self.number
        return Response(
            {
                "count": self.count,
                "count_is_estimate": self.count_is_estimate,
                "page": number,
                "page_size": self.page_size,
                "num_pages": max(1, math.ceil(self.count / self.page_size)),
                "next": self._link(number + 1 if self.has_next else None),
                "previous": self._link(number - 1 if self.has_previous else None),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "count_is_estimate", "page", "page_size", "num_pages", "results"],
            "properties": {
                "count": {"type": "integer"},
                "count_is_estimate": {
                    "type": "boolean",
                    "description": f"true: more than {EXACT_COUNT_LIMIT} results and count is PostgreSQL's "
                    "estimate (num_pages follows it); follow `next` until it is null to read them all.",
                },
                "page": {"type": "integer"},
                "page_size": {"type": "integer"},
                "num_pages": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "page", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE},
            },
        ]
