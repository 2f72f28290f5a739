"""Shapes of the catalog API. Output and input serializers are separate; neither holds business logic."""

import math
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog import selectors
from catalog.filters import CLAIM_ANNOTATION, DATASET_ANNOTATION, VERIFIED_ANNOTATION
from catalog.models import (
    BYTES_PER_PARAMETER,
    DEFAULT_TOP1_DATASET,
    ESTIMATE_DTYPE,
    AccuracyClaim,
    ClaimSource,
    Domain,
    Library,
    Metric,
    ModelEntry,
    SourceKind,
    SpeedClaim,
    Task,
    TextModelDetails,
    WeightsFile,
    WeightsMirror,
)
from core.model_metadata import MAX_CHANNELS, MAX_NUM_CLASSES, MAX_SIDE
from core.starter.options import BUNDLE_OPTIONS
from core.verdict import headline_claim
from hub.options import options_serializer


class ClaimSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccuracyClaim
        fields = [
            "dataset", "split", "metric", "value", "img_size", "crop_pct", "interpolation", "source", "source_url",
            "created", "retired_at",
        ]  # fmt: skip


def _datetime(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class ModelRowsSerializer(serializers.ListSerializer):
    """Catalog pages are read far more than anything else: rows are shaped directly, with the URL base
    computed once per page, instead of through DRF's per-field machinery (which cost ~0.4 ms a row)."""

    def to_representation(self, data) -> list[dict]:
        request = self.context.get("request")
        base = request.build_absolute_uri("/").rstrip("/") if request else ""
        rows = data.all() if hasattr(data, "all") else data
        return [self._row(model, base) for model in rows]

    @staticmethod
    def _row(model: ModelEntry, base: str) -> dict:
        return {
            "id": model.model_id, "namespace": model.namespace, "name": model.name, "title": model.title,
            "summary": model.summary, "domain": model.domain, "task": model.task, "library": model.library,
            "architecture": model.architecture, "pretrained_on": model.pretrained_on,
            "fine_tuned_on": model.fine_tuned_on, "base_model": model.base_model, "license": model.license,
            "tags": model.tag_list, "num_params": model.num_params, "size_bytes": model.weights_size_bytes,
            "estimated_size_bytes": model.estimated_size_bytes,
            "gmacs": model.gmacs, "top1_dataset": getattr(model, DATASET_ANNOTATION, DEFAULT_TOP1_DATASET),
            "claimed_top1": getattr(model, CLAIM_ANNOTATION, model.in1k_claimed_top1),
            "verified_top1": getattr(model, VERIFIED_ANNOTATION, model.in1k_verified_top1),
            "claim_top1": getattr(model, CLAIM_ANNOTATION, model.in1k_claimed_top1),
            "verification": model.verification, "downloads": model.downloads,
            "url": f"{base}/api/v1/models/{model.namespace}/{model.name}/",
            "html_url": f"{base}/models/{model.namespace}/{model.name}/",
            "created": _datetime(model.created), "updated": _datetime(model.updated),
        }  # fmt: skip


class ModelListSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="model_id", read_only=True)
    tags = serializers.ListField(source="tag_list", child=serializers.CharField(), read_only=True)
    size_bytes = serializers.IntegerField(
        source="weights_size_bytes",
        read_only=True,
        allow_null=True,
        help_text="Size of the stored weights file; null while none is stored.",
    )
    estimated_size_bytes = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text=f"An ESTIMATE (num_params x {BYTES_PER_PARAMETER[ESTIMATE_DTYPE]} bytes, {ESTIMATE_DTYPE}) "
        "while no weights are stored; null once size_bytes is known.",
    )
    top1_dataset = serializers.SerializerMethodField(
        help_text="The dataset claimed_top1 and verified_top1 are on: the claim_dataset query parameter, else "
        f"{DEFAULT_TOP1_DATASET}."
    )
    claimed_top1 = serializers.SerializerMethodField(
        help_text="The best top-1 claimed on top1_dataset (percent); null when the model claims none there."
    )
    verified_top1 = serializers.SerializerMethodField(
        help_text="The hub's own top-1 for that claim (same dataset and split); null until it measured it."
    )
    claim_top1 = serializers.SerializerMethodField(help_text="The same as claimed_top1 (its earlier name).")
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelEntry
        fields = [
            "id", "namespace", "name", "title", "summary", "domain", "task", "library", "architecture",
            "pretrained_on", "fine_tuned_on", "base_model", "license", "tags", "num_params", "size_bytes",
            "estimated_size_bytes", "gmacs", "top1_dataset", "claimed_top1", "verified_top1", "claim_top1",
            "verification", "downloads", "url", "html_url",
            "created", "updated",
        ]  # fmt: skip
        list_serializer_class = ModelRowsSerializer

    # The shapes, for the schema; rows are built by ModelRowsSerializer._row.
    def get_top1_dataset(self, model: ModelEntry) -> str:
        return getattr(model, DATASET_ANNOTATION, DEFAULT_TOP1_DATASET)

    def get_claimed_top1(self, model: ModelEntry) -> float | None:
        return getattr(model, CLAIM_ANNOTATION, model.in1k_claimed_top1)

    def get_verified_top1(self, model: ModelEntry) -> float | None:
        return getattr(model, VERIFIED_ANNOTATION, model.in1k_verified_top1)

    def get_claim_top1(self, model: ModelEntry) -> float | None:
        return self.get_claimed_top1(model)

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, model: ModelEntry) -> str:
        return self._absolute(
            reverse("api:model-detail", kwargs={"namespace": model.namespace, "name": model.name})
        )

    def get_html_url(self, model: ModelEntry) -> str:
        return self._absolute(model.get_absolute_url())


