"""Writes to the catalog. Views, serializers and commands call these; nothing else changes catalog rows."""

import hashlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, F, ProtectedError, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from catalog import measurements
from catalog.measurements import MeasuredRun
from catalog.models import (
    ACTIVE_MIRROR_STATUSES,
    DEFAULT_TOP1_DATASET,
    FACET_FIELDS,
    AccuracyClaim,
    CatalogFacetCount,
    ClaimSource,
    DatasetTop1Claim,
    Domain,
    Library,
    Metric,
    MirrorStatus,
    ModelEntry,
    RepoFile,
    SourceKind,
    SpeedClaim,
    Task,
    WeightsFile,
    WeightsMirror,
    estimate_size_bytes,
)
from catalog.selectors import claim_verdict
from core import hfconfig, label_spaces, weights
from core.claims_csv import ClaimRow
from core.verdict import TOP1_METRICS, VerdictStatus, headline_claim
from hub.heartbeat import RowHeartbeat

# Paths the site itself uses; a namespace with one of these names would shadow pages or the HF protocol.
RESERVED_NAMESPACES = frozenset(
    {"admin", "api", "static", "media", "models", "compare", "benchmarks", "datasets"}
)

EDITABLE_FIELDS = frozenset(
    {
        "title", "summary", "card", "domain", "task", "library", "architecture", "pretrained_on", "fine_tuned_on",
        "base_model", "license", "paper_ids", "tags", "num_params", "weights_size_bytes", "gmacs", "input_size",
        "num_classes", "label_names", "model_args", "mean", "std", "interpolation", "crop_pct", "crop_mode",
        "source_kind", "hf_repo_id", "hf_revision", "label_space",
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
    """The columns derived from the row's own fields (search_text, search_name, size_estimate_bytes, revision),
    recomputed on every save so they can never drift; those derived from claims and runs are
    model_derived_refresh's."""
    model.search_text = model.build_search_text()
    model.search_name = model.build_search_name()
    model.size_estimate_bytes = estimate_size_bytes(model.num_params)
    model.revision = hfconfig.content_revision(
        model, weights_sha256=model.weights.sha256 if model.weights else None, files=_repo_file_digests(model)
    )


def _repo_file_digests(model: ModelEntry) -> list[tuple[str, str]]:
    """(filename, sha256) of the stored repository files (a text model's config and tokenizer), by name."""
    if model.pk is None:
        return []
    return list(RepoFile.objects.filter(model=model).order_by("filename").values_list("filename", "sha256"))


def _apply_fields(model: ModelEntry, fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "Not an editable field." for name in unknown})
    for name, value in fields.items():
        setattr(model, name, normalise_tags(value) if name == "tags" else value)
    if "card" in fields and "base_model" not in fields:
        _base_model_from_card(model)


def _base_model_from_card(model: ModelEntry) -> None:
    """A card that declares `base_model:` (as Hugging Face cards do) sets the field, unless the caller set it."""
    try:
        declared = hfconfig.card_base_model(model.card)
    except hfconfig.CardMetadataError as error:
        raise ValidationError({"card": str(error)}) from None
    if declared:
        model.base_model = declared


def _canonical_base_model(model: ModelEntry) -> None:
    """A base the catalog holds is stored as that entry spells its id, so exact lookups (the filter, the model
    tree, the facet) find it whatever case the caller typed."""
    if not model.base_model or "/" not in model.base_model:
        return
    namespace, _, name = model.base_model.partition("/")
    held = ModelEntry.objects.filter(namespace__iexact=namespace, name__iexact=name).only("namespace", "name")
    entry = held.first()
    if entry is not None:
        model.base_model = entry.model_id


# A change to any of these can make the stored weights unloadable: timm builds the state dict from them.
ARCHITECTURE_FIELDS = ("architecture", "num_classes", "model_args")


def model_check_weights_fit(*, model: ModelEntry) -> None:
    """Refuse an edit of architecture, num_classes or model_args that the model's stored weights no longer fit,
    with the upload's own check (core.weights.check_fits_architecture); a ValidationError names the fields."""
    if (
        model.pk is None
        or model.weights_id is None
        or model.library != Library.TIMM
        or not model.architecture
    ):
        return
    stored = ModelEntry.objects.filter(pk=model.pk).values(*ARCHITECTURE_FIELDS).first() or {}
    changed = [name for name in ARCHITECTURE_FIELDS if stored.get(name) != getattr(model, name)]
    if not changed:
        return  # rows stored before this check keep working until someone edits these fields
    try:
        info = weights.inspect_safetensors(Path(model.weights.file.path))
        weights.check_fits_architecture(
            info, architecture=model.architecture, num_classes=model.num_classes, model_args=model.model_args
        )
    except weights.WeightsError as error:
        message = f"The stored weights ({model.weights.sha256[:12]}) do not fit this change: {error}"
        raise ValidationError({name: message for name in changed}) from None
    except OSError as error:  # the stored copy is gone or unreadable: nothing vouches for the change
        message = (
            f"The stored weights ({model.weights.sha256[:12]}) cannot be read to check this change: {error}"
        )
        raise ValidationError({name: message for name in changed}) from None


# Columns only model_derived_refresh (and model_record_download) write: a save of a row loaded earlier must
# never put back the values it read, when a run or a claim changed them meanwhile.
SERVICE_OWNED_COLUMNS = frozenset(
    {"claimed_top1", "verified_top1", "verification", "in1k_claimed_top1", "in1k_verified_top1",
     "in1k_verification", "downloads",
     "created"}
)  # fmt: skip


def _save_own_fields(model: ModelEntry) -> None:
    """Save a stamped row; an existing one without the columns other services own. The facet counts follow."""
    if model._state.adding:
        model.save()
        _facet_counts_add(Counter([_facet_key(model)]))
        return
    before = _stored_facet_keys([model.pk])
    if model.pk not in before:
        raise _deleted_meanwhile(model)
    model.save(
        update_fields=[
            field.name
            for field in ModelEntry._meta.concrete_fields
            if not field.primary_key and field.name not in SERVICE_OWNED_COLUMNS
        ]
    )
    _facet_counts_add(Counter([_facet_key(model)]), removed=before.values())


def _deleted_meanwhile(model: ModelEntry) -> ModelEntry.DoesNotExist:
    return ModelEntry.DoesNotExist(f"No model {model.model_id}: it was deleted while this request ran.")


def models_lock_existing(*, models: Iterable[ModelEntry]) -> None:
    """Lock the entries' rows for the caller's transaction, or raise ModelEntry.DoesNotExist (the API's 404) naming
    one a concurrent delete removed since the caller read it: writing to it then would fail in the database (an
    update of no row, a claim's, run's or ranking candidate's foreign key to nothing, an IntegrityError at
    commit)."""
    models = list(models)
    wanted = [model.pk for model in models]
    locked = set(ModelEntry.objects.select_for_update().filter(pk__in=wanted).values_list("pk", flat=True))
    for model in models:
        if model.pk not in locked:
            raise _deleted_meanwhile(model)


def _lock_existing(model: ModelEntry) -> None:
    models_lock_existing(models=[model])


# --- the unfiltered catalog's facet counts (CatalogFacetCount) ------------------------------------------

FacetKey = tuple[str, ...]  # the values of FACET_FIELDS, in that order


def _facet_key(model: ModelEntry) -> FacetKey:
    return tuple(getattr(model, name) for name in FACET_FIELDS)


def _stored_facet_keys(model_ids: Iterable[int]) -> dict[int, FacetKey]:
    """The facet values rows hold now, locked until the transaction ends: a concurrent edit of the same row waits,
    then reads what this one wrote, so no change is counted twice."""
    rows = (
        ModelEntry.objects.select_for_update().filter(pk__in=list(model_ids)).values_list("pk", *FACET_FIELDS)
    )
    return {pk: tuple(values) for pk, *values in rows}


def _facet_counts_add(added: Counter, *, removed: Iterable[FacetKey] = ()) -> None:
    """Count `added` entries in and `removed` out, in the caller's transaction: one upsert per combination that
    changes, an atomic increment in the database (never a read-modify-write in Python)."""
    deltas = Counter(added)
    deltas.subtract(Counter(removed))
    # A new combination starts at its (positive) delta; the CHECK count >= 0 applies to the proposed row too,
    # so the delta itself goes in the DO UPDATE. A decrement below zero fails loudly there (never expected).
    changes = [(*key, max(delta, 0), delta) for key, delta in deltas.items() if delta]
    if not changes:
        return
    table = connection.ops.quote_name(CatalogFacetCount._meta.db_table)
    columns = ", ".join(FACET_FIELDS)
    placeholders = ", ".join(["%s"] * (len(FACET_FIELDS) + 1))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}, count) VALUES ({placeholders}) "
            f"ON CONFLICT ({columns}) DO UPDATE SET count = {table}.count + %s",
            changes,
        )


