"""Evaluation REST endpoints: datasets and benchmark runs. Thin: parse, call a service or selector, shape."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import ModelEntry
from evaluation import selectors, services, text_services
from evaluation.api.serializers import (
    DatasetSerializer,
    DatasetUploadSerializer,
    RunRequestSerializer,
    RunSerializer,
)
from evaluation.models import BenchmarkRun, EvalDataset
from hub.api import ErrorSerializer, error_response, job_response, raise_as_api_error
from hub.pagination import StrictPageNumberPagination
from hub.parsers import DepthLimitedJSONParser
from hub.strict_json import refuse_loose_types
from hub.uploads import UploadTooLarge, declared_length_too_large, spooled_upload


class DatasetListView(generics.ListCreateAPIView):
    serializer_class = DatasetSerializer
    pagination_class = StrictPageNumberPagination
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        return selectors.dataset_list()

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer}, responses={201: DatasetSerializer}
    )
    def post(self, request: Request) -> Response:
        if declared_length_too_large(request.META.get("CONTENT_LENGTH")):
            return error_response(
                413, str(UploadTooLarge(int(request.META["CONTENT_LENGTH"]))), {"file": ["Too large."]}
            )
        serializer = DatasetUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with spooled_upload(data["file"]) as path:
                dataset = _register_upload(data, path)
        except UploadTooLarge as error:
            return error_response(413, str(error), {"file": [str(error)]})
        except DjangoValidationError as error:
            raise_as_api_error(error)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


def _register_upload(data: dict, path) -> EvalDataset:
    """A .tsv, .csv or .jsonl file is a text dataset; anything else must be an ImageFolder zip."""
    if text_services.is_text_upload(data["file"].name):
        return text_services.dataset_register_text_upload(
            name=data["name"], path=path, original_name=data["file"].name, title=data["title"],
            description=data["description"],
        )  # fmt: skip
    return services.dataset_register_zip(
        name=data["name"], zip_path=path, title=data["title"], description=data["description"]
    )


class DatasetDetailView(generics.GenericAPIView):
    serializer_class = DatasetSerializer
    pagination_class = None

    def get_object(self) -> EvalDataset:
        dataset = EvalDataset.objects.filter(name=self.kwargs["name"]).first()
        if dataset is None:
            raise exceptions.NotFound(f"No dataset {self.kwargs['name']!r} on this hub.")
        return dataset

    def get(self, request: Request, name: str) -> Response:
        return Response(DatasetSerializer(self.get_object()).data)

    @extend_schema(
        responses={
            202: OpenApiResponse(
                DatasetSerializer,
                description="Being deleted: its files are removed by a job; follow Location",
            ),
            204: None,
            409: OpenApiResponse(
                ErrorSerializer, description="Benchmark runs or transfer rankings reference the dataset"
            ),
        }
    )
    def delete(self, request: Request, name: str) -> Response:
        """202 while a job removes an upload's files (GET Location shows `deleting` until it answers 404);
        204 when there was nothing on disk of ours to remove and the dataset is gone already."""
        dataset = self.get_object()
        try:
            queued = services.dataset_delete(dataset=dataset)
        except services.DatasetInUse as error:
            return error_response(409, str(error), {"name": [str(error)]})
        if not queued:
            return Response(status=status.HTTP_204_NO_CONTENT)
        response = Response(DatasetSerializer(dataset).data, status=status.HTTP_202_ACCEPTED)
        response["Location"] = request.build_absolute_uri(
            reverse("api:dataset-detail", kwargs={"name": name})
        )
        return response


class RunListView(generics.ListCreateAPIView):
    parser_classes = [DepthLimitedJSONParser]
    serializer_class = RunSerializer
    pagination_class = StrictPageNumberPagination

    def get_queryset(self):
        queryset = selectors.run_queryset()
        model_id = self.request.query_params.get("model")
        if model_id:
            namespace, _, name = model_id.partition("/")
            queryset = queryset.filter(model__namespace=namespace, model__name=name)
        return queryset

    @extend_schema(
        request=RunRequestSerializer,
        responses={
            202: RunSerializer,
            200: OpenApiResponse(RunSerializer, description="The same run already exists"),
        },
    )
    def post(self, request: Request) -> Response:
        refuse_loose_types(RunRequestSerializer, request.data)
        serializer = RunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        namespace, _, name = data["model"].partition("/")
        model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
        if model is None:
            raise exceptions.ValidationError({"model": [f"No model {data['model']}."]})
        dataset = EvalDataset.objects.filter(name=data["dataset"]).first()
        if dataset is None:
            raise exceptions.ValidationError({"dataset": [f"No dataset {data['dataset']!r} on this hub."]})
        try:
            run, created = services.run_request(
                model=model, dataset=dataset, split=data["split"], config=data["config"], force=data["force"],
                requested_by=request.user,
            )  # fmt: skip
        except DjangoValidationError as error:
            raise_as_api_error(error)
        body = RunSerializer(run, context={"request": request}).data
        return job_response(body, created=created)


class RunDetailView(generics.RetrieveAPIView):
    serializer_class = RunSerializer
    pagination_class = None

    def get_object(self) -> BenchmarkRun:
        return get_object_or_404(selectors.run_queryset(), pk=self.kwargs["run_id"])


class RunCancelView(generics.GenericAPIView):
    serializer_class = RunSerializer
    pagination_class = None

    @extend_schema(
        request=None,
        responses={200: RunSerializer, 409: OpenApiResponse(ErrorSerializer, description="Already finished")},
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(BenchmarkRun, pk=run_id)
        try:
            run = services.run_cancel(run=run)
        except DjangoValidationError as error:
            return error_response(409, error.message_dict["status"][0], error.message_dict)
        return Response(RunSerializer(run, context={"request": request}).data)