class PreprocessingSerializer(serializers.Serializer):
    input_size = serializers.ListField(child=serializers.IntegerField())
    mean = serializers.ListField(child=serializers.FloatField())
    std = serializers.ListField(child=serializers.FloatField())
    interpolation = serializers.CharField()
    crop_pct = serializers.FloatField(allow_null=True)
    crop_mode = serializers.CharField()


class SourceSerializer(serializers.Serializer):
    kind = serializers.CharField(source="source_kind")
    hf_repo_id = serializers.CharField()
    hf_revision = serializers.CharField()


class WeightsFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = WeightsFile
        fields = ["sha256", "size_bytes", "tensor_count", "created"]


class SpeedClaimSerializer(serializers.ModelSerializer):
    class Meta:
        model = SpeedClaim
        fields = [
            "architecture", "device", "hardware", "precision", "torch_version", "samples_per_sec", "step_time_ms",
            "batch_size", "img_size", "gmacs", "source", "source_url",
        ]  # fmt: skip


class VerdictSerializer(serializers.Serializer):
    """Documents the shape of ClaimVerdict.to_dict for the schema; the rows themselves come from the selector."""

    dataset = serializers.CharField()
    split = serializers.CharField()
    metric = serializers.CharField()
    claimed = serializers.FloatField()
    status = serializers.ChoiceField(choices=["verified", "disagrees", "unverifiable", "pending"])
    measured = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="measured - claimed, percentage points")
    interval95 = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Wilson interval of measured, percent"
    )
    num_samples = serializers.IntegerField(allow_null=True)
    tolerance = serializers.FloatField()
    run = serializers.IntegerField(allow_null=True, help_text="The benchmark run that measured it")


class TextDetailsSerializer(serializers.ModelSerializer):
    class Meta:
        model = TextModelDetails
        fields = ["model_type", "max_sequence_length", "vocab_size", "tokenizer_sha256", "base_model"]