@transaction.atomic
def facet_counts_rebuild() -> None:
    """Recompute the facet counts from the entries (one grouped scan): after migrations and bulk loads."""
    CatalogFacetCount.objects.all().delete()
    combinations = ModelEntry.objects.order_by().values(*FACET_FIELDS).annotate(n=Count("id"))
    CatalogFacetCount.objects.bulk_create(
        [
            CatalogFacetCount(**{name: row[name] for name in FACET_FIELDS}, count=row["n"])
            for row in combinations
        ],
        batch_size=TIMM_BATCH_SIZE,
    )


@transaction.atomic
def model_bulk_create(*, entries: list[ModelEntry], batch_size: int = 2000) -> None:
    """Insert many new entries at once (bulk loads, the list benchmark): stamped and counted like model_register,
    without its per-row validation. Their claims' summaries are model_derived_refresh's."""
    for entry in entries:
        _stamp(entry)
    ModelEntry.objects.bulk_create(entries, batch_size=batch_size)
    _facet_counts_add(Counter(_facet_key(entry) for entry in entries))


@transaction.atomic
def model_register(*, namespace: str, name: str, **fields: Any) -> ModelEntry:
    """Create a catalog entry. Raises ValidationError naming each bad field (including a taken id)."""
    if namespace.lower() in RESERVED_NAMESPACES:
        raise ValidationError({"namespace": f"{namespace!r} is reserved for the site's own paths."})
    _check_id_free(namespace=namespace, name=name)
    model = ModelEntry(namespace=namespace, name=name)
    _apply_fields(model, fields)
    _canonical_base_model(model)
    model.full_clean()
    _stamp(model)
    _save_own_fields(model)
    return model


def _check_id_free(*, namespace: str, name: str) -> None:
    """Refuse an id taken in any letter case, naming the entry that holds it. The Hugging Face Hub treats ids
    case-insensitively, so "Demo/x" beside "demo/x" would pass for it; the database's unique_model_id_ci
    constraint is the backstop, this the clear message."""
    taken = ModelEntry.objects.filter(namespace__iexact=namespace, name__iexact=name)
    existing = taken.only("namespace", "name").first()
    if existing is not None:
        raise ValidationError(
            {
                "name": f"{namespace}/{name} is taken: {existing.model_id} already exists "
                "(ids are unique whatever their letter case, as on the Hugging Face Hub)."
            }
        )


