"""Transfer-ranking API shapes: the request, the ranking with its candidates, one candidate."""

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework import serializers

from catalog.models import Domain, Task
from core.transfer.options import RANKING_CONFIG
from evaluation import transfer_services
from evaluation.models import TransferCandidate, TransferRanking
from hub.api import validation_error_detail
from hub.options import OptionsDictField, options_serializer


class CandidateFilterSerializer(serializers.Serializer):
    domain = serializers.ChoiceField(choices=Domain.choices, required=False)
    task = serializers.ChoiceField(choices=Task.choices, required=False)
    max_params = serializers.IntegerField(
        min_value=1, required=False, help_text="At most this many parameters"
    )
    max_gmacs = serializers.FloatField(
        min_value=0, required=False, help_text="At most this many GMACs per image"
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(f"Unknown filter key(s): {', '.join(map(str, unknown))}.")
        return super().to_internal_value(data)


RankingConfigSerializer = options_serializer(
    RANKING_CONFIG,
    name="RankingConfigSerializer",
    doc="A ranking's options, generated from core/transfer/options.py.",
)


class RankingRequestSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=96, help_text="A registered ImageFolder dataset (its name)")
    split = serializers.CharField(
        max_length=32, default="train", help_text="The labelled images or texts to rank on"
    )
    candidates = serializers.ListField(
        child=serializers.RegexField(r"^[^/]+/[^/]+$"), required=False, max_length=100,
        help_text="Candidate model ids (namespace/name); or give `filter` instead",
    )  # fmt: skip
    filter = CandidateFilterSerializer(required=False, help_text="Pick candidates from the catalog instead")
    config = OptionsDictField(
        options_serializer=RankingConfigSerializer,
        help_text="Ranking options; those left out take their defaults. An unknown one is refused.",
    )


def request_ranking(*, data: Any, requested_by: Any) -> tuple[TransferRanking | None, dict[str, Any] | None]:
    """Parse a ranking request (the API's body; the page's form sends the same shape) and queue the ranking.

    (the ranking, None), or (None, the errors) keyed by field as a serializer's errors are ("non_field_errors"
    for the request as a whole), whether the request's shape or the service refused it.
    """
    serializer = RankingRequestSerializer(data=data)
    if not serializer.is_valid():
        return None, serializer.errors
    request = serializer.validated_data
    try:
        ranking = transfer_services.ranking_request_by_name(
            dataset_name=request["dataset"], split=request["split"], model_ids=request.get("candidates"),
            candidate_filter=request.get("filter"), config=request["config"], requested_by=requested_by,
        )  # fmt: skip
    except ValidationError as error:
        return None, validation_error_detail(error)
    return ranking, None


class CandidateSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_label")
    model_url = serializers.SerializerMethodField()

    class Meta:
        model = TransferCandidate
        fields = [
            "model", "model_url", "rank", "status", "score", "score_folds", "logme", "knn", "linear_probe",
            "feature_dim", "seconds", "latency_ms", "num_params", "gmacs", "weights_bytes", "weights_sha256", "error",
        ]  # fmt: skip

    def get_model_url(self, candidate: TransferCandidate) -> str | None:
        return candidate.model.get_absolute_url() if candidate.model_id else None


class RankingSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()
    candidates = CandidateSerializer(many=True, read_only=True)

    class Meta:
        model = TransferRanking
        fields = [
            "id", "url", "html_url", "dataset", "split", "status", "progress", "error", "log_tail", "config",
            "candidate_filter", "dataset_hash", "num_images", "num_classes", "best_score", "baseline_accuracy",
            "negative_transfer", "transfer_gap", "transfer_spread", "baseline", "candidates", "provenance", "worker",
            "created", "started", "finished",
        ]  # fmt: skip

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, ranking: TransferRanking) -> str:
        return self._absolute(reverse("api:transfer-ranking-detail", kwargs={"ranking_id": ranking.pk}))

    def get_html_url(self, ranking: TransferRanking) -> str:
        return self._absolute(ranking.get_absolute_url())
