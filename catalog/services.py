"""Writes to the catalog. Views, serializers and commands call these; nothing else changes catalog rows."""

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Max, ProtectedError, Q

from catalog import hfconfig, weights
from catalog.claims_csv import ClaimRow
from catalog.models import (
    AccuracyClaim,
    ClaimSource,
    Domain,
    Library,
    Metric,
    ModelEntry,
    SourceKind,
    Task,
    WeightsFile,
)

# Paths the site itself uses; a namespace with one of these names would shadow pages or the HF protocol.
RESERVED_NAMESPACES = frozenset(
    {"admin", "api", "static", "media", "models", "compare", "benchmarks", "datasets"}
)

EDITABLE_FIELDS = frozenset(
    {
        "title", "summary", "card", "domain", "task", "library", "architecture", "pretrained_on", "license",
        "paper_ids", "tags", "num_params", "weights_size_bytes", "gmacs", "input_size", "num_classes",
        "label_names", "model_args", "mean", "std", "interpolation", "crop_pct", "crop_mode", "source_kind",
        "hf_repo_id", "hf_revision",
    }
)  # fmt: skip


def normalise_tags(tags: str | Iterable[str]) -> str:
    items = tags.split(",") if isinstance(tags, str) else tags
    seen: dict[str, None] = {}
    for tag in items:
        cleaned = tag.strip().lower()
        if cleaned:
            seen[cleaned] = None
    return ",".join(seen)


def _stamp(model: ModelEntry) -> None:
    """Derived columns, recomputed on every write so they can never drift from what they summarise."""
    model.search_text = model.build_search_text()
    model.revision = hfconfig.content_revision(
        model, weights_sha256=model.weights.sha256 if model.weights else None
    )


def _apply_fields(model: ModelEntry, fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "Not an editable field." for name in unknown})
    model_args = fields.get("model_args") or {}
    if not isinstance(model_args, dict) or "num_classes" in model_args or "pretrained" in model_args:
        raise ValidationError(
            {
                "model_args": "Must be an object of timm.create_model arguments other than num_classes and pretrained."
            }
        )
    for name, value in fields.items():
        setattr(model, name, normalise_tags(value) if name == "tags" else value)


@transaction.atomic
def model_register(*, namespace: str, name: str, **fields: Any) -> ModelEntry:
    """Create a catalog entry. Raises ValidationError naming each bad field (including a taken id)."""
    if namespace.lower() in RESERVED_NAMESPACES:
        raise ValidationError({"namespace": f"{namespace!r} is reserved for the site's own paths."})
    model = ModelEntry(namespace=namespace, name=name)
    _apply_fields(model, fields)
    model.full_clean()
    _stamp(model)
    model.save()
    return model


@transaction.atomic
def model_update(*, model: ModelEntry, **fields: Any) -> ModelEntry:
    _apply_fields(model, fields)
    model.full_clean()
    _stamp(model)
    model.save()
    return model


def model_delete(*, model: ModelEntry) -> None:
    previous_weights_id = model.weights_id
    with transaction.atomic():
        model.delete()
    weights_release(weights_file_id=previous_weights_id)


def _refresh_claimed_top1(model: ModelEntry) -> None:
    # The catalog's headline "claimed top-1" is the best top-1 (or accuracy) claim on any dataset.
    best = model.claims.filter(Q(metric=Metric.TOP1) | Q(metric=Metric.ACCURACY)).aggregate(best=Max("value"))
    ModelEntry.objects.filter(pk=model.pk).update(claimed_top1=best["best"])
    model.claimed_top1 = best["best"]


@transaction.atomic
def claim_record(
    *,
    model: ModelEntry,
    dataset: str,
    metric: str,
    value: float,
    split: str = "validation",
    source: str = ClaimSource.AUTHOR,
    source_url: str = "",
    img_size: int | None = None,
) -> AccuracyClaim:
    """Add or replace the claim a source makes for (dataset, split, metric)."""
    claim = AccuracyClaim.objects.filter(
        model=model, dataset=dataset, split=split, metric=metric, source=source
    ).first() or AccuracyClaim(model=model, dataset=dataset, split=split, metric=metric, source=source)
    claim.value = value
    claim.source_url = source_url
    claim.img_size = img_size
    claim.full_clean()
    claim.save()
    _refresh_claimed_top1(model)
    return claim