@transaction.atomic
def model_update(*, model: ModelEntry, **fields: Any) -> ModelEntry:
    """Edit an entry. Raises ValidationError naming each bad field, ModelEntry.DoesNotExist when it was deleted
    since the caller read it."""
    _lock_existing(model)
    _apply_fields(model, fields)
    _canonical_base_model(model)
    model.full_clean()
    model_check_weights_fit(model=model)
    _stamp(model)
    _save_own_fields(model)
    return model


@transaction.atomic
def model_save(*, model: ModelEntry) -> ModelEntry:
    """Save a row edited field by field (the admin's form, validated there): stamped, derived columns kept."""
    _stamp(model)
    _save_own_fields(model)
    return model


def model_delete(*, model: ModelEntry) -> None:
    previous_weights_id = model.weights_id
    repo_file_names = list(RepoFile.objects.filter(model=model).values_list("file", flat=True))
    with transaction.atomic():
        stored = _stored_facet_keys([model.pk])
        model.delete()
        _facet_counts_add(Counter(), removed=stored.values())
    weights_release(weights_file_id=previous_weights_id)
    repo_files_release(names=repo_file_names)


def repo_files_release(*, names: Iterable[str]) -> None:
    """Remove stored repository files no entry refers to any more (they are content-addressed, so shared)."""
    for name in names:
        if not RepoFile.objects.filter(file=name).exists():
            default_storage.delete(name)


DERIVED_VERDICT_COLUMNS = [
    "claimed_top1", "verified_top1", "verification", "in1k_claimed_top1", "in1k_verified_top1",
    "in1k_verification",
]  # fmt: skip


@transaction.atomic
def model_derived_refresh(*, model_ids: Iterable[int]) -> None:
    """Recompute every column of these entries derived from their claims, weights and measured runs.

    The one writer of claimed_top1 (the headline claim, core.verdict.headline_claim), verified_top1 and
    verification (the verdict on that claim, as catalog.selectors.claim_verdict gives it on the model page;
    "" while it is pending), the DatasetTop1Claim rows (best top-1 per dataset, with the hub's measurement of
    it) and in1k_claimed_top1/in1k_verified_top1 (the row on DEFAULT_TOP1_DATASET, copied onto the entry so the
    default list sorts on an indexed column). Called after any change to
    what they summarise: claims (claim_record, claims_import, timm_results_import, the admin), weights
    (weights_attach, so uploads and fetches too), succeeded or deleted runs and registered or deleted datasets
    (evaluation calls it). The other derived columns, search_text, search_name, size_estimate_bytes and revision, are
    stamped from the row's own fields on every save by `_stamp`.

    Bulk: a fixed handful of queries (plus one per TIMM_BATCH_SIZE rows written) for any number of models;
    measured runs and datasets are read in one batch each through the catalog.measurements port.
    """
    model_ids = sorted(set(model_ids))
    if not model_ids:
        return
    claims_by_model: dict[int, list[AccuracyClaim]] = {pk: [] for pk in model_ids}
    for claim in AccuracyClaim.objects.filter(model_id__in=model_ids, metric__in=TOP1_METRICS).only(
        "model_id", "dataset", "split", "metric", "value", "img_size", "crop_pct", "interpolation"
    ):
        claims_by_model[claim.model_id].append(claim)
    rows = ModelEntry.objects.filter(pk__in=model_ids).values_list(
        "pk", "weights__sha256", *DERIVED_VERDICT_COLUMNS
    )
    stored = {pk: tuple(values) for pk, _, *values in rows}
    weights_by_model = {pk: sha256 for pk, sha256, *_ in rows if sha256}
    port = measurements.current()
    runs_by_model = port.succeeded_runs(weights_by_model=weights_by_model) if weights_by_model else {}
    dataset_names = set(port.dataset_names())
    changed, per_dataset = [], []
    for pk, values in stored.items():
        claims, runs = claims_by_model[pk], runs_by_model.get(pk, [])
        best = _per_dataset_top1(pk, claims, runs, dataset_names)
        default = next((row for row in best if row.dataset == DEFAULT_TOP1_DATASET), None)
        derived = (
            *_derived_verdict_columns(claims, runs, dataset_names),
            default.value if default else None,
            default.verified_value if default else None,
            default.verification if default else "",
        )
        if derived != values:  # a re-import that changes nothing writes no row
            changed.append(ModelEntry(pk=pk, **dict(zip(DERIVED_VERDICT_COLUMNS, derived, strict=True))))
        per_dataset += best
    ModelEntry.objects.bulk_update(changed, DERIVED_VERDICT_COLUMNS, batch_size=TIMM_BATCH_SIZE)
    DatasetTop1Claim.objects.filter(model_id__in=model_ids).delete()
    DatasetTop1Claim.objects.bulk_create(per_dataset, batch_size=TIMM_BATCH_SIZE)


