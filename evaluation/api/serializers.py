from django.urls import reverse
from rest_framework import serializers

from core.run_config import RUN_CONFIG
from evaluation.models import BenchmarkRun, EvalDataset
from hub.options import OptionsDictField, options_serializer


class DatasetSerializer(serializers.ModelSerializer):
    deleting = serializers.SerializerMethodField(help_text="True while its deletion job removes its files")

    def get_deleting(self, dataset: EvalDataset) -> bool:
        return dataset.deleting is not None

    class Meta:
        model = EvalDataset
        fields = [
            "name",
            "title",
            "description",
            "kind",
            "modality",
            "class_names",
            "split_sizes",
            "split_hashes",
            "unused_files",
            "decode_counts",
            "created",
            "deleting",
        ]


class DatasetUploadSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField(
        help_text="A zip of an ImageFolder (<split>/<class>/<image>), or a text dataset: a .tsv, .csv or .jsonl "
        "file with text and label columns and a split column (or named after its split, e.g. test.tsv)."
    )


class RunSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.model_id")
    dataset = serializers.CharField(source="dataset.name")
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkRun
        fields = [
            "id", "url", "html_url", "model", "dataset", "split", "status", "progress", "top1", "error", "log_tail",
            "config", "weights_sha256", "dataset_hash", "metrics", "provenance", "worker", "created", "started",
            "finished",
        ]  # fmt: skip

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, run: BenchmarkRun) -> str:
        return self._absolute(reverse("api:benchmark-detail", kwargs={"run_id": run.pk}))

    def get_html_url(self, run: BenchmarkRun) -> str:
        return self._absolute(run.get_absolute_url())


RunConfigSerializer = options_serializer(
    RUN_CONFIG, name="RunConfigSerializer", doc="A run's options, generated from core/run_config.py."
)


class RunRequestSerializer(serializers.Serializer):
    model = serializers.RegexField(r"^[^/]+/[^/]+$", help_text="namespace/name")
    dataset = serializers.CharField(max_length=96)
    split = serializers.CharField(max_length=32, default="test")
    config = OptionsDictField(
        options_serializer=RunConfigSerializer,
        help_text="Run options; those left out take their defaults. An unknown one is refused.",
    )
    force = serializers.BooleanField(default=False, help_text="Run again even if the same run exists.")
