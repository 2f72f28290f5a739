"""Writes for evaluation: datasets, and the only code that changes a BenchmarkRun's state (through
evaluation/lifecycle.py, the lifecycle runs share with transfer rankings).

queued -> running -> succeeded | failed | cancelled. Every transition is one conditional UPDATE (`WHERE status
= <expected>`, and for an execution's writes `AND attempts = <its attempt>`), so a cancel racing a finishing
worker can never be overwritten and a redelivered job never writes a second result; every exception in a
job ends in `failed` with its text: no run stays in `running` because of bad input. A run whose worker
vanished is requeued or failed by the reaper (runs_reap), which every worker runs on a timer.
"""

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import AccuracyClaim, ModelEntry
from core import archives, dataset_presets, imagefolder
from core.datasets import dataset_content_hash
from core.label_spaces import REAL_DATASET
from core.options import OptionError
from core.run_config import PROTOCOL_OPTIONS, RUN_CONFIG, claim_protocol
from evaluation import lifecycle, selectors, text_services
from evaluation.models import BenchmarkRun, DatasetKind, EvalDataset, Modality, RunStatus, TransferRanking

logger = logging.getLogger(__name__)

# A benchmark run's lifecycle: the one both kinds of job share (evaluation/lifecycle.py).
RUNS = lifecycle.JobKind(BenchmarkRun, "run", "run_benchmark", time_limit=lambda: settings.RUN_TIME_LIMIT)
RunCancelled = lifecycle.JobCancelled
RunSuperseded = lifecycle.JobSuperseded
TransientRunError = lifecycle.TransientJobError
TRANSIENT_DB_ERRORS = lifecycle.TRANSIENT_DB_ERRORS
SOFT_TIME_LIMIT_REASON = lifecycle.SOFT_TIME_LIMIT_REASON.format(label="run")
ReapReport = lifecycle.ReapReport


# --- datasets -------------------------------------------------------------------------------------------


@dataclass
class _SplitsDescription:
    class_names: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    unused: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}, relative to the root
    decode_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _split_folders(root: Path, unused: list[dict[str, str]]) -> list[Path]:
    split_dirs = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            unused.append({"path": path.name, "reason": imagefolder.HIDDEN_REASON})
        elif path.is_dir():
            split_dirs.append(path)
        else:
            unused.append({"path": path.name, "reason": "beside the split folders, not inside one"})
    return split_dirs


def _describe_splits(root: Path, field_name: str = "root") -> _SplitsDescription:
    if not root.is_dir():
        raise ValidationError({field_name: f"{root} is not a directory."})
    described = _SplitsDescription()
    split_dirs = _split_folders(root, described.unused)
    if not split_dirs:
        raise ValidationError(
            {field_name: f"{root.name} has no split folders (expected e.g. test/<class>/<image>)."}
        )
    class_names: list[str] | None = None
    for split_dir in split_dirs:
        try:
            scan = imagefolder.scan_imagefolder(split_dir)
            checked = imagefolder.check_images(scan)
        except imagefolder.DatasetError as error:
            raise ValidationError({field_name: f"split {split_dir.name}: {error}"}) from error
        unreadable = checked.unreadable
        if unreadable:
            shown = ", ".join(unreadable[:10]) + (
                f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
            )
            raise ValidationError({field_name: f"split {split_dir.name}: unreadable image file(s): {shown}"})
        if class_names is not None and list(scan.class_names) != class_names:
            raise ValidationError(
                {
                    field_name: f"split {split_dir.name} has classes {list(scan.class_names)}, "
                    f"not {class_names}."
                }
            )
        class_names = list(scan.class_names)
        described.sizes[split_dir.name] = len(scan.samples)
        described.hashes[split_dir.name] = dataset_content_hash(split_dir)
        described.decode_counts[split_dir.name] = checked.decode_counts
        described.unused.extend(
            {"path": f"{split_dir.name}/{path}", "reason": reason} for path, reason in scan.unused
        )
    described.class_names = class_names or []
    return described


