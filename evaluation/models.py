"""Evaluation data and the record of every benchmark run.

A BenchmarkRun is the record of truth for a measured accuracy: which weights (sha256), which data (content
hash), which code and hardware. Only evaluation/services.py changes its state.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from catalog.models import ModelEntry, name_validator


class DatasetKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in"
    DIRECTORY = "directory", "Directory on the server"
    UPLOAD = "upload", "Uploaded zip"


class EvalDataset(models.Model):
    """An ImageFolder on the server: <root>/<split>/<class>/<image>."""

    name = models.CharField(max_length=96, unique=True, validators=[name_validator])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices)
    root = models.CharField(max_length=500, help_text="Absolute path of the directory holding the splits.")
    class_names = models.JSONField(default=list)
    split_sizes = models.JSONField(default=dict, help_text="split -> number of images")
    split_hashes = models.JSONField(default=dict, help_text="split -> sha256 over sorted paths and bytes")
    unused_files = models.JSONField(
        default=list, blank=True, help_text="[{path, reason}]: files under root that no split reads"
    )
    decode_counts = models.JSONField(
        default=dict, blank=True, help_text="split -> {decoding case -> number of images}"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "evaluation dataset"

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class BenchmarkRun(models.Model):
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="benchmark_runs")
    dataset = models.ForeignKey(EvalDataset, on_delete=models.PROTECT, related_name="benchmark_runs")
    split = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="0-100")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)

    config = models.JSONField(default=dict, help_text="batch_size, seed, threads, ...")
    config_key = models.CharField(max_length=64, help_text="sha256 of the canonical config")
    weights_sha256 = models.CharField(max_length=64)
    dataset_hash = models.CharField(max_length=64)

    top1 = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    worker = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(
        null=True, blank=True, help_text="process id of the execution on the worker's host"
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="executions started; each one's writes are guarded by its attempt number"
    )
    heartbeat = models.DateTimeField(
        null=True, blank=True, help_text="last sign of life of the running execution (progress writes)"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["weights_sha256", "dataset_hash", "config_key"], name="run_identity")]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.model} on {self.dataset}/{self.split} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("evaluation:run-detail", kwargs={"run_id": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
