"""What models exist and what they claim.

A ModelEntry is identified like a Hugging Face repo: `namespace/name`. Columns the catalog filters and sorts
on (best claimed top-1, verified top-1, size) are denormalised onto the row and indexed, and only services
write them, so list pages stay one indexed query at any catalog size.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse

from core import label_spaces, model_metadata, search
from core import model_args as timm_model_args
from core.verdict import ENTRY_VERDICT_CHOICES, HEADLINE_DATASET

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
name_validator = RegexValidator(
    rf"^{NAME_PATTERN}$",
    "Use letters, digits, '.', '_' or '-' (at most 96 characters), starting with a letter or digit.",
)


class Domain(models.TextChoices):
    VISION = "vision", "Vision"
    NLP = "nlp", "NLP"
    AUDIO = "audio", "Audio"
    TABULAR = "tabular", "Tabular"
    MULTIMODAL = "multimodal", "Multimodal"


class Task(models.TextChoices):
    # Values follow the Hugging Face pipeline tags so the HF-compatible API can report them unchanged.
    IMAGE_CLASSIFICATION = "image-classification", "Image classification"
    IMAGE_FEATURE_EXTRACTION = "image-feature-extraction", "Image feature extraction"
    FEATURE_EXTRACTION = "feature-extraction", "Feature extraction"
    OBJECT_DETECTION = "object-detection", "Object detection"
    IMAGE_SEGMENTATION = "image-segmentation", "Image segmentation"
    ZERO_SHOT_IMAGE_CLASSIFICATION = "zero-shot-image-classification", "Zero-shot image classification"
    TEXT_CLASSIFICATION = "text-classification", "Text classification"
    TOKEN_CLASSIFICATION = "token-classification", "Token classification"
    QUESTION_ANSWERING = "question-answering", "Question answering"
    TEXT_GENERATION = "text-generation", "Text generation"
    FILL_MASK = "fill-mask", "Fill mask"
    SENTENCE_SIMILARITY = "sentence-similarity", "Sentence similarity"
    AUDIO_CLASSIFICATION = "audio-classification", "Audio classification"
    SPEECH_RECOGNITION = "automatic-speech-recognition", "Speech recognition"
    TABULAR_CLASSIFICATION = "tabular-classification", "Tabular classification"
    TABULAR_REGRESSION = "tabular-regression", "Tabular regression"


class Library(models.TextChoices):
    TIMM = "timm", "timm"
    TRANSFORMERS = "transformers", "Transformers"
    TORCHVISION = "torchvision", "torchvision"
    SENTENCE_TRANSFORMERS = "sentence-transformers", "Sentence Transformers"
    OPEN_CLIP = "open_clip", "OpenCLIP"
    OTHER = "other", "Other"


class SourceKind(models.TextChoices):
    HUGGING_FACE = "hf", "Hugging Face repository"
    UPLOAD = "upload", "Uploaded file"
    LOCAL = "local", "Local file"
    NONE = "none", "No weights yet"


class WeightsFile(models.Model):
    """A safetensors file in storage, content-addressed: one row and one stored copy per sha256."""

    sha256 = models.CharField(max_length=64, unique=True)
    file = models.FileField(upload_to="weights/", max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    tensor_count = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size_bytes} bytes)"


# A Hugging Face id, "namespace/name", each part as name_validator allows (plus the Hub's longer names).
BASE_MODEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")

ID_TAKEN_WHATEVER_CASE = (
    "A model with this id in another letter case already exists; ids are unique whatever their case."
)


class ModelEntry(models.Model):
    namespace = models.CharField(max_length=96, validators=[name_validator])
    name = models.CharField(max_length=96, validators=[name_validator])
    title = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    card = models.TextField(blank=True, help_text="Model card, Markdown. Rendered sanitised.")

    domain = models.CharField(max_length=16, choices=Domain.choices, db_index=True)
    task = models.CharField(max_length=40, choices=Task.choices, db_index=True)
    library = models.CharField(max_length=32, choices=Library.choices, db_index=True)
    architecture = models.CharField(max_length=96, blank=True, db_index=True)
    # The data the weights were pretrained on, and the dataset they were last fine-tuned on when another one (the
    # dataset num_classes and the published accuracies refer to); "" when not fine-tuned or unknown.
    pretrained_on = models.CharField(max_length=96, blank=True, db_index=True)
    fine_tuned_on = models.CharField(max_length=96, blank=True, db_index=True)
    # What these weights were fine-tuned from, as a Hugging Face card's `base_model:` names it ("namespace/name").
    # Not a foreign key: the base may live only on the Hugging Face Hub, and deleting it must not rewrite history.
    base_model = models.CharField(max_length=200, blank=True, db_index=True)
    license = models.CharField(max_length=64, blank=True, db_index=True)
    paper_ids = models.JSONField(default=list, blank=True)
    tags = models.CharField(max_length=500, blank=True, help_text="Comma-separated, lower case.")
    # The words of name (with their inner suffixes), namespace, title, summary and tags (core.search), stamped by
    # services on every write. On PostgreSQL a generated tsvector column beside it, `search_vector`, holds the
    # same words under a GIN index (migration 0004; not in the model state, so Django never writes it).
    search_text = models.TextField(blank=True, editable=False)
    # The name's words (core.search.name_key), stamped likewise: relevance ranks a search's matches on it, and on
    # PostgreSQL a byte-ordered btree on it (migration 0007) reads the names a query starts, in rank order.
    search_name = models.CharField(max_length=200, blank=True, editable=False)

    num_params = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    weights_size_bytes = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    # num_params x bytes per parameter of ESTIMATE_DTYPE; shown (marked as an estimate) only while no weights
    # are stored: the real weights_size_bytes replaces it everywhere once they are.
    size_estimate_bytes = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    gmacs = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    input_size = models.JSONField(default=list, blank=True, help_text="[channels, height, width]")
    num_classes = models.PositiveIntegerField(null=True, blank=True)
    label_names = models.JSONField(default=list, blank=True)
    # An ImageNet label space timm ships (core.label_spaces: "imagenet-1k", "imagenet-12k", ...), named instead
    # of copied: 1,000 to 21,843 synsets per entry would weigh more than the rest of the catalog row. Its
    # synsets are the label names whenever label_names is empty (ModelEntry.output_label_names).
    label_space = models.CharField(max_length=32, blank=True)
    model_args = models.JSONField(
        default=dict, blank=True, help_text="Extra timm.create_model keyword arguments."
    )

    mean = models.JSONField(default=list, blank=True)
    std = models.JSONField(default=list, blank=True)
    interpolation = models.CharField(max_length=16, blank=True)
    crop_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.01), MaxValueValidator(2)]
    )
    crop_mode = models.CharField(max_length=16, blank=True)

    source_kind = models.CharField(max_length=8, choices=SourceKind.choices, default=SourceKind.NONE)
    hf_repo_id = models.CharField(max_length=200, blank=True)
    hf_revision = models.CharField(max_length=64, blank=True, help_text="Pinned commit or tag.")
    weights = models.ForeignKey(
        WeightsFile, null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    revision = models.CharField(max_length=40, blank=True, help_text="Content hash of config and weights.")

    # Denormalised for indexed filtering and ordering; written only by services.model_derived_refresh.
    claimed_top1 = models.FloatField(null=True, blank=True, db_index=True)
    verified_top1 = models.FloatField(null=True, blank=True, db_index=True)
    # The verdict on the headline claim (core.verdict): "" without one, or while it is pending (the hub holds
    # its dataset but has not measured these weights on it yet).
    verification = models.CharField(max_length=16, choices=ENTRY_VERDICT_CHOICES, blank=True, db_index=True)
    # The best top-1 claimed on DEFAULT_TOP1_DATASET (ImageNet-1k) and the hub's measurement of that claim; null
    # without a claim there. Lists, min_top1, the plot and compare rank on one dataset at a time, this one unless
    # the query names another (then DatasetTop1Claim serves): columns so the default list is one indexed scan.
    # Written only by services.model_derived_refresh, in the same transaction as every claim, weights or run change.
    in1k_claimed_top1 = models.FloatField(null=True, blank=True, db_index=True, editable=False)
    in1k_verified_top1 = models.FloatField(null=True, blank=True, db_index=True, editable=False)
    # The verdict on that claim (verified/disagrees/pending/unverifiable: core.verdict, the sample-size rule).
    in1k_verification = models.CharField(max_length=16, blank=True, editable=False)
    downloads = models.PositiveBigIntegerField(default=0, db_index=True)

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The exact pair: the index behind exact-case lookups and the timm import's upsert (ON CONFLICT).
            models.UniqueConstraint(fields=["namespace", "name"], name="unique_model_id"),
            # Ids are unique whatever their case, as on the Hugging Face Hub: "Demo/x" beside "demo/x" would
            # impersonate it. The services refuse it first, with a message naming the existing id.
            models.UniqueConstraint(
                Lower("namespace"),
                Lower("name"),
                name="unique_model_id_ci",
                violation_error_message=ID_TAKEN_WHATEVER_CASE,
            ),
        ]
        ordering = ["namespace", "name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.model_id

    def get_absolute_url(self) -> str:
        return reverse("catalog:model-detail", kwargs={"namespace": self.namespace, "name": self.name})

    def clean(self) -> None:
        """The bounds on what reaches timm and preprocessing (core.model_args, core.model_metadata). Here, so
        every full_clean applies them: the services' register and update, and the admin's form."""
        errors = model_metadata.problems(
            input_size=self.input_size,
            mean=self.mean,
            std=self.std,
            num_classes=self.num_classes,
            label_names=self.label_names,
        )
        space_problem = self._label_space_problem()
        if space_problem:
            errors["label_space"] = space_problem
        refused = timm_model_args.problems(self.model_args)
        if refused:
            errors["model_args"] = timm_model_args.describe(refused)
        if problem := self._base_model_problem():
            errors["base_model"] = problem
        if errors:
            raise ValidationError(errors)

    def _label_space_problem(self) -> str:
        if not self.label_space:
            return ""
        try:
            space = label_spaces.label_space(self.label_space)
        except label_spaces.LabelSpaceError as error:
            return str(error)
        if self.num_classes != space.num_classes:
            return f"{self.label_space} has {space.num_classes} classes; the model has {self.num_classes} outputs."
        return ""

    def _base_model_problem(self) -> str:
        if not self.base_model:
            return ""
        if not BASE_MODEL_PATTERN.match(self.base_model):
            return (
                f"Enter the model these weights were fine-tuned from as namespace/name (as on the Hugging Face Hub, "
                f"e.g. timm/resnet50.a1_in1k), not {self.base_model[:100]!r}."
            )
        if self.base_model.lower() == self.model_id.lower():
            return "A model cannot be fine-tuned from itself."
        return ""

    def build_search_name(self) -> str:
        return search.name_key(self.name)

    def build_search_text(self) -> str:
        return search.document_text(
            name=self.name, fields=[self.namespace, self.title, self.summary, self.tags]
        )

    @property
    def model_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def output_label_names(self) -> list[str]:
        """Output index -> label name: the entry's own, else its label space's synsets, else none."""
        if self.label_names or not self.label_space:
            return list(self.label_names)
        return list(label_spaces.label_space(self.label_space).synsets)

    @property
    def output_label_descriptions(self) -> list[str]:
        """Output index -> what a person reads (ImageNet's lemmas, "tench, Tinca tinca"); the names otherwise."""
        if self.label_names or not self.label_space:
            return list(self.label_names)
        return list(label_spaces.label_space(self.label_space).descriptions)

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in self.tags.split(",") if tag]

    @property
    def estimated_size_bytes(self) -> int | None:
        """The estimate, only while the real size is unknown."""
        return self.size_estimate_bytes if self.weights_size_bytes is None else None