@transaction.atomic
def dataset_register_directory(
    *,
    name: str,
    root: Path,
    title: str = "",
    description: str = "",
    kind: str = DatasetKind.DIRECTORY,
    field_name: str = "root",
) -> EvalDataset:
    """Register (or refresh) an ImageFolder directory: root/<split>/<class>/<image>.

    Files that no split reads (hidden, not images, beside the class or split folders) are recorded by name in
    unused_files: reported, never skipped silently. A refusal names `field_name` (root, or file for an upload).
    """
    root = Path(root).resolve()
    if EvalDataset.objects.filter(name=name).exclude(modality=Modality.IMAGE).exists():
        raise ValidationError({"name": f"{name} is a text dataset; pick another name."})
    described = _describe_splits(root, field_name)
    dataset = EvalDataset.objects.filter(name=name).first() or EvalDataset(name=name)
    dataset.title, dataset.description, dataset.kind, dataset.root = (
        title or name,
        description,
        kind,
        str(root),
    )
    dataset.class_names, dataset.split_sizes = described.class_names, described.sizes
    dataset.split_hashes, dataset.unused_files = described.hashes, described.unused
    dataset.decode_counts = described.decode_counts
    dataset.full_clean()
    dataset.save()
    # Claims on this dataset turn from unverifiable to pending (not measured yet) in the catalog.
    catalog_services.model_derived_refresh_for_dataset(dataset=name)
    return dataset


def dataset_register_preset(
    *, preset: str, root: Path, title: str = "", description: str = ""
) -> tuple[EvalDataset, dataset_presets.PresetCheck]:
    """Register one of timm's test sets under the name its claims use, after checking its layout (class folders,
    and ReaL's file names) against the preset: the set's claims then turn pending, and re-checkable. A subset of
    the classes is accepted; the returned check says so, with its image count."""
    try:
        spec = dataset_presets.preset(preset)
    except KeyError as error:
        raise ValidationError({"preset": str(error.args[0])}) from None
    root = Path(root).resolve()
    split_root = root / spec.split
    if not split_root.is_dir():
        found = sorted(path.name for path in root.iterdir())[:3] if root.is_dir() else []
        raise ValidationError(
            {
                "root": f"{spec.label}'s claims are on split {spec.split!r}: expected {split_root}/<class folder>/"
                f"<image> (e.g. {spec.split}/{spec.classes[0]}/...); {root.name} holds {found or 'nothing'}."
            }
        )
    try:
        checked = dataset_presets.check_preset(spec, imagefolder.scan_imagefolder(split_root))
    except imagefolder.DatasetError as error:
        raise ValidationError({"root": f"split {spec.split}: {error}"}) from error
    if checked.problems:
        raise ValidationError({"root": [f"split {spec.split}: {problem}" for problem in checked.problems]})
    dataset = dataset_register_directory(
        name=spec.name, root=root, title=title or spec.label, description=description or checked.summary()
    )
    return dataset, checked


def dataset_archive_limits() -> archives.ArchiveLimits:
    return archives.ArchiveLimits(
        max_members=settings.DATASET_MAX_FILES,
        max_total_bytes=settings.DATASET_MAX_BYTES,
        max_ratio=settings.DATASET_MAX_RATIO,
    )


def dataset_register_zip(*, name: str, zip_path: Path, title: str = "", description: str = "") -> EvalDataset:
    """Extract an uploaded ImageFolder zip safely under media/datasets/ and register it."""
    if EvalDataset.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A dataset named {name!r} already exists."})
    digest = hashlib.sha256(Path(zip_path).read_bytes()).hexdigest()[:12]
    destination = Path(settings.MEDIA_ROOT) / "datasets" / f"{name}-{digest}"
    try:
        archives.extract_zip(Path(zip_path), destination, dataset_archive_limits())
    except archives.ArchiveError as error:
        raise ValidationError({"file": str(error)}) from error
    try:
        return dataset_register_directory(
            name=name, root=destination, title=title, description=description, kind=DatasetKind.UPLOAD,
            field_name="file",
        )  # fmt: skip
    except Exception:
        shutil.rmtree(destination, ignore_errors=True)  # a refused dataset leaves no files behind
        raise


class DatasetInUse(Exception):
    """The dataset is the evidence for recorded benchmark runs; deleting it would orphan their results."""


