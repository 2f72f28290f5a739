"""Page-number pagination that refuses bad input instead of silently clamping it."""

import math

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
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


class StrictPageNumberPagination(BasePagination):
    page_query_param = "page"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request: Request, view=None) -> list:
        page_size = parse_positive_int(
            request.query_params.get(self.page_size_query_param),
            name=self.page_size_query_param,
            default=settings.API_DEFAULT_PAGE_SIZE,
            maximum=settings.API_MAX_PAGE_SIZE,
        )
        number = parse_positive_int(request.query_params.get(self.page_query_param), name="page", default=1)
        paginator = Paginator(queryset, page_size)
        try:
            self.page = paginator.page(number)
        except EmptyPage:
            if number == 1:  # an empty result is one empty page, not an error
                self.page = paginator.page(1) if paginator.count else None
            else:
                raise exceptions.NotFound(
                    f"Page {number} is past the end: there are {paginator.num_pages} page(s) of {page_size}."
                ) from None
        self.request = request
        self.page_size = page_size
        self.count = paginator.count
        return list(self.page.object_list) if self.page else []

    def _link(self, number: int | None) -> str | None:
        if number is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, number)

    def get_paginated_response(self, data) -> Response:
        has_page = self.page is not None
        number = self.page.number if has_page else 1
        return Response(
            {
                "count": self.count,
                "page": number,
                "page_size": self.page_size,
                "num_pages": max(1, math.ceil(self.count / self.page_size)),
                "next": self._link(number + 1 if has_page and self.page.has_next() else None),
                "previous": self._link(number - 1 if has_page and self.page.has_previous() else None),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["count", "page", "page_size", "num_pages", "results"],
            "properties": {
                "count": {"type": "integer"},
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