class ModelDetailSerializer(ModelListSerializer):
    weights = WeightsFileSerializer(read_only=True, allow_null=True)
    text = TextDetailsSerializer(
        source="text_details", read_only=True, allow_null=True, help_text="Text models only (domain nlp)."
    )
    preprocessing = PreprocessingSerializer(source="*", read_only=True)
    source = SourceSerializer(source="*", read_only=True)
    claims = ClaimSerializer(many=True, read_only=True)
    speed_claims = serializers.SerializerMethodField(
        help_text="Published inference speed of the architecture (claims, not measured by this hub)."
    )
    verdicts = serializers.SerializerMethodField(
        help_text="The hub's verdict on every top-1 claim: verified when the claim lies inside the measurement's "
        "95% Wilson interval (interval95, on num_samples images) widened by the tolerance, else disagrees; "
        "pending or unverifiable without a measurement."
    )
    retired_claims = serializers.SerializerMethodField(
        help_text="Claims the source no longer makes (a tag timm's results tables stopped listing): history only."
    )

    class Meta(ModelListSerializer.Meta):
        fields = [
            *ModelListSerializer.Meta.fields,
            "card", "paper_ids", "num_classes", "label_names", "label_space", "model_args", "preprocessing", "source",
            "weights", "revision", "claims", "speed_claims", "verdicts", "retired_claims", "text",
        ]  # fmt: skip
        # label_space: the ImageNet label space (timm's synsets) an entry's outputs are named by, when
        # label_names is empty; the synsets themselves are in the entry's config.json.
        extra_kwargs = {"label_space": {"read_only": True}}

    @extend_schema_field(ClaimSerializer(many=True))
    def get_retired_claims(self, model: ModelEntry) -> list[dict]:
        return ClaimSerializer(selectors.retired_claims(model=model), many=True).data

    # One model's detail leads with its headline claim (core.verdict.headline_claim: ImageNet-1k's when it has
    # one, else its best top-1) and names that claim's dataset; `claims` lists every claim.
    def get_top1_dataset(self, model: ModelEntry) -> str | None:
        headline = headline_claim(model.claims.all())
        return headline.dataset if headline else None

    def get_claimed_top1(self, model: ModelEntry) -> float | None:
        return model.claimed_top1

    def get_verified_top1(self, model: ModelEntry) -> float | None:
        return model.verified_top1

    @extend_schema_field(SpeedClaimSerializer(many=True))
    def get_speed_claims(self, model: ModelEntry) -> list[dict]:
        speeds = getattr(model, "published_speeds", None)
        if speeds is None:  # a model fresh from a write rather than from selectors.model_get
            speeds = selectors.speed_claims_for(model=model)
        return SpeedClaimSerializer(speeds, many=True).data

    @extend_schema_field(VerdictSerializer(many=True))
    def get_verdicts(self, model: ModelEntry) -> list[dict]:
        return [verdict.to_dict() for verdict in selectors.claim_verdicts(model=model)]