def _owned_files(dataset: EvalDataset) -> Path | None:
    """The dataset's root when its files are ours to remove: an upload under MEDIA_ROOT/datasets/. A directory
    registered from elsewhere on the server belongs to whoever put it there."""
    root = Path(dataset.root).resolve()
    uploads = (Path(settings.MEDIA_ROOT) / "datasets").resolve()
    owned = dataset.kind == DatasetKind.UPLOAD and root.is_relative_to(uploads) and root != uploads
    return root if owned else None


def _refuse_if_referenced(dataset: EvalDataset) -> None:
    runs = BenchmarkRun.objects.filter(dataset=dataset).count()
    if runs:
        raise DatasetInUse(
            f"Dataset {dataset.name} is referenced by {runs} benchmark run(s); their results would lose their "
            "evidence. Delete those runs' models first, or keep the dataset."
        )
    # Checked here, not only by the row's PROTECT: the files go before the row, so a refusal must come first.
    rankings = TransferRanking.objects.filter(dataset=dataset).count()
    if rankings:
        raise DatasetInUse(f"Dataset {dataset.name} is referenced by {rankings} transfer ranking(s).")


def dataset_delete(*, dataset: EvalDataset) -> bool:
    """Delete a dataset; True when a deletion job was queued to remove its files (an upload), False when the
    row is already gone (nothing of ours on disk). Refused while runs or rankings reference it.

    A big upload (100k files) cannot be removed within a request: the request only marks the dataset as being
    deleted (hidden from lists, refused for new runs) and the job (dataset_delete_execute) removes its files in
    batches and then the row.
    """
    with transaction.atomic():
        # Locked so a run requested at the same moment either comes first (and is counted) or sees `deleting`.
        locked = EvalDataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if locked is None:
            return False
        _refuse_if_referenced(locked)
        root = _owned_files(locked)
        if root is None or not root.exists():
            _dataset_row_delete(locked)
            return False
        if locked.deleting is None:  # asked twice: the job already queued carries on
            locked.deleting = timezone.now()
            EvalDataset.objects.filter(pk=locked.pk).update(deleting=locked.deleting)
            from evaluation.tasks import delete_dataset

            delete_dataset.delay_on_commit(locked.pk)
    # The caller's copy says so too: with eager jobs the row may be gone already when it answers.
    dataset.deleting = locked.deleting
    return True


def _dataset_row_delete(dataset: EvalDataset) -> None:
    try:
        with transaction.atomic():
            dataset.delete()
            # Claims on it become unverifiable again (no run can reference it, so no verdict is lost).
            catalog_services.model_derived_refresh_for_dataset(dataset=dataset.name)
    except ProtectedError:  # a run was requested meanwhile
        raise DatasetInUse(f"Dataset {dataset.name} is referenced by a benchmark run.") from None


def _remove_tree(root: Path, *, batch_size: int, max_batches: int | None, beat: Callable[[], None]) -> bool:
    """Remove root's files bottom-up, calling beat() after each batch; True when root is gone. Re-runnable:
    what an earlier, interrupted pass removed is simply not found again."""
    removed, batches = 0, 0
    for directory, dirnames, filenames in os.walk(root, topdown=False):
        here = Path(directory)
        # os.walk never follows a symlinked folder; it is listed among dirnames and removed as the link it is.
        links = [name for name in dirnames if (here / name).is_symlink()]
        for name in [*filenames, *links]:
            (here / name).unlink(missing_ok=True)
            removed += 1
            if removed % batch_size == 0:
                batches += 1
                beat()
                if max_batches is not None and batches >= max_batches:
                    return False
        with contextlib.suppress(FileNotFoundError):
            here.rmdir()
    return not root.exists()