def _per_dataset_top1(
    pk: int, claims: list[AccuracyClaim], runs: list[MeasuredRun], dataset_names: set[str]
) -> list[DatasetTop1Claim]:
    """One row per dataset the entry claims a top-1 on: its best claim there and the hub's measurement of it."""
    best: dict[str, AccuracyClaim] = {}
    for claim in claims:
        if claim.dataset not in best or claim.value > best[claim.dataset].value:
            best[claim.dataset] = claim
    rows = []
    for dataset, claim in best.items():
        verdict = claim_verdict(claim=claim, runs=runs, dataset_names=dataset_names)
        row = DatasetTop1Claim(
            model_id=pk, dataset=dataset, value=claim.value, verified_value=verdict.measured,
            verification=verdict.status,
        )  # fmt: skip
        rows.append(row)
    return rows


def _derived_verdict_columns(
    claims: list[AccuracyClaim], runs: list[MeasuredRun], dataset_names: set[str]
) -> tuple[float | None, float | None, str]:
    """(claimed_top1, verified_top1, verification) of an entry: its headline claim and the verdict on it."""
    headline = headline_claim(claims)
    if headline is None:
        return None, None, ""
    verdict = claim_verdict(claim=headline, runs=runs, dataset_names=dataset_names)
    return headline.value, verdict.measured, "" if verdict.status == VerdictStatus.PENDING else verdict.status


def model_derived_refresh_for_dataset(*, dataset: str) -> None:
    """Refresh the entries with a top-1 claim on `dataset`, which the hub just registered or removed: their
    verdict turns between unverifiable and pending."""
    model_ids = AccuracyClaim.objects.filter(dataset=dataset, metric__in=TOP1_METRICS).values_list(
        "model_id", flat=True
    )
    model_derived_refresh(model_ids=set(model_ids))


def _reload_derived(model: ModelEntry) -> None:
    """Give an in-memory row the derived values model_derived_refresh just wrote."""
    fresh = ModelEntry.objects.values(*DERIVED_VERDICT_COLUMNS).get(pk=model.pk)
    for name, value in fresh.items():
        setattr(model, name, value)


def _claim_upsert(
    *,
    model: ModelEntry,
    dataset: str,
    metric: str,
    value: float,
    split: str,
    source: str,
    source_url: str,
    img_size: int | None,
    crop_pct: float | None,
    interpolation: str,
) -> AccuracyClaim:
    # A retired claim recorded again is the same row, current again (the unique constraint spans both).
    claim = AccuracyClaim.history.filter(
        model=model, dataset=dataset, split=split, metric=metric, source=source
    ).first() or AccuracyClaim(model=model, dataset=dataset, split=split, metric=metric, source=source)
    claim.retired_at = None
    claim.value = value
    claim.source_url = source_url
    claim.img_size = img_size
    claim.crop_pct = crop_pct
    claim.interpolation = interpolation
    claim.full_clean()
    claim.save()
    return claim


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
    crop_pct: float | None = None,
    interpolation: str = "",
) -> AccuracyClaim:
    """Add or replace the claim a source makes for (dataset, split, metric); the entry's verdict follows.
    Raises ModelEntry.DoesNotExist when the entry was deleted since the caller read it."""
    _lock_existing(model)
    claim = _claim_upsert(
        model=model, dataset=dataset, metric=metric, value=value, split=split, source=source,
        source_url=source_url, img_size=img_size, crop_pct=crop_pct, interpolation=interpolation,
    )  # fmt: skip
    model_derived_refresh(model_ids=[model.pk])
    _reload_derived(model)
    return claim


@transaction.atomic
def claim_save(*, claim: AccuracyClaim) -> AccuracyClaim:
    """Save a claim edited field by field (the admin's form) and refresh the entries it concerns: its model,
    and the one it belonged to before when the edit moved it."""
    previous_model_id = (
        AccuracyClaim.history.filter(pk=claim.pk).values_list("model_id", flat=True).first()
        if claim.pk
        else None
    )
    claim.save()
    model_derived_refresh(model_ids={claim.model_id, previous_model_id} - {None})
    return claim


@transaction.atomic
def claims_delete(*, claims: Iterable[AccuracyClaim]) -> int:
    """Delete claims, current or retired, and refresh their entries; returns how many were deleted."""
    claim_ids = [claim.pk for claim in claims]
    chosen = AccuracyClaim.history.filter(pk__in=claim_ids)
    model_ids = set(chosen.values_list("model_id", flat=True))
    deleted, _ = chosen.delete()
    model_derived_refresh(model_ids=model_ids)
    return deleted


# --- timm registry import -------------------------------------------------------------------------------


@dataclass
class TimmImportSummary:
    created: int = 0
    updated: int = 0
    without_stats: list[str] = field(default_factory=list)
    # timm names skipped because another entry holds the id in another letter case (e.g. a user's Timm/x).
    case_conflicts: list[str] = field(default_factory=list)


TIMM_BATCH_SIZE = 500


# Image-text pretraining (CLIP, SigLIP, ...): timm stores the embedding width as num_classes for these towers,
# so a positive num_classes does not make them classifiers.
IMAGE_TEXT_DATASETS = ("laion", "datacomp", "openai", "metaclip", "dfn", "merged", "yfcc", "cc-")


def _timm_task(record: Any) -> str:
    # The head's dataset decides: a CLIP tower fine-tuned on imagenet-1k is a classifier.
    if record.num_classes > 0 and not record.head_dataset.startswith(IMAGE_TEXT_DATASETS):
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


def _timm_lineage_text(datasets: tuple[str, ...]) -> str:
    """("laion-2b", "imagenet-12k", "imagenet-1k") -> " pretrained on laion-2b, fine-tuned on imagenet-12k, then
    on imagenet-1k"."""
    if not datasets:
        return ""
    text = f" pretrained on {datasets[0]}"
    if len(datasets) > 1:
        text += ", fine-tuned on " + ", then on ".join(datasets[1:])
    return text


