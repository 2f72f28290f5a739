"""Transfer-ranking REST endpoints. Thin: parse, call a service or selector, shape."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics
from rest_framework.request import Request
from rest_framework.response import Response

from evaluation import transfer_selectors, transfer_services
from evaluation.api.transfer_serializers import RankingRequestSerializer, RankingSerializer, request_ranking
from evaluation.models import TransferRanking
from hub.api import error_response, job_response
from hub.pagination import StrictPageNumberPagination
from hub.parsers import DepthLimitedJSONParser
from hub.strict_json import refuse_loose_types


class RankingListView(generics.ListCreateAPIView):
    """Transfer rankings, newest first; staff queue a new one (202 with its URL)."""

    serializer_class = RankingSerializer
    pagination_class = StrictPageNumberPagination
    # JSON only, as documented: a form cannot carry `filter` and `config` objects (the page's own form goes
    # through evaluation.transfer_views, which builds the same request shape from its strings).
    parser_classes = [DepthLimitedJSONParser]

    def get_queryset(self):
        return transfer_selectors.ranking_queryset()

    @extend_schema(request=RankingRequestSerializer, responses={202: RankingSerializer})
    def post(self, request: Request) -> Response:
        refuse_loose_types(RankingRequestSerializer, request.data)
        ranking, errors = request_ranking(data=request.data, requested_by=request.user)
        if errors:
            raise exceptions.ValidationError(errors)
        body = RankingSerializer(
            transfer_selectors.ranking_get(ranking_id=ranking.pk), context={"request": request}
        ).data
        return job_response(body, created=True)


class RankingDetailView(generics.RetrieveAPIView):
    serializer_class = RankingSerializer
    pagination_class = None

    def get_object(self) -> TransferRanking:
        return get_object_or_404(transfer_selectors.ranking_queryset(), pk=self.kwargs["ranking_id"])


class RankingCancelView(generics.GenericAPIView):
    serializer_class = RankingSerializer
    pagination_class = None

    @extend_schema(request=None, responses={200: RankingSerializer})
    def post(self, request: Request, ranking_id: int) -> Response:
        ranking = get_object_or_404(TransferRanking, pk=ranking_id)
        try:
            transfer_services.ranking_cancel(ranking=ranking)
        except DjangoValidationError as error:
            return error_response(409, error.message_dict["status"][0], error.message_dict)
        ranking = transfer_selectors.ranking_get(ranking_id=ranking_id)
        return Response(RankingSerializer(ranking, context={"request": request}).data)