def dataset_delete_execute(
    *, dataset_id: int, batch_size: int | None = None, max_batches: int | None = None
) -> bool:
    """The deletion job: remove an upload's files in batches, then its row. True when the dataset is gone.

    Idempotent and re-runnable: a job stopped by a time limit or a killed worker leaves the dataset marked
    `deleting` with fewer files, and the next execution (the reaper publishes one after
    DEPOT_DATASET_DELETE_TIMEOUT) carries on. `max_batches` stops after that many batches (tests, interruptions).
    """
    dataset = EvalDataset.objects.filter(pk=dataset_id, deleting__isnull=False).first()
    if dataset is None:  # deleted already, or never marked: nothing to do
        return True
    try:
        _refuse_if_referenced(dataset)
    except DatasetInUse as error:  # a run slipped in before the mark: keep data and row, and say why
        logger.warning("dataset %s: deletion abandoned: %s", dataset.name, error)
        EvalDataset.objects.filter(pk=dataset_id).update(deleting=None)
        return False

    def beat() -> None:
        EvalDataset.objects.filter(pk=dataset_id, deleting__isnull=False).update(deleting=timezone.now())

    root = _owned_files(dataset)
    if root is not None and root.exists():
        size = batch_size or settings.DATASET_DELETE_BATCH
        if not _remove_tree(root, batch_size=size, max_batches=max_batches, beat=beat):
            return False
    _dataset_row_delete(dataset)
    logger.info("dataset %s deleted with its files", dataset.name)
    return True


def datasets_deletion_reap(*, now: datetime | None = None) -> list[int]:
    """Publish again the deletion of every dataset whose job showed no progress for DEPOT_DATASET_DELETE_TIMEOUT
    (its worker died, its message was lost); returns their ids. Each one is a conditional UPDATE, so reapers
    racing on one dataset publish it once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DATASET_DELETE_TIMEOUT)
    republished = []
    for dataset_id, stamp in EvalDataset.objects.filter(deleting__lt=cutoff).values_list("pk", "deleting"):
        with transaction.atomic():
            if EvalDataset.objects.filter(pk=dataset_id, deleting=stamp).update(deleting=now):
                from evaluation.tasks import delete_dataset

                delete_dataset.delay_on_commit(dataset_id)
                republished.append(dataset_id)
    if republished:
        logger.warning("dataset deletions published again (no progress): %s", republished)
    return republished


def dataset_orphans_remove(*, orphans: list[selectors.Orphan]) -> list[selectors.Orphan]:
    """Remove the orphans the sweep found (selectors.dataset_orphans) past their grace period; returns those
    removed. Each is checked again just before, so a dataset registered meanwhile keeps its files."""
    referenced = selectors.dataset_roots()
    removed = []
    for orphan in orphans:
        if orphan.fresh or orphan.path.resolve() in referenced:
            continue
        if orphan.path.is_dir() and not orphan.path.is_symlink():
            shutil.rmtree(orphan.path, ignore_errors=True)
        else:
            orphan.path.unlink(missing_ok=True)
        removed.append(orphan)
    return removed


# --- runs: requesting -----------------------------------------------------------------------------------


def canonical_run_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Every run option's checked value, RUN_CONFIG's defaults for those not given: what a run stores and is
    identified by. Unknown options are refused; the error names the option."""
    try:
        return RUN_CONFIG.validate(config or {})
    except OptionError as error:
        raise ValidationError({error.field: error.message}) from None


def _config_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def dataset_lock_existing(*, dataset: EvalDataset) -> None:
    """Lock the dataset's row for the caller's transaction (dataset_delete takes the same lock), or raise
    EvalDataset.DoesNotExist (the API's 404) when it was removed since the caller read it."""
    if not EvalDataset.objects.select_for_update().filter(pk=dataset.pk).exists():
        raise EvalDataset.DoesNotExist(f"No dataset {dataset.name!r}: it was deleted while this request ran.")


def check_not_deleting(dataset: EvalDataset) -> None:
    """A dataset being deleted is losing its files: no new job may start on it."""
    if EvalDataset.objects.filter(pk=dataset.pk, deleting__isnull=False).exists():
        raise ValidationError({"dataset": f"Dataset {dataset.name} is being deleted; no new job can use it."})


def _check_runnable(model: ModelEntry, dataset: EvalDataset, split: str) -> None:
    from core.harness import HarnessError, class_mapping

    if model.weights_id is None:
        raise ValidationError({"model": f"{model.model_id} has no weights stored on this hub."})
    check_not_deleting(dataset)
    text_services.check_modalities(model, dataset)
    if split not in dataset.split_sizes:
        raise ValidationError(
            {"split": f"Dataset {dataset.name} has no split {split!r}; it has {sorted(dataset.split_sizes)}."}
        )
    if dataset.split_sizes[split] == 0:
        raise ValidationError({"split": f"Split {split!r} of {dataset.name} is empty."})
    try:
        class_mapping(list(dataset.class_names), model.output_label_names, model.num_classes or 0)
    except HarnessError as error:
        raise ValidationError({"dataset": str(error)}) from error
    if dataset.name == REAL_DATASET:
        _check_real_labels(model, dataset, split)


