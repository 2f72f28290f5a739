"""The leaderboard in the REST API: JSON rows with raw numbers, or the page's CSV (`?format=csv` or
`Accept: text/csv`). Errors are JSON in the one error shape whatever format was asked for."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from catalog.filters import CatalogFilterSet
from catalog.leaderboard import rendering, selectors
from hub.api import raise_as_api_error
from hub.pagination import parse_positive_int


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data.encode("utf-8") if isinstance(data, str) else b""


class SpeedSerializer(serializers.Serializer):
    samples_per_sec = serializers.FloatField()
    img_size = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    hardware = serializers.CharField()
    precision = serializers.CharField()


class LeaderboardRowSerializer(serializers.Serializer):
    """Documents the row shape; rows are built by _row_json (no per-field machinery for 100 rows)."""

    id = serializers.CharField()
    top1 = serializers.FloatField(help_text="Claimed top-1 on this dataset, percent.")
    top5 = serializers.FloatField(allow_null=True, help_text="Claimed top-5 on this dataset, percent.")
    verified_top1 = serializers.FloatField(allow_null=True, help_text="The hub's own measurement, percent.")
    verdict = serializers.ChoiceField(choices=["verified", "disagrees", "unverifiable", "pending"])
    delta = serializers.FloatField(allow_null=True, help_text="verified_top1 minus top1, in points.")
    num_params = serializers.IntegerField(allow_null=True)
    gmacs = serializers.FloatField(allow_null=True)
    img_size = serializers.IntegerField(allow_null=True)
    gpu_speed = SpeedSerializer(allow_null=True, help_text="timm's published speed on its GPU table.")
    cpu_speed = SpeedSerializer(allow_null=True, help_text="timm's published speed on its CPU table.")
    html_url = serializers.CharField()


class LeaderboardSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    label = serializers.CharField()
    sort = serializers.CharField()
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    num_pages = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = LeaderboardRowSerializer(many=True)


def _speed_json(speed: selectors.Speed | None) -> dict | None:
    if speed is None:
        return None
    return {
        "samples_per_sec": speed.samples_per_sec, "img_size": speed.img_size, "batch_size": speed.batch_size,
        "hardware": speed.hardware, "precision": speed.precision,
    }  # fmt: skip


def _row_json(row: selectors.LeaderboardRow, base: str) -> dict:
    return {
        "id": row.model_id, "top1": row.top1, "top5": row.top5, "verified_top1": row.verified,
        "verdict": row.verdict, "delta": row.delta, "num_params": row.num_params, "gmacs": row.gmacs,
        "img_size": row.img_size, "gpu_speed": _speed_json(row.speeds.get("gpu_speed")),
        "cpu_speed": _speed_json(row.speeds.get("cpu_speed")), "html_url": f"{base}/models/{row.model_id}/",
    }  # fmt: skip


PARAMETERS = [
    OpenApiParameter(
        "sort",
        {"type": "string", "enum": ["", *selectors.SORT_KEYS, *(f"-{key}" for key in selectors.SORT_KEYS)]},
        description="Column to sort by; prefix - for descending (blank: by top1, descending). Missing values "
        "sort last both ways.",
    ),
    OpenApiParameter("page", {"type": "integer", "minimum": 1}),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": settings.API_MAX_PAGE_SIZE}),
    OpenApiParameter("format", {"type": "string", "enum": ["json", "csv"]}),
    # The filters are the catalog list's (the same CatalogFilterSet): hub.schema.copy_filter_parameters gives
    # them the schemas v1_models_list documents, bounds and choices included.
    *[
        OpenApiParameter(
            name,
            OpenApiTypes.STR,
            description=CatalogFilterSet.base_filters[name].extra.get("help_text") or "",
        )
        for name in selectors.FILTERS
    ],
]


class LeaderboardView(APIView):
    """One dataset's claims ranked, with the hub's verdicts beside them."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=PARAMETERS,
        responses={
            (200, "application/json"): LeaderboardSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rows as the page's CSV."),
        },
    )
    def get(self, request: Request, dataset: str) -> Response:
        query = request.query_params
        page_size = parse_positive_int(
            query.get("page_size"),
            name="page_size",
            default=settings.API_DEFAULT_PAGE_SIZE,
            maximum=settings.API_MAX_PAGE_SIZE,
        )
        page = parse_positive_int(query.get("page"), name="page", default=1)
        try:
            board = selectors.leaderboard_page(dataset=dataset, query=query, page=page, page_size=page_size)
        except (selectors.UnknownDataset, selectors.PageNotFound) as error:
            raise exceptions.NotFound(str(error)) from None
        except DjangoValidationError as error:
            raise_as_api_error(error)
        if request.accepted_renderer.format == "csv":
            return Response(rendering.csv_text(board), content_type="text/csv; charset=utf-8")
        url = request.build_absolute_uri()
        base = request.build_absolute_uri("/").rstrip("/")
        return Response(
            {
                "dataset": board.dataset, "label": board.label, "sort": board.sort, "count": board.count,
                "page": board.page, "page_size": board.page_size, "num_pages": board.num_pages,
                "next": replace_query_param(url, "page", page + 1) if page < board.num_pages else None,
                "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
                "results": [_row_json(row, base) for row in board.rows],
            }
        )  # fmt: skip

    def handle_exception(self, exc: Exception) -> Response:
        # The error shape is JSON: a CSV client gets it readable, not an empty body.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)