class StrictNumberField(serializers.FloatField):
    """A JSON number only: DRF's FloatField turns true into 1.0 and "nan" into NaN, neither a channel's mean."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelWriteSerializer(serializers.Serializer):
    """Input for registering (all required fields) or updating (partial) a catalog entry."""

    namespace = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$", required=True)
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$", required=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True)
    card = serializers.CharField(required=False, allow_blank=True)
    domain = serializers.ChoiceField(choices=Domain.choices)
    task = serializers.ChoiceField(choices=Task.choices)
    library = serializers.ChoiceField(choices=Library.choices)
    architecture = serializers.CharField(max_length=96, required=False, allow_blank=True)
    pretrained_on = serializers.CharField(
        max_length=96, required=False, allow_blank=True, help_text="The data the weights were pretrained on."
    )
    fine_tuned_on = serializers.CharField(
        max_length=96,
        required=False,
        allow_blank=True,
        help_text="The dataset they were last fine-tuned on, when another (the one num_classes refers to).",
    )
    base_model = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The model these weights were fine-tuned from, namespace/name (a card's base_model: sets it "
        "too).",
    )
    license = serializers.CharField(max_length=64, required=False, allow_blank=True)
    paper_ids = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    num_params = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    gmacs = serializers.FloatField(min_value=0, required=False, allow_null=True)
    # The bounds of core.model_metadata that a schema can say (channels are at most MAX_CHANNELS besides).
    input_size = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_SIDE),
        min_length=3,
        max_length=3,
        required=False,
        help_text=f"[channels, height, width]: 1 to {MAX_CHANNELS} channels, sides of 1 to {MAX_SIDE} pixels.",
    )
    num_classes = serializers.IntegerField(
        min_value=1, max_value=MAX_NUM_CLASSES, required=False, allow_null=True
    )
    label_names = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    model_args = serializers.DictField(required=False, help_text="Extra timm.create_model keyword arguments.")
    mean = serializers.ListField(child=StrictNumberField(), max_length=MAX_CHANNELS, required=False)
    std = serializers.ListField(child=StrictNumberField(), max_length=MAX_CHANNELS, required=False)
    interpolation = serializers.ChoiceField(
        choices=["bilinear", "bicubic", "nearest", "lanczos", "box", "hamming"], required=False
    )
    crop_pct = serializers.FloatField(min_value=0.01, max_value=2, required=False, allow_null=True)
    crop_mode = serializers.ChoiceField(choices=["center", "squash", "border"], required=False)
    hf_repo_id = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", required=False, allow_blank=True
    )
    hf_revision = serializers.RegexField(
        r"^[0-9a-f]{40}$", required=False, allow_blank=True, help_text="A full commit sha."
    )

    def validate(self, attrs: dict) -> dict:
        if attrs.get("hf_repo_id") and not attrs.get("hf_revision") and not self.partial:
            raise serializers.ValidationError(
                {"hf_revision": ["A Hugging Face source needs a pinned commit sha."]}
            )
        if attrs.get("hf_repo_id"):
            attrs["source_kind"] = SourceKind.HUGGING_FACE
        return attrs


class ClaimWriteSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=96)
    split = serializers.CharField(max_length=32, default="validation")
    metric = serializers.ChoiceField(choices=Metric.choices)
    value = serializers.FloatField(min_value=0, max_value=100)
    img_size = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    source = serializers.ChoiceField(choices=ClaimSource.choices, default=ClaimSource.AUTHOR)
    source_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")


class WeightsUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .safetensors file. Pickle-based files are refused.")
    convert_pickle = serializers.BooleanField(
        default=False, help_text="Convert a pickle checkpoint once with torch.load(weights_only=True)."
    )


StarterBundleRequestSerializer = options_serializer(
    BUNDLE_OPTIONS,
    name="StarterBundleRequestSerializer",
    doc="The bundle options, generated from core/starter/options.py; the builder validates them (and names "
    "the bad field). Text models (domain nlp) take TEXT_BUNDLE_OPTIONS instead: the same but image_size, "
    "augmentation and hflip, plus max_length (tokens per text), with text defaults.",
)


class WeightsMirrorSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.model_id", read_only=True)
    percent = serializers.FloatField(
        read_only=True, allow_null=True, help_text="null while the size is unknown"
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = WeightsMirror
        fields = [
            "id", "url", "model", "repo_id", "revision", "filename", "status", "bytes_done", "bytes_total",
            "percent", "error", "weights_sha256", "created", "started", "finished",
        ]  # fmt: skip

    def get_url(self, mirror: WeightsMirror) -> str:
        path = reverse("api:weights-mirror-detail", kwargs={"mirror_id": mirror.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class WeightsMirrorRequestSerializer(serializers.Serializer):
    revision = serializers.RegexField(
        r"^[0-9a-f]{40}$",
        required=False,
        allow_blank=True,
        default="",
        help_text="The commit sha to mirror at; the entry's hf_revision when left out.",
    )