# --- timm registry import -------------------------------------------------------------------------------


@dataclass
class TimmImportSummary:
    created: int = 0
    updated: int = 0
    without_stats: list[str] = field(default_factory=list)


TIMM_BATCH_SIZE = 500


# Image-text pretraining (CLIP, SigLIP, ...): timm stores the embedding width as num_classes for these towers,
# so a positive num_classes does not make them classifiers.
IMAGE_TEXT_DATASETS = ("laion", "datacomp", "openai", "metaclip", "dfn", "merged", "yfcc", "cc-")


def _timm_task(record: Any) -> str:
    if record.num_classes > 0 and not record.pretrained_on.startswith(IMAGE_TEXT_DATASETS):
        return Task.IMAGE_CLASSIFICATION
    return Task.IMAGE_FEATURE_EXTRACTION


def _timm_card(record: Any) -> str:
    lines = [f"# {record.name}", "", f"`{record.architecture}` from the timm registry", ""]
    if record.paper_name:
        lines.append(f"**Paper:** {record.paper_name}")
    if record.paper_ids:
        lines.append(f"**Paper ids:** {', '.join(record.paper_ids)}")
    if record.origin_url:
        lines.append(f"**Origin:** <{record.origin_url}>")
    if record.notes:
        lines += ["", "## Notes", *[f"- {note}" for note in record.notes]]
    lines += [
        "",
        "## Usage",
        "```python",
        "import timm",
        f'model = timm.create_model("{record.name}", pretrained=True)',
        "```",
    ]
    return "\n".join(lines) + "\n"


def _timm_entry(record: Any, stats: Any | None) -> ModelEntry:
    pretrained_on = record.pretrained_on
    summary = f"{record.architecture} ({record.tag or 'default'}) image model"
    summary += f" pretrained on {pretrained_on}." if pretrained_on else "."
    entry = ModelEntry(
        namespace="timm",
        name=record.name,
        title=record.name,
        summary=summary,
        card=_timm_card(record),
        domain=Domain.VISION,
        task=_timm_task(record),
        library=Library.TIMM,
        architecture=record.architecture,
        pretrained_on=pretrained_on,
        license=record.license,
        paper_ids=list(record.paper_ids),
        tags=normalise_tags(["timm", record.architecture.split("_")[0], pretrained_on, record.tag]),
        num_params=stats.num_params if stats else None,
        gmacs=stats.gmacs if stats else None,
        input_size=list(record.input_size),
        num_classes=record.num_classes,
        mean=[round(v, 6) for v in record.mean],
        std=[round(v, 6) for v in record.std],
        interpolation=record.interpolation,
        crop_pct=record.crop_pct,
        crop_mode=getattr(record, "crop_mode", "") or "",
        source_kind=SourceKind.HUGGING_FACE if record.hf_hub_id else SourceKind.NONE,
        hf_repo_id=record.hf_hub_id,
    )
    _stamp(entry)
    return entry


TIMM_UPDATE_FIELDS = [
    "title", "summary", "card", "domain", "task", "library", "architecture", "pretrained_on", "license",
    "paper_ids", "tags", "num_params", "gmacs", "input_size", "num_classes", "mean", "std", "interpolation",
    "crop_pct", "crop_mode", "source_kind", "hf_repo_id", "search_text", "revision", "updated",
]  # fmt: skip


def timm_registry_import(
    *,
    records: Iterable[Any],
    stats_by_key: Mapping[str, Any],
    stats_key: Callable[[Any], str],
    on_progress: Callable[[int], None] | None = None,
) -> TimmImportSummary:
    """Upsert one `timm/<name>` entry per pretrained config; batches keep it to a few seconds for ~1,800."""
    summary = TimmImportSummary()
    batch: list[ModelEntry] = []
    for record in records:
        stats = stats_by_key.get(stats_key(record))
        if stats is None:
            summary.without_stats.append(record.name)
        batch.append(_timm_entry(record, stats))
        if len(batch) >= TIMM_BATCH_SIZE:
            _upsert_timm_batch(batch, summary)
            if on_progress:
                on_progress(len(batch))
            batch = []
    if batch:
        _upsert_timm_batch(batch, summary)
        if on_progress:
            on_progress(len(batch))
    catalog_analyze()
    return summary