# The dataset lists rank on when a query names none (claim_dataset); ModelEntry's in1k_* columns hold its values.
DEFAULT_TOP1_DATASET = HEADLINE_DATASET

# The facets the catalog page counts; CatalogFacetCount holds the unfiltered catalog's counts of them.
FACET_FIELDS = ("domain", "task", "library", "license", "pretrained_on", "base_model")
# Facets whose filter matches whatever the letter case (iexact), as the facet-count table must too. base_model
# matches exactly: services store a catalog entry's id as that entry spells it.
CASE_INSENSITIVE_FACETS = frozenset({"license", "pretrained_on"})


class CatalogFacetCount(models.Model):
    """How many entries have each combination of the facet values: the unfiltered catalog's facet counts and
    total, without scanning it.

    Kept exact by the services that write entries (catalog.services: register, update, save, delete and the bulk
    paths), in the same transaction as the write, with an atomic increment, so concurrent writers never lose a
    count. services.facet_counts_rebuild recomputes it from the entries (migrations and bulk imports call it).
    """

    domain = models.CharField(max_length=16)
    task = models.CharField(max_length=40)
    library = models.CharField(max_length=32)
    license = models.CharField(max_length=64)
    pretrained_on = models.CharField(max_length=96, default="")
    base_model = models.CharField(max_length=200, default="")
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=list(FACET_FIELDS), name="unique_facet_combination")]

    def __str__(self) -> str:
        return "/".join(getattr(self, name) for name in FACET_FIELDS) + f": {self.count}"


class MirrorStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_MIRROR_STATUSES = (MirrorStatus.QUEUED, MirrorStatus.RUNNING)


class WeightsMirror(models.Model):
    """A job copying an entry's weights from the Hugging Face Hub, at a pinned commit, into this hub's storage.

    Only catalog.services changes its state: queued -> running -> succeeded | failed (with the reason)."""

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="weights_mirrors")
    repo_id = models.CharField(max_length=200)
    revision = models.CharField(max_length=40, help_text="The commit sha the weights are mirrored at.")
    filename = models.CharField(max_length=200, default="model.safetensors")
    status = models.CharField(
        max_length=12, choices=MirrorStatus.choices, default=MirrorStatus.QUEUED, db_index=True
    )
    bytes_done = models.PositiveBigIntegerField(default=0)
    bytes_total = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(
        blank=True, null=True, help_text="Last sign of life of the running job (with its progress)."
    )
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"mirror #{self.pk} of {self.repo_id}@{self.revision[:12]}: {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_MIRROR_STATUSES

    @property
    def percent(self) -> float | None:
        if not self.bytes_total:
            return None
        return min(100.0, 100.0 * self.bytes_done / self.bytes_total)


class Metric(models.TextChoices):
    TOP1 = "top1", "Top-1 accuracy"
    TOP5 = "top5", "Top-5 accuracy"
    ACCURACY = "accuracy", "Accuracy"
    F1 = "f1", "F1"
    MAP = "map", "mAP"
    MIOU = "miou", "mIoU"


