"""Evaluation data and the record of every benchmark run.

A BenchmarkRun is the record of truth for a measured accuracy: which weights (sha256), which data (content
hash), which code and hardware. Only evaluation/services.py changes its state.
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from catalog.models import ModelEntry, name_validator


class DatasetKind(models.TextChoices):
    BUILTIN = "builtin", "Built-in"
    DIRECTORY = "directory", "Directory on the server"
    UPLOAD = "upload", "Uploaded zip"


class Modality(models.TextChoices):
    IMAGE = "image", "Images (ImageFolder)"
    TEXT = "text", "Texts (TSV, CSV or JSONL; core.textdata)"


class EvalDataset(models.Model):
    """An ImageFolder on the server (<root>/<split>/<class>/<image>), or a text dataset (core.textdata): root is
    then its file or folder of TSV/CSV/JSONL files."""

    name = models.CharField(max_length=96, unique=True, validators=[name_validator])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices)
    modality = models.CharField(max_length=8, choices=Modality.choices, default=Modality.IMAGE, db_index=True)
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
    deleting = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="set while its deletion job removes its files: the job's last sign of life (None: not deleted)",
    )

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


class Job(models.Model):
    """The lifecycle both kinds of job share (a benchmark run, a transfer ranking): queued -> running -> succeeded,
    failed or cancelled, with progress, the log's tail, the error, who asked, which worker ran it and when.

    State changes are conditional updates (`transition`), so two processes racing on one job cannot both win;
    an execution's writes are also guarded by its attempt number. evaluation/lifecycle.py holds the code that
    claims, beats for, finishes, fails, reaps and republishes jobs of either kind.
    """

    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="0-100")
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    worker = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    enqueued = models.DateTimeField(
        default=timezone.now,
        help_text="when its message was last published (the reaper republishes lost ones)",
    )
    worker_pid = models.PositiveIntegerField(
        null=True, blank=True, help_text="process id of the execution on the worker's host"
    )
    attempts = models.PositiveIntegerField(
        default=0, help_text="executions started; each one's writes are guarded by its attempt number"
    )
    heartbeat = models.DateTimeField(
        null=True, blank=True, help_text="last sign of life of the running execution (progress writes)"
    )
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @classmethod
    def transition(cls, job_id: int, *, allowed_from: list[str], **fields: Any) -> bool:
        """Write `fields` only if the job is still in one of `allowed_from`; True when this call changed it."""
        return cls.objects.filter(pk=job_id, status__in=allowed_from).update(**fields) == 1


class BenchmarkRun(Job):
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="benchmark_runs")
    dataset = models.ForeignKey(EvalDataset, on_delete=models.PROTECT, related_name="benchmark_runs")
    split = models.CharField(max_length=32)

    config = models.JSONField(default=dict, help_text="batch_size, seed, threads, ...")
    config_key = models.CharField(max_length=64, help_text="sha256 of the canonical config")
    weights_sha256 = models.CharField(max_length=64)
    dataset_hash = models.CharField(max_length=64)

    top1 = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["weights_sha256", "dataset_hash", "config_key"], name="run_identity")]

    def __str__(self) -> str:
        return f"run {self.pk}: {self.model} on {self.dataset}/{self.split} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("evaluation:run-detail", kwargs={"run_id": self.pk})


class TransferRanking(Job):
    """A transfer-ranking job: which candidate models transfer best to a target dataset, measured before
    anyone fine-tunes. The same lifecycle as a BenchmarkRun; only evaluation/transfer_services.py changes it."""

    dataset = models.ForeignKey(EvalDataset, on_delete=models.PROTECT, related_name="transfer_rankings")
    split = models.CharField(max_length=32)

    config = models.JSONField(default=dict, help_text="batch_size, seed, threads, baseline, baseline_epochs")
    candidate_filter = models.JSONField(
        default=dict, blank=True, help_text="The catalog filter that chose the candidates, if any."
    )
    dataset_hash = models.CharField(max_length=64)
    num_images = models.PositiveIntegerField(default=0)
    num_classes = models.PositiveIntegerField(default=0)

    best_score = models.FloatField(null=True, blank=True)
    baseline_accuracy = models.FloatField(
        null=True, blank=True, help_text="Top-1 % of a small CNN trained from scratch, same folds."
    )
    baseline = models.JSONField(default=dict, blank=True)
    negative_transfer = models.BooleanField(
        null=True,
        blank=True,
        help_text="The from-scratch baseline beats the best score by more than the spread across the folds.",
    )
    transfer_gap = models.FloatField(
        null=True, blank=True, help_text="Best score minus the baseline's top-1, in points."
    )
    transfer_spread = models.FloatField(
        null=True, blank=True, help_text="Standard deviation of that difference across the shared CV folds."
    )
    provenance = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"transfer ranking {self.pk} on {self.dataset}/{self.split} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("evaluation:transfer-ranking-detail", kwargs={"ranking_id": self.pk})


class CandidateStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SCORED = "scored", "Scored"
    MISSING_WEIGHTS = "missing_weights", "No weights on this hub"
    FAILED = "failed", "Failed"


class TransferCandidate(models.Model):
    """One candidate of a ranking: its scores, or why it has none."""

    ranking = models.ForeignKey(TransferRanking, on_delete=models.CASCADE, related_name="candidates")
    model = models.ForeignKey(
        ModelEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="transfer_candidacies"
    )
    model_label = models.CharField(max_length=200, help_text="namespace/name, kept if the model is deleted")
    position = models.PositiveIntegerField(help_text="Order in the request")
    status = models.CharField(max_length=16, choices=CandidateStatus.choices, default=CandidateStatus.PENDING)
    rank = models.PositiveIntegerField(null=True, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)

    score = models.FloatField(null=True, blank=True, help_text="Linear-probe CV top-1 %, the ranking score")
    score_folds = models.JSONField(default=list, blank=True, help_text="Linear-probe top-1 % per CV fold")
    logme = models.FloatField(null=True, blank=True)
    knn = models.FloatField(null=True, blank=True, help_text="k-NN CV top-1 %")
    linear_probe = models.FloatField(null=True, blank=True, help_text="Logistic-regression CV top-1 %")
    feature_dim = models.PositiveIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    num_params = models.PositiveBigIntegerField(null=True, blank=True)
    gmacs = models.FloatField(null=True, blank=True)
    weights_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["ranking", models.F("rank").asc(nulls_last=True), "position"]
        constraints = [
            models.UniqueConstraint(fields=["ranking", "position"], name="transfer_candidate_position")
        ]

    def __str__(self) -> str:
        return f"{self.model_label} in ranking {self.ranking_id} ({self.status})"