def catalog_analyze() -> None:
    """Refresh the query planner's statistics after bulk writes, so SQLite picks selective indexes."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ModelEntry._meta.db_table}")


@transaction.atomic
def _upsert_timm_batch(batch: list[ModelEntry], summary: TimmImportSummary) -> None:
    existing = set(
        ModelEntry.objects.filter(namespace="timm", name__in=[entry.name for entry in batch]).values_list(
            "name", flat=True
        )
    )
    ModelEntry.objects.bulk_create(
        batch,
        update_conflicts=True,
        unique_fields=["namespace", "name"],
        update_fields=TIMM_UPDATE_FIELDS,
    )
    summary.updated += len(existing)
    summary.created += len(batch) - len(existing)


# --- claims import --------------------------------------------------------------------------------------


@dataclass
class ClaimsImportSummary:
    recorded: int = 0
    unknown_models: list[str] = field(default_factory=list)


def _find_claimed_model(model_name: str, namespace: str) -> ModelEntry | None:
    if "/" in model_name:
        claimed_namespace, _, name = model_name.partition("/")
        return ModelEntry.objects.filter(namespace=claimed_namespace, name=name).first()
    return ModelEntry.objects.filter(namespace=namespace, name=model_name).first()


@transaction.atomic
def claims_import(
    *,
    rows: Iterable[ClaimRow],
    dataset: str,
    split: str,
    source_url: str,
    namespace: str = "timm",
) -> ClaimsImportSummary:
    """Record top-1 (and top-5) claims from a results table. All or nothing; unknown models are reported."""
    summary = ClaimsImportSummary()
    for row in rows:
        model = _find_claimed_model(row.model, namespace)
        if model is None:
            summary.unknown_models.append(row.model)
            continue
        common = {"model": model, "dataset": dataset, "split": split, "source": ClaimSource.RESULTS_TABLE}
        claim_record(
            **common, metric=Metric.TOP1, value=row.top1, source_url=source_url, img_size=row.img_size
        )
        if row.top5 is not None:
            claim_record(
                **common, metric=Metric.TOP5, value=row.top5, source_url=source_url, img_size=row.img_size
            )
        summary.recorded += 1
    return summary


# --- weights --------------------------------------------------------------------------------------------


def _storage_name(sha256: str) -> str:
    return f"weights/{sha256[:2]}/{sha256}.safetensors"


def _stored_copy_is_intact(name: str, sha256: str) -> bool:
    if not default_storage.exists(name):
        return False
    with default_storage.open(name, "rb") as handle:
        digest = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _store_weights(path: Path, info: weights.SafetensorsInfo) -> tuple[WeightsFile, bool]:
    """The WeightsFile for these bytes, stored once; True when this call wrote the file."""
    existing = WeightsFile.objects.filter(sha256=info.sha256).first()
    name = _storage_name(info.sha256)
    if existing is not None and _stored_copy_is_intact(existing.file.name, info.sha256):
        return existing, False
    if default_storage.exists(name) and not _stored_copy_is_intact(name, info.sha256):
        default_storage.delete(name)  # a leftover from an interrupted write: never serve it
    if not default_storage.exists(name):
        with open(path, "rb") as handle:
            stored = default_storage.save(name, File(handle))
        if stored != name:
            default_storage.delete(stored)
            raise RuntimeError(f"storage renamed {name} to {stored}; refusing a non-content-addressed name")
    if existing is not None:
        return existing, True
    row = WeightsFile.objects.create(
        sha256=info.sha256, file=name, size_bytes=info.size_bytes, tensor_count=len(info.tensors)
    )
    return row, True


def _prepare_safetensors(path: Path, *, original_name: str, convert_pickle: bool, work_dir: Path) -> Path:
    is_pickle = Path(original_name).suffix.lower() in weights.PICKLE_SUFFIXES or weights.looks_like_pickle(
        path
    )
    if not is_pickle:
        return path
    if not convert_pickle:
        weights.refuse_pickle(path, original_name=original_name)
    converted = work_dir / "converted.safetensors"
    weights.convert_pickle_to_safetensors(path, converted)
    return converted


def weights_attach(
    *,
    model: ModelEntry,
    path: Path,
    original_name: str,
    source_kind: str = SourceKind.UPLOAD,
    convert_pickle: bool = False,
) -> WeightsFile:
    """Check a weights file and make it the model's weights. Raises weights.WeightsError on refusal.

    Checks run before anything is stored; if the database write fails after the file was stored, the stored
    copy is removed again, so a refusal or crash leaves neither a row nor a file behind.
    """
    settings.VAR_DIR.joinpath("tmp").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR / "tmp") as work_dir:
        candidate = _prepare_safetensors(
            path, original_name=original_name, convert_pickle=convert_pickle, work_dir=Path(work_dir)
        )
        info = weights.inspect_safetensors(candidate)
        if model.library == Library.TIMM and model.architecture:
            weights.check_fits_architecture(
                info,
                architecture=model.architecture,
                num_classes=model.num_classes,
                model_args=model.model_args,
            )
        weights_file, wrote_file = _store_weights(candidate, info)
    previous_weights_id = model.weights_id
    try:
        with transaction.atomic():
            model.weights = weights_file
            model.weights_size_bytes = weights_file.size_bytes
            model.source_kind = source_kind
            _stamp(model)
            model.save()
    except Exception:
        if wrote_file and not ModelEntry.objects.filter(weights=weights_file).exists():
            default_storage.delete(weights_file.file.name)
            WeightsFile.objects.filter(pk=weights_file.pk).delete()
        raise
    if previous_weights_id != weights_file.pk:
        weights_release(weights_file_id=previous_weights_id)
    return weights_file


def _weights_in_use(weights_file: WeightsFile) -> bool:
    """Another model points at it, or a queued/running benchmark job is about to read it."""
    from evaluation.models import BenchmarkRun, RunStatus

    if ModelEntry.objects.filter(weights=weights_file).exists():
        return True
    return BenchmarkRun.objects.filter(
        weights_sha256=weights_file.sha256, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
    ).exists()


def weights_release(*, weights_file_id: int | None) -> bool:
    """Remove a weights file (row and stored bytes) nothing uses any more; True when it was removed.

    Finished runs keep only the sha256 string as provenance, so they do not hold the file. The row is deleted
    first (ModelEntry.weights is PROTECT, so a model that took the file meanwhile makes this a no-op) and the
    bytes only after that commit.
    """
    if weights_file_id is None:
        return False
    with transaction.atomic():
        weights_file = WeightsFile.objects.select_for_update().filter(pk=weights_file_id).first()
        if weights_file is None or _weights_in_use(weights_file):
            return False
        name = weights_file.file.name
        try:
            weights_file.delete()
        except ProtectedError:
            return False
        transaction.on_commit(lambda: default_storage.delete(name))
    return True


def weights_fetch_from_hugging_face(*, model: ModelEntry) -> WeightsFile:
    """Fetch the model's safetensors from its pinned Hugging Face source (or the local HF cache)."""
    if not model.hf_repo_id:
        raise weights.WeightsError(f"{model.model_id} has no Hugging Face source.")
    path = weights.fetch_from_hugging_face(repo_id=model.hf_repo_id, revision=model.hf_revision)
    return weights_attach(
        model=model, path=path, original_name=path.name, source_kind=SourceKind.HUGGING_FACE
    )


def weights_file_is_intact(*, weights_file: WeightsFile) -> bool:
    """True when the stored bytes still hash to the recorded sha256 (a cheap guard before reuse)."""
    return _stored_copy_is_intact(weights_file.file.name, weights_file.sha256)


def model_record_download(*, model: ModelEntry) -> None:
    ModelEntry.objects.filter(pk=model.pk).update(downloads=F("downloads") + 1)