def _timm_entry(record: Any, stats: Any | None) -> ModelEntry:
    pretrained_on = record.pretrained_on
    summary = f"{record.architecture} ({record.tag or 'default'}) image model"
    summary += _timm_lineage_text(record.datasets) + "."
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
        fine_tuned_on=record.fine_tuned_on,
        base_model=f"timm/{record.fine_tuned_from}" if record.fine_tuned_from else "",
        license=record.license,
        paper_ids=list(record.paper_ids),
        tags=normalise_tags(["timm", record.architecture.split("_")[0], *record.datasets, record.tag]),
        num_params=stats.num_params if stats else None,
        gmacs=stats.gmacs if stats else None,
        input_size=list(record.input_size),
        num_classes=record.num_classes,
        # The head's classes are those of the last dataset it was trained on (in22k_ft_in1k: ImageNet-1k).
        label_space=label_spaces.label_space_for(
            num_classes=record.num_classes, pretrained_on=record.fine_tuned_on or pretrained_on
        ),
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
    "title", "summary", "card", "domain", "task", "library", "architecture", "pretrained_on", "fine_tuned_on",
    "base_model", "license", "paper_ids", "tags", "num_params", "gmacs", "input_size", "num_classes", "label_space",
    "mean", "std", "interpolation", "crop_pct", "crop_mode", "source_kind", "hf_repo_id", "search_text",
    "search_name", "size_estimate_bytes",
    "revision", "updated",
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
        for table in (ModelEntry._meta.db_table, DatasetTop1Claim._meta.db_table):
            cursor.execute(f"ANALYZE {table}")


def _timm_case_twins(batch: list[ModelEntry]) -> set[str]:
    """Lower-cased names of the batch held by another entry in another letter case (`Timm/x` for `timm/x`).
    The upsert's ON CONFLICT covers only the exact id, so such a row would fail the whole batch on the
    case-insensitive unique index; it is skipped and reported instead."""
    exact = {entry.name for entry in batch}
    held = (
        ModelEntry.objects.annotate(lower_namespace=Lower("namespace"), lower_name=Lower("name"))
        .filter(lower_namespace="timm", lower_name__in={name.lower() for name in exact})
        .values_list("namespace", "name")
    )
    return {name.lower() for namespace, name in held if not (namespace == "timm" and name in exact)}


@transaction.atomic
def _upsert_timm_batch(batch: list[ModelEntry], summary: TimmImportSummary) -> None:
    twins = _timm_case_twins(batch)
    if twins:
        summary.case_conflicts += sorted(entry.name for entry in batch if entry.name.lower() in twins)
        batch = [entry for entry in batch if entry.name.lower() not in twins]
    existing = ModelEntry.objects.filter(namespace="timm", name__in=[entry.name for entry in batch])
    before = _stored_facet_keys(existing.values_list("pk", flat=True))
    ModelEntry.objects.bulk_create(
        batch,
        update_conflicts=True,
        unique_fields=["namespace", "name"],
        update_fields=TIMM_UPDATE_FIELDS,
    )
    # The upsert rewrote the facet values of the rows that existed: count them out as they were, in as they are.
    _facet_counts_add(Counter(_facet_key(entry) for entry in batch), removed=before.values())
    summary.updated += len(before)
    summary.created += len(batch) - len(before)


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
    claimed_pks: set[int] = set()
    for row in rows:
        model = _find_claimed_model(row.model, namespace)
        if model is None:
            summary.unknown_models.append(row.model)
            continue
        common = {"model": model, "dataset": dataset, "split": split, "source": ClaimSource.RESULTS_TABLE}
        preprocessing = {
            "img_size": row.img_size,
            "crop_pct": row.crop_pct,
            "interpolation": row.interpolation,
        }
        _claim_upsert(**common, metric=Metric.TOP1, value=row.top1, source_url=source_url, **preprocessing)
        if row.top5 is not None:
            _claim_upsert(
                **common, metric=Metric.TOP5, value=row.top5, source_url=source_url, **preprocessing
            )
        claimed_pks.add(model.pk)
        summary.recorded += 1
    model_derived_refresh(model_ids=claimed_pks)
    return summary


# --- timm's published results (six test sets, two speed tables) ------------------------------------------


@dataclass(frozen=True)
class ResultsTable:
    """One parsed accuracy table and where it was published."""

    dataset: str
    split: str
    source_url: str
    rows: list[ClaimRow]


@dataclass(frozen=True)
class SpeedTableRows:
    device: str
    hardware: str
    precision: str
    torch_version: str
    source_url: str
    rows: list[Any]  # timm_results.SpeedRow


@dataclass(frozen=True)
class ParamCountMismatch:
    name: str
    csv_params: int
    catalog_params: int

    @property
    def relative_difference(self) -> float:
        # The tables round to 0.01M: compare with timm's count rounded the same way, so tiny test models
        # (0.36M) do not "disagree" by the rounding alone.
        ours_rounded = round(self.catalog_params / 1e6, 2) * 1e6
        return abs(self.csv_params - ours_rounded) / self.catalog_params


@dataclass
class TimmResultsSummary:
    claims_created: int = 0
    claims_updated: int = 0
    speed_claims_created: int = 0
    speed_claims_updated: int = 0
    tags_with_claims: int = 0
    tags_without_claims: list[str] = field(default_factory=list)
    tags_not_in_registry: list[str] = field(default_factory=list)  # rows naming tags timm does not list
    claims_retired: int = 0  # claims of tags a table no longer lists: kept as history, no longer current
    param_count_mismatches: list[ParamCountMismatch] = field(default_factory=list)