def _check_real_labels(model: ModelEntry, dataset: EvalDataset, split: str) -> None:
    """A run on imagenet-real scores against ReaL's labels, keyed by file name: refuse a folder registered
    without the preset whose files ReaL has no labels for now, with that reason, instead of failing the run."""
    if model.num_classes != 1000:
        raise ValidationError(
            {
                "model": f"ImageNet-ReaL's labels are ImageNet-1k outputs; {model.model_id} has {model.num_classes}."
            }
        )
    try:
        scan = imagefolder.scan_imagefolder(Path(dataset.root) / split)
    except imagefolder.DatasetError as error:
        raise ValidationError({"dataset": str(error)}) from error
    problems = dataset_presets.check_preset(dataset_presets.preset(REAL_DATASET), scan).problems
    real_names = [problem for problem in problems if "ReaL" in problem]
    if real_names:
        raise ValidationError({"dataset": real_names})


def run_request(
    *,
    model: ModelEntry,
    dataset: EvalDataset,
    split: str = "test",
    config: dict[str, Any] | None = None,
    force: bool = False,
    requested_by: Any = None,
    enqueue: bool = True,
) -> tuple[BenchmarkRun, bool]:
    """Queue a run, or return the existing one for the same weights, data and config. (run, created)."""
    _check_runnable(model, dataset, split)
    canonical = canonical_run_config(config)
    identity = {
        "weights_sha256": model.weights.sha256,
        "dataset_hash": dataset.split_hashes[split],
        "config_key": _config_key(canonical),
    }
    with transaction.atomic():
        # Lock the model row so two identical requests at once cannot both create a run (check-then-insert).
        # The same bytes registered under another name are another dataset to the user: a run asked for B
        # is B's run, never A's reported in its place.
        # A model or dataset deleted since the caller read it is a 404, not a run pointing at nothing.
        catalog_services.models_lock_existing(models=[model])
        # ...and the dataset's, so a deletion marked meanwhile is seen (dataset_delete takes the same lock).
        dataset_lock_existing(dataset=dataset)
        check_not_deleting(dataset)
        existing = (
            None
            if force
            else (
                BenchmarkRun.objects.filter(**identity, model=model, dataset=dataset, split=split)
                .filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED])
                .order_by("-created")
                .first()
            )
        )
        if existing is not None:
            return existing, False
        run = BenchmarkRun.objects.create(
            model=model, dataset=dataset, split=split, config=canonical, requested_by=requested_by, **identity
        )
        if enqueue:
            from evaluation.tasks import run_benchmark

            run_benchmark.delay_on_commit(run.pk)
    return run, True


def claim_recheck_request(
    *,
    claim: AccuracyClaim,
    config: dict[str, Any] | None = None,
    force: bool = False,
    requested_by: Any = None,
    enqueue: bool = True,
) -> tuple[BenchmarkRun, bool]:
    """Queue the run that re-checks a claim: on its dataset and split, measured the claim's way (its image size,
    crop, filter and scoring: core.run_config.claim_protocol). `config` may set the other options (batch size,
    threads, ...); a protocol value that contradicts the claim's is refused, naming the option."""
    dataset = EvalDataset.objects.filter(name=claim.dataset).first()
    if dataset is None:
        raise ValidationError(
            {"dataset": f"The claim is on {claim.dataset!r}, which this hub does not hold."}
        )
    protocol = claim_protocol(
        dataset=claim.dataset,
        img_size=claim.img_size,
        crop_pct=claim.crop_pct,
        interpolation=claim.interpolation,
    )
    given = canonical_run_config(config)
    for name, value in protocol.items():
        if (config or {}).get(name) is not None and given[name] != value:
            raise ValidationError(
                {
                    name: f"The claim was measured with {name}={value}; a re-check of it cannot use {given[name]}."
                }
            )
    return run_request(
        model=claim.model, dataset=dataset, split=claim.split, config={**(config or {}), **protocol},
        force=force, requested_by=requested_by, enqueue=enqueue,
    )  # fmt: skip