class ClaimSource(models.TextChoices):
    AUTHOR = "author", "Model author"
    PAPER = "paper", "Paper"
    RESULTS_TABLE = "results-table", "Results table"


# Bytes per parameter for the size estimate of entries without stored weights. timm publishes its weights
# in float32; the estimate says which dtype it assumed wherever it shows.
ESTIMATE_DTYPE = "float32"
BYTES_PER_PARAMETER = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


def estimate_size_bytes(num_params: int | None, dtype: str = ESTIMATE_DTYPE) -> int | None:
    return None if num_params is None else num_params * BYTES_PER_PARAMETER[dtype]


class CurrentClaimManager(models.Manager):
    """Claims still made: every list, verdict and derived column reads these (the default manager, so
    `model.claims` is the current claims too). A retired claim is kept as history (AccuracyClaim.history)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(retired_at__isnull=True)


class ClaimHistoryManager(models.Manager):
    """Every claim, current and retired: the model page's history and the import's bookkeeping."""


class AccuracyClaim(models.Model):
    """What someone says the model scores. Values are percentages (0-100).

    A claim from timm's results tables whose tag a later import's table no longer lists is retired
    (`retired_at`): kept as history, no longer shown or judged as current; listed again, it is current again.
    """

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="claims")
    dataset = models.CharField(max_length=96)
    split = models.CharField(max_length=32, default="validation")
    metric = models.CharField(max_length=16, choices=Metric.choices)
    value = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(100)])
    img_size = models.PositiveIntegerField(null=True, blank=True)
    crop_pct = models.FloatField(null=True, blank=True)
    interpolation = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, choices=ClaimSource.choices, default=ClaimSource.AUTHOR)
    source_url = models.URLField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="when its source stopped making it (history, not a current claim)"
    )

    objects = CurrentClaimManager()
    history = ClaimHistoryManager()

    class Meta:
        base_manager_name = "history"
        constraints = [
            models.UniqueConstraint(
                fields=["model", "dataset", "split", "metric", "source"], name="unique_claim_per_source"
            )
        ]
        ordering = ["dataset", "split", "metric"]

    def __str__(self) -> str:
        return f"{self.model} {self.metric}={self.value} on {self.dataset}/{self.split}"


class DatasetTop1Claim(models.Model):
    """A model's best claimed top-1 on one dataset, denormalised by services from its claims.

    One row per (model, dataset), so filtering and ordering the catalog on "the claim on ImageNet-Sketch" is
    one indexed join instead of a grouped scan of every claim.
    """

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="dataset_top1_claims")
    dataset = models.CharField(max_length=96)
    value = models.FloatField()
    # The hub's own top-1 for that best claim (same dataset and split, current weights); null until measured.
    verified_value = models.FloatField(null=True, blank=True)
    # The verdict on that claim, judged with the measurement's sample size (core.verdict), never recomputed
    # from verified_value alone: a bare top-1 does not know how many images it was measured on.
    verification = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "dataset"], name="unique_dataset_top1_per_model")
        ]
        # Covering for "models with a claim on X, by value": the join never reads the claim rows themselves.
        indexes = [models.Index(fields=["dataset", "value", "model"], name="dataset_top1_value")]

    def __str__(self) -> str:
        return f"{self.model} top-1 {self.value} on {self.dataset}"


class Precision(models.TextChoices):
    FP32 = "fp32", "float32"
    AMP = "amp", "automatic mixed precision"


class SpeedClaim(models.Model):
    """Published inference speed of an architecture (not of a tag: timm benchmarks architectures), at one
    image size (timm lists several sizes for some architectures)."""

    architecture = models.CharField(max_length=96, db_index=True)
    device = models.CharField(max_length=8, help_text="cpu or cuda")
    hardware = models.CharField(max_length=96, help_text="e.g. Intel i7-12700H, NVIDIA RTX 5090")
    precision = models.CharField(max_length=8, choices=Precision.choices)
    torch_version = models.CharField(max_length=32)
    samples_per_sec = models.FloatField(validators=[MinValueValidator(0)])
    step_time_ms = models.FloatField(null=True, blank=True)
    batch_size = models.PositiveIntegerField()
    img_size = models.PositiveIntegerField()
    gmacs = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=ClaimSource.choices, default=ClaimSource.RESULTS_TABLE)
    source_url = models.URLField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["architecture", "hardware", "precision", "img_size"],
                name="unique_speed_claim_per_setup",
            )
        ]
        ordering = ["architecture", "device", "hardware"]

    def __str__(self) -> str:
        return f"{self.architecture}: {self.samples_per_sec} samples/s on {self.hardware} ({self.precision})"


class RepoFile(models.Model):
    """A file of a model's repository besides its weights, stored as registered and served as is through the
    Hugging Face protocol: a transformers model's config.json and tokenizer files (catalog.text_services)."""

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="repo_files")
    filename = models.CharField(max_length=100)
    file = models.FileField(upload_to="repo-files/", max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "filename"], name="unique_repo_file_per_model")
        ]
        ordering = ["model", "filename"]

    def __str__(self) -> str:
        return f"{self.model} {self.filename}"


class TextModelDetails(models.Model):
    """What a text model adds to its catalog entry: sequence length, vocabulary, tokenizer, base model."""

    model = models.OneToOneField(ModelEntry, on_delete=models.CASCADE, related_name="text_details")
    model_type = models.CharField(max_length=64, help_text="transformers' model_type, e.g. bert")
    max_sequence_length = models.PositiveIntegerField(help_text="Longest input in tokens")
    vocab_size = models.PositiveIntegerField()
    tokenizer_sha256 = models.CharField(max_length=64)
    base_model = models.CharField(max_length=200, blank=True, help_text="The model it was fine-tuned from")

    class Meta:
        verbose_name = "text model details"
        verbose_name_plural = "text model details"

    def __str__(self) -> str:
        return f"{self.model} ({self.model_type}, {self.max_sequence_length} tokens)"
