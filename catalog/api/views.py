"""Catalog REST endpoints: parse input, call a selector or service, shape the output."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, status
from rest_framework.filters import BaseFilterBackend
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import bundles, selectors, services
from catalog.api.serializers import (
    ClaimSerializer,
    ClaimWriteSerializer,
    ModelDetailSerializer,
    ModelListSerializer,
    ModelWriteSerializer,
    StarterBundleRequestSerializer,
    WeightsFileSerializer,
    WeightsMirrorRequestSerializer,
    WeightsMirrorSerializer,
    WeightsUploadSerializer,
)
from catalog.filters import COUNT_REGEX, MAX_SIZE_MB, CatalogFilterSet, unknown_parameters
from catalog.models import ModelEntry, WeightsMirror
from catalog.uploads import attach_uploaded_weights
from core import weights
from core.starter.builder import BundleConfigError
from hub.api import error_response, form_error_detail, job_response, raise_as_api_error
from hub.pagination import StrictPageNumberPagination
from hub.parsers import DepthLimitedJSONParser
from hub.strict_json import refuse_loose_types
from hub.uploads import UploadTooLarge, declared_length_too_large


class RejectUnknownParameters(BaseFilterBackend):
    """A misspelt filter must fail loudly rather than return the unfiltered catalog."""

    def filter_queryset(self, request: Request, queryset, view):
        unknown = unknown_parameters(
            request.query_params.keys(), allowed_extra=("page", "page_size", "format")
        )
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return queryset


class CatalogFilterBackend(DjangoFilterBackend):
    """django-filter's backend, but its errors rendered by Django's own message formatting.

    django-filter builds each message as `message % (params or ())`, so a message without params that holds a
    user's `%` ("%s", "%(x)s", a lone "%") raised TypeError/KeyError: a 500 from an anonymous query string.
    """

    def filter_queryset(self, request: Request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise exceptions.ValidationError(form_error_detail(filterset.errors))
        return filterset.qs


# Bounds the filters enforce but django-filter does not describe (method filters, lengths, no NUL).
_TEXT = r"^[^\x00]*$"
LIST_PARAMETER_BOUNDS = [
    OpenApiParameter("min_top1", {"type": "number", "minimum": 0, "maximum": 100}),
    OpenApiParameter(
        "min_claim",
        {"type": "number", "minimum": 0, "maximum": 100},
        description=CatalogFilterSet.base_filters["min_claim"].extra["help_text"],
    ),
    OpenApiParameter("size_mb_max", {"type": "number", "minimum": 0, "maximum": MAX_SIZE_MB}),
    OpenApiParameter("verified", {"type": "string", "enum": ["true", "false"]}),
    *[
        OpenApiParameter(name, {"type": "string", "pattern": COUNT_REGEX}, description="e.g. 5000000 or 5M")
        for name in ("params_min", "params_max")
    ],
    *[
        OpenApiParameter(name, {"type": "string", "maxLength": field.extra["max_length"], "pattern": _TEXT})
        for name, field in CatalogFilterSet.base_filters.items()
        if field.extra.get("max_length")
    ],
]


class CatalogPagination(StrictPageNumberPagination):
    """The catalog unfiltered or filtered on facets only: its exact size is in the facet-count table, so even a
    count of 100,000 entries is exact and costs one read of a small table."""

    def known_count(self, request: Request) -> int | None:
        return selectors.catalog_count_known(query=request.query_params)


@extend_schema_view(get=extend_schema(parameters=LIST_PARAMETER_BOUNDS))
class ModelListView(generics.ListCreateAPIView):
    parser_classes = [
        DepthLimitedJSONParser
    ]  # writes take JSON (as documented); no form-encoded lists or numbers
    """The catalog: filter, search, order and paginate; staff register new entries."""

    filter_backends = [RejectUnknownParameters, CatalogFilterBackend]
    filterset_class = CatalogFilterSet
    pagination_class = CatalogPagination

    def get_queryset(self):
        return selectors.model_queryset()  # list rows carry no claims: one query for the page, one to count

    def get_serializer_class(self):
        return ModelWriteSerializer if self.request.method == "POST" else ModelListSerializer

    @extend_schema(request=ModelWriteSerializer, responses={201: ModelDetailSerializer})
    def post(self, request: Request) -> Response:
        refuse_loose_types(ModelWriteSerializer, request.data)
        serializer = ModelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            model = services.model_register(**serializer.validated_data)
        except DjangoValidationError as error:
            raise_as_api_error(error)
        return Response(
            ModelDetailSerializer(model, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ModelDetailView(generics.GenericAPIView):
    parser_classes = [DepthLimitedJSONParser]
    serializer_class = ModelDetailSerializer
    pagination_class = None

    def get_object(self) -> ModelEntry:
        try:
            return selectors.model_get(namespace=self.kwargs["namespace"], name=self.kwargs["name"])
        except ModelEntry.DoesNotExist:
            raise exceptions.NotFound(f"No model {self.kwargs['namespace']}/{self.kwargs['name']}.") from None

    def get(self, request: Request, namespace: str, name: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=ModelWriteSerializer, responses={200: ModelDetailSerializer})
    def patch(self, request: Request, namespace: str, name: str) -> Response:
        model = self.get_object()
        refuse_loose_types(ModelWriteSerializer, request.data)
        serializer = ModelWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {
            key: value for key, value in serializer.validated_data.items() if key not in ("namespace", "name")
        }
        try:
            services.model_update(model=model, **fields)
        except DjangoValidationError as error:
            raise_as_api_error(error)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, namespace: str, name: str) -> Response:
        try:
            services.model_delete(model=self.get_object())
        except IntegrityError:
            raise exceptions.ValidationError({"model": ["The model is still referenced."]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelClaimsView(generics.GenericAPIView):
    parser_classes = [DepthLimitedJSONParser]
    serializer_class = ClaimSerializer
    pagination_class = None

    def _model(self) -> ModelEntry:
        return get_object_or_404(ModelEntry, namespace=self.kwargs["namespace"], name=self.kwargs["name"])

    @extend_schema(responses={200: ClaimSerializer(many=True)})
    def get(self, request: Request, namespace: str, name: str) -> Response:
        return Response(ClaimSerializer(self._model().claims.all(), many=True).data)

    @extend_schema(request=ClaimWriteSerializer, responses={201: ClaimSerializer})
    def post(self, request: Request, namespace: str, name: str) -> Response:
        model = self._model()
        refuse_loose_types(ClaimWriteSerializer, request.data)
        serializer = ClaimWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            claim = services.claim_record(model=model, **serializer.validated_data)
        except DjangoValidationError as error:
            raise_as_api_error(error)
        return Response(ClaimSerializer(claim).data, status=status.HTTP_201_CREATED)


class ModelWeightsView(generics.GenericAPIView):
    """Upload a safetensors file as the model's weights (staff). Pickle files are refused."""

    parser_classes = [MultiPartParser]
    serializer_class = WeightsUploadSerializer
    pagination_class = None

    @extend_schema(
        request={"multipart/form-data": WeightsUploadSerializer}, responses={201: WeightsFileSerializer}
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        if declared_length_too_large(request.META.get("CONTENT_LENGTH")):
            return error_response(
                413, str(UploadTooLarge(int(request.META["CONTENT_LENGTH"]))), {"file": ["Too large."]}
            )
        model = get_object_or_404(ModelEntry, namespace=namespace, name=name)
        serializer = WeightsUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            weights_file = attach_uploaded_weights(
                model=model, upload=upload, convert_pickle=serializer.validated_data["convert_pickle"]
            )
        except UploadTooLarge as error:
            return error_response(413, str(error), {"file": [str(error)]})
        except weights.WeightsMismatch as error:
            report = error.report
            detail = {
                "file": [str(error)],
                "missing": report.missing,
                "unexpected": report.unexpected,
                "mismatched": report.mismatched,
            }
            return error_response(400, str(error), detail)
        except weights.WeightsError as error:
            return error_response(400, str(error), {"file": [str(error)]})
        return Response(WeightsFileSerializer(weights_file).data, status=status.HTTP_201_CREATED)


class ModelMirrorWeightsView(generics.GenericAPIView):
    """Mirror the model's weights from its Hugging Face repository at a pinned commit (staff): a job, 202."""

    parser_classes = [DepthLimitedJSONParser]
    serializer_class = WeightsMirrorRequestSerializer
    pagination_class = None

    @extend_schema(
        request=WeightsMirrorRequestSerializer,
        responses={202: WeightsMirrorSerializer, 200: WeightsMirrorSerializer},
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        model = get_object_or_404(ModelEntry, namespace=namespace, name=name)
        refuse_loose_types(WeightsMirrorRequestSerializer, request.data)
        serializer = WeightsMirrorRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            mirror, created = services.weights_mirror_request(
                model=model, revision=serializer.validated_data["revision"], requested_by=request.user
            )
        except DjangoValidationError as error:
            raise_as_api_error(error)
        body = WeightsMirrorSerializer(mirror, context={"request": request}).data
        return job_response(body, created=created)


class WeightsMirrorDetailView(generics.RetrieveAPIView):
    """A weights mirror job and its progress."""

    serializer_class = WeightsMirrorSerializer
    pagination_class = None

    def get_object(self) -> WeightsMirror:
        return get_object_or_404(selectors.mirror_queryset(), pk=self.kwargs["mirror_id"])


class StarterBundleView(generics.GenericAPIView):
    """A fine-tuning starter project for this model, as a zip. GET takes query parameters, POST a JSON body.

    Building a bundle changes nothing on the hub, so POST is open to everyone like GET (and throttled alike).
    """

    permission_classes = [AllowAny]
    pagination_class = None
    serializer_class = StarterBundleRequestSerializer
    # A JSON body, as documented: a form's fields cannot say null or a number, only text.
    parser_classes = [DepthLimitedJSONParser]

    def _respond(self, request: Request, namespace: str, name: str, raw: dict) -> HttpResponse:
        model = get_object_or_404(
            ModelEntry.objects.select_related("weights"), namespace=namespace, name=name
        )
        try:
            data, filename, etag = bundles.starter_bundle(
                model=model, raw_target=raw, hub_url=bundles.hub_url(request)
            )
        except BundleConfigError as error:
            return error_response(
                400, f"Invalid {error.field}: {error.message}", {error.field: [error.message]}
            )
        return bundles.bundle_response(request, data, filename, etag)

    @extend_schema(parameters=[StarterBundleRequestSerializer], responses={(200, "application/zip"): bytes})
    def get(self, request: Request, namespace: str, name: str) -> HttpResponse:
        return self._respond(request, namespace, name, dict(request.query_params.items()))

    @extend_schema(request=StarterBundleRequestSerializer, responses={(200, "application/zip"): bytes})
    def post(self, request: Request, namespace: str, name: str) -> HttpResponse:
        # Options may come in the query string (as with GET), in the body, or both; the body wins a clash.
        body = request.data if isinstance(request.data, dict) else {}
        raw = dict(request.query_params.items()) | dict(body.items())
        return self._respond(request, namespace, name, raw)