# --- runs: state transitions ----------------------------------------------------------------------------


def run_cancel(*, run: BenchmarkRun) -> BenchmarkRun:
    """Cancel a queued or running run; a finished run is refused with a message naming its state."""
    if not BenchmarkRun.transition(
        run.pk,
        allowed_from=[RunStatus.QUEUED, RunStatus.RUNNING],
        status=RunStatus.CANCELLED,
        finished=timezone.now(),
    ):
        run.refresh_from_db()
        raise ValidationError(
            {"status": f"Run {run.pk} already {run.status}; only queued or running runs can be cancelled."}
        )
    run.refresh_from_db()
    return run


def _model_source(model: ModelEntry) -> Any:
    from core import hfconfig
    from core.harness import ModelSource

    config = hfconfig.timm_config(model)
    return ModelSource(
        architecture=model.architecture,
        num_classes=model.num_classes or 0,
        model_args=dict(model.model_args),
        weights_path=Path(model.weights.file.path),
        weights_sha256=model.weights.sha256,
        pretrained_cfg=config["pretrained_cfg"],
        label_names=model.output_label_names,
    )


def _loader_workers(requested: int) -> int:
    """A prefork Celery child is daemonic and may not fork DataLoader workers; results are identical either way
    (the harness reads in a fixed order), only the speed differs, and provenance records what was used."""
    return 0 if multiprocessing.current_process().daemon else requested


def run_execute(
    *,
    run_id: int,
    worker: str,
    on_progress: Callable[[float, str], None] | None = None,
    resume_attempt: int | None = None,
) -> BenchmarkRun | None:
    """The whole job. Ends in succeeded, failed (with the error text) or cancelled; never left running.

    Exactly once: only the execution holding the run's current attempt can write its result. A database that
    goes away mid-run raises TransientRunError (the task retries as the same attempt); anything else fails
    the run with its text.
    """
    return lifecycle.job_execute(
        kind=RUNS, job_id=run_id, worker=worker, resume_attempt=resume_attempt,
        body=lambda progress: _execute(run_id, progress, on_progress),
    )  # fmt: skip


def _execute(
    run_id: int, progress: lifecycle.ProgressWriter, on_progress: Callable[[float, str], None] | None
) -> BenchmarkRun:
    from core.harness import HarnessConfig

    def report(fraction: float, message: str) -> None:
        progress(fraction, message)
        if on_progress:
            on_progress(fraction, message)

    run = BenchmarkRun.objects.select_related("model__weights", "dataset").get(pk=run_id)
    if run.model.weights is None or run.model.weights.sha256 != run.weights_sha256:
        raise ValueError("The model's weights changed since this run was queued; request a new run.")
    config = HarnessConfig(
        batch_size=run.config["batch_size"], num_workers=_loader_workers(run.config["num_workers"]),
        seed=run.config["seed"], threads=run.config["threads"],
        # runs queued before the protocol options existed measured with the model's own preprocessing
        **{name: run.config[name] for name in PROTOCOL_OPTIONS if run.config.get(name) is not None},
    )  # fmt: skip
    # The one point where image and text runs part: everything before and after is the same lifecycle.
    if run.dataset.modality == Modality.TEXT:
        result = text_services.text_run_measure(run, config, progress.log, report)
    else:
        result = _measure_images(run, config, progress, report)
    return _succeed(run, result, progress)


def _measure_images(
    run: BenchmarkRun, config: Any, progress: lifecycle.ProgressWriter, report: Callable[[float, str], None]
) -> Any:
    from core.harness import DatasetSource, evaluate_model

    dataset = DatasetSource(
        name=run.dataset.name,
        split=run.split,
        root=Path(run.dataset.root) / run.split,
        content_hash=run.dataset_hash,
        real_labels=run.dataset.name == REAL_DATASET,  # the name timm's ReaL claims are on
    )
    progress.log(f"checking the files of {run.dataset.name}/{run.split} against its registration")
    _check_split_unchanged(run, dataset.root)
    return evaluate_model(_model_source(run.model), dataset, config, on_progress=report)