PARAM_COUNT_TOLERANCE = 0.01
# retired_at is among them: a tag listed again makes its retired claim current again (written as None).
CLAIM_UPDATE_FIELDS = ["value", "img_size", "crop_pct", "interpolation", "source_url", "retired_at"]


def rows_per_tag(rows: Iterable[ClaimRow], default_img_size: Mapping[str, int]) -> dict[str, ClaimRow]:
    """One row per tag. timm evaluates some tags at two image sizes; the claim is the row at the tag's default
    input size (what create_model(pretrained=True) and Depot's harness use), else the best top-1 listed."""
    chosen: dict[str, ClaimRow] = {}
    for row in rows:
        current = chosen.get(row.model)
        if current is None or _preferred(row, current, default_img_size.get(row.model)):
            chosen[row.model] = row
    return chosen


def _preferred(row: ClaimRow, current: ClaimRow, default_size: int | None) -> bool:
    row_default, current_default = row.img_size == default_size, current.img_size == default_size
    if row_default != current_default:
        return row_default
    return row.top1 > current.top1


def _claims_from_table(
    table: ResultsTable, model_pks: Mapping[str, int], default_img_size: Mapping[str, int]
) -> list[AccuracyClaim]:
    claims = []
    for row in rows_per_tag(table.rows, default_img_size).values():
        pk = model_pks.get(row.model)
        if pk is None:
            continue
        common = {
            "model_id": pk, "dataset": table.dataset, "split": table.split, "source": ClaimSource.RESULTS_TABLE,
            "img_size": row.img_size, "crop_pct": row.crop_pct, "interpolation": row.interpolation,
            "source_url": table.source_url,
        }  # fmt: skip
        claims.append(AccuracyClaim(metric=Metric.TOP1, value=row.top1, **common))
        if row.top5 is not None:
            claims.append(AccuracyClaim(metric=Metric.TOP5, value=row.top5, **common))
    return claims


def _param_count_mismatches(
    tables: list[ResultsTable], num_params: Mapping[str, int | None]
) -> list[ParamCountMismatch]:
    """Tags whose published param_count (millions, 2 decimals) differs from timm's own count by more than 1%."""
    mismatches: dict[str, ParamCountMismatch] = {}
    for table in tables:
        for row in table.rows:
            ours = num_params.get(row.model)
            if not ours or row.param_count_millions is None or row.model in mismatches:
                continue
            mismatch = ParamCountMismatch(row.model, round(row.param_count_millions * 1e6), ours)
            if mismatch.relative_difference > PARAM_COUNT_TOLERANCE:
                mismatches[row.model] = mismatch
    return sorted(mismatches.values(), key=lambda item: item.name)


def _upsert_counting(
    objects: list, *, model: type, unique_fields: list[str], update_fields: list[str]
) -> int:
    """Insert or update rows; returns how many were new."""
    before = model._base_manager.count()  # every row, retired claims too: a revived one is not new
    model.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=unique_fields,
        update_fields=update_fields,
        batch_size=TIMM_BATCH_SIZE,
    )
    return model._base_manager.count() - before


def _speed_claim(table: SpeedTableRows, row: Any) -> SpeedClaim:
    return SpeedClaim(
        architecture=row.architecture,
        device=table.device,
        hardware=table.hardware,
        precision=table.precision,
        torch_version=table.torch_version,
        samples_per_sec=row.samples_per_sec,
        step_time_ms=row.step_time_ms,
        batch_size=row.batch_size,
        img_size=row.img_size,
        gmacs=row.gmacs,
        source=ClaimSource.RESULTS_TABLE,
        source_url=table.source_url,
    )


def _retire_unlisted_claims(
    tables: list[ResultsTable], *, names: set[str], registry_names: set[str], summary: TimmResultsSummary
) -> set[int]:
    """Retire the results-table claims on each table's test set whose tag the table no longer lists, for the
    tags of this import and those timm's registry dropped; returns the entries whose claims changed. A partial
    import (a name filter) leaves the claims of the other tags alone."""
    now = timezone.now()
    changed: set[int] = set()
    for table in tables:
        listed = {row.model for row in table.rows}
        unlisted = (
            AccuracyClaim.objects.filter(
                model__namespace="timm",
                dataset=table.dataset,
                split=table.split,
                source=ClaimSource.RESULTS_TABLE,
            )
            .exclude(model__name__in=listed)
            .filter(Q(model__name__in=names) | ~Q(model__name__in=registry_names))
        )
        changed |= set(unlisted.values_list("model_id", flat=True))
        summary.claims_retired += unlisted.update(retired_at=now)
    return changed