class DatasetChanged(Exception):
    """The split's files are not the ones registered (and named by the run): measuring them would mislabel."""


def _check_split_unchanged(run: BenchmarkRun, split_root: Path) -> None:
    """Recompute the split's content hash; a split edited since registration fails the run, with the fix."""
    try:
        current = dataset_content_hash(split_root)
    except FileNotFoundError as error:
        raise DatasetChanged(
            f"Dataset {run.dataset.name} split {run.split!r} is gone from {split_root}; register it again."
        ) from error
    if current != run.dataset_hash:
        raise DatasetChanged(
            f"The files of dataset {run.dataset.name} split {run.split!r} changed since it was registered "
            f"(content hash {run.dataset_hash[:12]} then, {current[:12]} now){_unreadable_note(split_root)}: "
            f"nothing was measured. Register it again (manage.py register_dataset {run.dataset.name} "
            f"{run.dataset.root}) and request a new run."
        )


def _unreadable_note(split_root: Path) -> str:
    """Which files are unreadable now, when any: the likeliest change to name (only the split's hash is kept)."""
    try:
        unreadable = imagefolder.unreadable_images(imagefolder.scan_imagefolder(split_root))
    except imagefolder.DatasetError as error:
        return f"; {error}"
    if not unreadable:
        return ""
    more = f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
    return f"; unreadable images now: {', '.join(unreadable[:10])}{more}"


def _succeed(run: BenchmarkRun, result: Any, progress: lifecycle.ProgressWriter) -> BenchmarkRun:
    if result.provenance.get("dataset_hash") not in (None, run.dataset_hash):
        raise RuntimeError("the harness measured other data than the run names")
    metrics = result.to_dict()
    provenance = metrics.pop("provenance")
    progress.log(
        f"top-1 {result.top1:.2f}% on {result.num_samples} {getattr(result, 'sample_unit', 'images')}"
    )
    now = timezone.now()
    with transaction.atomic():
        # Guarded by status and attempt: a redelivered or superseded execution never writes a second result.
        finished = progress.transition(
            status=RunStatus.SUCCEEDED, progress=100.0, top1=result.top1, metrics=metrics, provenance=provenance,
            log_tail="\n".join(progress.lines), finished=now, heartbeat=now,
        )  # fmt: skip
        if finished:  # the catalog's verdict columns follow the new measurement
            catalog_services.model_derived_refresh(model_ids=[run.model_id])
    if finished:
        lifecycle.job_recorded(progress)
    return BenchmarkRun.objects.get(pk=run.pk)


def run_fail_timed_out(*, run_id: int, seconds: float) -> bool:
    """The worker killed the job at its hard time limit (called from the worker's main process)."""
    reason = f"Hard time limit exceeded: the worker stopped the run after {seconds:g} s."
    return lifecycle.job_fail_running(kind=RUNS, job_id=run_id, reason=reason)


def run_fail_running(*, run_id: int, reason: str) -> bool:
    """Fail a run that is still running, with the reason (the task gave up on it outside the harness)."""
    return lifecycle.job_fail_running(kind=RUNS, job_id=run_id, reason=reason)


@transaction.atomic
def runs_delete(*, runs: QuerySet[BenchmarkRun]) -> int:
    """Delete runs (the admin's delete) and refresh the verdicts of their models; returns how many went.

    Only a succeeded run can vouch for a claim, so only a deleted or newly succeeded run changes a verdict: a
    run that fails or is cancelled never did, and the catalog needs no refresh for it.
    """
    model_ids = set(runs.values_list("model_id", flat=True))
    deleted, _ = BenchmarkRun.objects.filter(pk__in=list(runs.values_list("pk", flat=True))).delete()
    catalog_services.model_derived_refresh(model_ids=model_ids)
    return deleted


# --- the reaper: runs whose worker vanished, runs whose message was lost --------------------------------


def runs_reap(*, now: datetime | None = None) -> ReapReport:
    """Requeue (or fail, with the reason) every running run whose heartbeat stopped, and publish again every run
    queued longer than DEPOT_RUN_QUEUED_TIMEOUT (lifecycle.jobs_reap). Safe to run from every worker at once."""
    return lifecycle.jobs_reap(kind=RUNS, now=now)