@transaction.atomic
def timm_results_import(
    *,
    tables: list[ResultsTable],
    speed_tables: list[SpeedTableRows],
    names: Iterable[str],
    registry_names: Iterable[str],
) -> TimmResultsSummary:
    """Record timm's published accuracy (per tag) and speed (per architecture) as claims. Idempotent: a second
    import updates the same rows. Only the tags in `names` (this import's timm entries) get claims; rows naming
    a tag outside `registry_names` (all of timm's pretrained tags) are reported."""
    summary = TimmResultsSummary()
    names = set(names)
    entries = ModelEntry.objects.filter(namespace="timm", name__in=names).values_list(
        "name", "pk", "num_params", "input_size"
    )
    model_pks = {name: pk for name, pk, _, _ in entries}
    num_params = {name: params for name, _, params, _ in entries}
    default_img_size = {name: size[-1] for name, _, _, size in entries if size}
    claims = [claim for table in tables for claim in _claims_from_table(table, model_pks, default_img_size)]
    created = _upsert_counting(
        claims,
        model=AccuracyClaim,
        unique_fields=["model", "dataset", "split", "metric", "source"],
        update_fields=CLAIM_UPDATE_FIELDS,
    )
    summary.claims_created, summary.claims_updated = created, len(claims) - created
    claimed_pks = {claim.model_id for claim in claims}
    retired_pks = _retire_unlisted_claims(
        tables, names=names, registry_names=set(registry_names), summary=summary
    )
    model_derived_refresh(model_ids=claimed_pks | retired_pks)
    catalog_analyze()
    summary.tags_with_claims = len(claimed_pks)
    summary.tags_without_claims = sorted(name for name, pk in model_pks.items() if pk not in claimed_pks)
    listed = {row.model for table in tables for row in table.rows}
    summary.tags_not_in_registry = sorted(listed - set(registry_names))
    summary.param_count_mismatches = _param_count_mismatches(tables, num_params)
    architectures = set(
        ModelEntry.objects.filter(namespace="timm", name__in=names).values_list("architecture", flat=True)
    )
    speeds = [
        _speed_claim(table, row)
        for table in speed_tables
        for row in table.rows
        if row.architecture in architectures
    ]
    created = _upsert_counting(
        speeds,
        model=SpeedClaim,
        unique_fields=["architecture", "hardware", "precision", "img_size"],
        update_fields=["device", "torch_version", "samples_per_sec", "step_time_ms", "batch_size", "gmacs",
                       "source", "source_url"],
    )  # fmt: skip
    summary.speed_claims_created, summary.speed_claims_updated = created, len(speeds) - created
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
            _save_own_fields(model)
            # Runs on the previous weights no longer vouch for the model: its verdict follows the new file.
            model_derived_refresh(model_ids=[model.pk])
    except Exception:
        if wrote_file and not ModelEntry.objects.filter(weights=weights_file).exists():
            default_storage.delete(weights_file.file.name)
            WeightsFile.objects.filter(pk=weights_file.pk).delete()
        raise
    _reload_derived(model)
    if previous_weights_id != weights_file.pk:
        weights_release(weights_file_id=previous_weights_id)
    return weights_file


def _weights_in_use(weights_file: WeightsFile) -> bool:
    """Another model points at it, or a queued/running benchmark job is about to read it."""
    if ModelEntry.objects.filter(weights=weights_file).exists():
        return True
    return measurements.current().weights_in_use(sha256=weights_file.sha256)


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


# --- mirroring weights from the Hugging Face Hub: a job (WeightsMirror), run by catalog.tasks.mirror_weights ---

logger = logging.getLogger(__name__)
MIRROR_PROGRESS_SECONDS = 0.5  # progress is written at most this often: a row update per chunk would be many


def weights_mirror_request(
    *, model: ModelEntry, revision: str = "", requested_by: Any = None, enqueue: bool = True
) -> tuple[WeightsMirror, bool]:
    """Queue a copy of the model's weights from its Hugging Face repository at a pinned commit (`revision`, else
    the entry's hf_revision). Returns (job, created); a job already queued or running for the model is returned
    instead of a second one. Raises ValidationError naming what is missing."""
    with transaction.atomic():
        locked = ModelEntry.objects.select_for_update().get(pk=model.pk)
        weights_mirrors_reap(mirrors=locked.weights_mirrors.all())  # a dead job must not block this request
        active = locked.weights_mirrors.filter(status__in=ACTIVE_MIRROR_STATUSES).first()
        if active is not None:
            return active, False
        revision = revision or locked.hf_revision
        if not locked.hf_repo_id:
            raise ValidationError(
                {
                    "hf_repo_id": f"{locked.model_id} has no Hugging Face repository to mirror its weights from."
                }
            )
        if not weights.COMMIT_SHA.match(revision or ""):
            raise ValidationError(
                {
                    "revision": f"Give the full 40-character commit sha of {locked.hf_repo_id} to mirror at"
                    + (f", not {revision[:50]!r}." if revision else "; the entry pins none.")
                }
            )
        mirror = WeightsMirror.objects.create(
            model=locked, repo_id=locked.hf_repo_id, revision=revision, requested_by=requested_by
        )
        if enqueue:
            from catalog.tasks import mirror_weights

            mirror_weights.delay_on_commit(mirror.pk)
    return mirror, True


def weights_mirrors_reap(
    *, mirrors: QuerySet[WeightsMirror] | None = None, now: datetime | None = None
) -> list[int]:
    """Fail every running mirror job whose worker stopped answering: no sign of life (its progress, written at
    least every MIRROR_PROGRESS_SECONDS while bytes arrive) for DEPOT_RUN_HEARTBEAT_TIMEOUT seconds, or past its
    hard time limit. Such a job will never finish, and must not block a new request for the model. Run by every
    worker's reaper and before each new request; each change is conditional on the heartbeat it read, so a job
    that showed a sign of life meanwhile is left alone. Returns the ids failed."""
    now = now or timezone.now()
    silent = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT)
    past_limit = now - timedelta(seconds=settings.MIRROR_TIME_LIMIT + 60)
    stale = (mirrors if mirrors is not None else WeightsMirror.objects.all()).filter(
        Q(heartbeat__lt=silent) | Q(heartbeat__isnull=True, started__lt=silent) | Q(started__lt=past_limit),
        status=MirrorStatus.RUNNING,
    )
    failed = []
    for mirror_id, heartbeat, started in stale.values_list("pk", "heartbeat", "started"):
        since = heartbeat or started
        reason = (
            "The job's worker stopped before it finished (past the time limit); request the mirror again."
            if started < past_limit
            else f"The job's worker stopped answering (no progress since {since:%Y-%m-%d %H:%M:%S} UTC, over "
            f"{settings.RUN_HEARTBEAT_TIMEOUT} s): it was killed or lost the database; request the mirror again."
        )
        changed = WeightsMirror.objects.filter(
            pk=mirror_id, status=MirrorStatus.RUNNING, heartbeat=heartbeat
        ).update(status=MirrorStatus.FAILED, finished=now, error=reason)
        if changed:
            logger.warning("weights mirror %s: %s", mirror_id, reason)
            failed.append(mirror_id)
    return failed


class _MirrorProgress:
    """on_progress for the download: writes bytes done / total to the job's row, at most every half second."""

    def __init__(self, mirror_id: int):
        self.mirror_id, self.written_at = mirror_id, 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.written_at < MIRROR_PROGRESS_SECONDS and done != total:
            return
        self.written_at = now
        WeightsMirror.objects.filter(pk=self.mirror_id, status=MirrorStatus.RUNNING).update(
            bytes_done=done, bytes_total=total, heartbeat=timezone.now()
        )


def _mirror_finish(mirror_id: int, *, status: str, **fields: Any) -> WeightsMirror:
    WeightsMirror.objects.filter(pk=mirror_id).update(status=status, finished=timezone.now(), **fields)
    return WeightsMirror.objects.select_related("model").get(pk=mirror_id)


def _mirror_download_and_attach(mirror: WeightsMirror) -> WeightsFile:
    # Downloaded beside the hub's temporary files and deleted once stored: a second copy of a multi-gigabyte
    # file in the Hugging Face cache would double the disk the mirror takes. A file the cache already holds is
    # taken from there.
    settings.VAR_DIR.joinpath("tmp").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.VAR_DIR / "tmp", prefix="mirror-") as download_dir:
        path = weights.fetch_from_hugging_face(
            repo_id=mirror.repo_id,
            revision=mirror.revision,
            filename=mirror.filename,
            endpoint=settings.HF_MIRROR_ENDPOINT or None,
            on_progress=_MirrorProgress(mirror.pk),
            download_dir=Path(download_dir),
        )
        model = ModelEntry.objects.get(pk=mirror.model_id)
        model.hf_repo_id, model.hf_revision = mirror.repo_id, mirror.revision
        return weights_attach(
            model=model, path=path, original_name=mirror.filename, source_kind=SourceKind.HUGGING_FACE
        )


def weights_mirror_execute(*, mirror_id: int) -> WeightsMirror:
    """Run a queued mirror job: download the file (progress on the row), check and attach it like an upload,
    and pin the entry's Hugging Face source at the job's commit. A refusal or an unreachable Hub fails the job
    with the reason; a job not queued (taken or finished already) is left as it is."""
    now = timezone.now()
    taken = WeightsMirror.objects.filter(pk=mirror_id, status=MirrorStatus.QUEUED).update(
        status=MirrorStatus.RUNNING, started=now, heartbeat=now
    )
    mirror = WeightsMirror.objects.select_related("model").get(pk=mirror_id)
    if not taken:
        return mirror
    # Beats also through the phases without progress (the Hub's metadata, hashing and checking the file).
    heartbeat = RowHeartbeat(
        rows=WeightsMirror.objects.filter(pk=mirror_id, status=MirrorStatus.RUNNING),
        interval=max(0.2, settings.RUN_HEARTBEAT_TIMEOUT / 5),
        label=f"mirror-{mirror_id}",
    )
    try:
        with heartbeat:
            weights_file = _mirror_download_and_attach(mirror)
    except weights.WeightsError as error:
        return _mirror_finish(mirror_id, status=MirrorStatus.FAILED, error=str(error))
    except Exception as error:  # recorded on the job, so its page says why; logged with the traceback
        logger.exception("weights mirror %s failed", mirror_id)
        return _mirror_finish(
            mirror_id, status=MirrorStatus.FAILED, error=f"The job failed: {type(error).__name__}: {error}"
        )
    size = weights_file.size_bytes
    return _mirror_finish(
        mirror_id, status=MirrorStatus.SUCCEEDED, weights_sha256=weights_file.sha256, bytes_done=size,
        bytes_total=size,
    )  # fmt: skip


def weights_mirror_fail_running(*, mirror_id: int, reason: str) -> bool:
    """Fail a job that is still running (its task hit the time limit); True when it was."""
    return bool(
        WeightsMirror.objects.filter(pk=mirror_id, status=MirrorStatus.RUNNING).update(
            status=MirrorStatus.FAILED, finished=timezone.now(), error=reason
        )
    )


def weights_file_is_intact(*, weights_file: WeightsFile) -> bool:
    """True when the stored bytes still hash to the recorded sha256 (a cheap guard before reuse)."""
    return _stored_copy_is_intact(weights_file.file.name, weights_file.sha256)


def model_record_download(*, model: ModelEntry) -> None:
    ModelEntry.objects.filter(pk=model.pk).update(downloads=F("downloads") + 1)
