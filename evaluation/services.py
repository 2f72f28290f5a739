"""Writes for evaluation: datasets, and the only code that changes a BenchmarkRun's state.

queued -> running -> succeeded | failed | cancelled. Every transition is one conditional UPDATE (`WHERE status
= <expected>`), so a cancel racing a finishing worker can never be overwritten, and every exception in a
job ends in `failed` with its text: no run stays in `running` because of bad input.
"""

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from catalog.models import ModelEntry, Verification
from catalog.services import headline_claim
from evaluation import archives, imagefolder
from evaluation.datasets import dataset_content_hash
from evaluation.models import BenchmarkRun, DatasetKind, EvalDataset, RunStatus
from evaluation.verdict import judge

logger = logging.getLogger(__name__)

DEFAULT_RUN_CONFIG = {"batch_size": 64, "seed": 0, "threads": None, "num_workers": 2}
LOG_TAIL_LINES = 40
PROGRESS_WRITE_INTERVAL = 0.5  # seconds: progress rows are written at most this often


class RunCancelled(Exception):
    """Raised inside a running job when its row was cancelled meanwhile."""


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
    return dataset


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


def dataset_delete(*, dataset: EvalDataset) -> None:
    """Delete a dataset and, for an uploaded one, its extracted files. Refused while runs reference it.

    Files are removed only when they live under MEDIA_ROOT/datasets/ (an upload): a directory registered
    from elsewhere on the server belongs to whoever put it there.
    """
    runs = BenchmarkRun.objects.filter(dataset=dataset).count()
    if runs:
        raise DatasetInUse(
            f"Dataset {dataset.name} is referenced by {runs} benchmark run(s); their results would lose their "
            "evidence. Delete those runs' models first, or keep the dataset."
        )
    root = Path(dataset.root).resolve()
    uploads = (Path(settings.MEDIA_ROOT) / "datasets").resolve()
    owned = dataset.kind == DatasetKind.UPLOAD and root.is_relative_to(uploads) and root != uploads
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError:  # a run was requested meanwhile
        raise DatasetInUse(f"Dataset {dataset.name} is referenced by a benchmark run.") from None
    if owned:
        transaction.on_commit(lambda: shutil.rmtree(root, ignore_errors=True))


# --- runs: requesting -----------------------------------------------------------------------------------


def canonical_run_config(config: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**DEFAULT_RUN_CONFIG, **(config or {})}
    unknown = sorted(set(merged) - set(DEFAULT_RUN_CONFIG))
    if unknown:
        raise ValidationError({name: "Unknown run option." for name in unknown})
    for key in ("batch_size", "num_workers", "seed"):
        if (
            not isinstance(merged[key], int)
            or isinstance(merged[key], bool)
            or merged[key] < (1 if key == "batch_size" else 0)
        ):
            raise ValidationError(
                {key: f"Must be a whole number{' of at least 1' if key == 'batch_size' else ''}."}
            )
    if merged["threads"] is not None and (not isinstance(merged["threads"], int) or merged["threads"] < 1):
        raise ValidationError({"threads": "Must be a whole number of at least 1, or null."})
    return merged


def _config_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _check_runnable(model: ModelEntry, dataset: EvalDataset, split: str) -> None:
    from evaluation.harness import HarnessError, class_mapping

    if model.weights_id is None:
        raise ValidationError({"model": f"{model.model_id} has no weights stored on this hub."})
    if split not in dataset.split_sizes:
        raise ValidationError(
            {"split": f"Dataset {dataset.name} has no split {split!r}; it has {sorted(dataset.split_sizes)}."}
        )
    if dataset.split_sizes[split] == 0:
        raise ValidationError({"split": f"Split {split!r} of {dataset.name} is empty."})
    try:
        class_mapping(list(dataset.class_names), list(model.label_names), model.num_classes or 0)
    except HarnessError as error:
        raise ValidationError({"dataset": str(error)}) from error


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
    if not force:
        # The same bytes registered under another name are another dataset to the user: a run asked for B
        # is B's run, never A's reported in its place.
        existing = (
            BenchmarkRun.objects.filter(**identity, model=model, dataset=dataset, split=split)
            .filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED])
            .order_by("-created")
            .first()
        )
        if existing is not None:
            return existing, False
    with transaction.atomic():
        run = BenchmarkRun.objects.create(
            model=model, dataset=dataset, split=split, config=canonical, requested_by=requested_by, **identity
        )
        if enqueue:
            from evaluation.tasks import run_benchmark

            run_benchmark.delay_on_commit(run.pk)
    return run, True


# --- runs: state transitions ----------------------------------------------------------------------------


def _transition(run_id: int, *, allowed_from: list[str], **fields: Any) -> bool:
    return BenchmarkRun.objects.filter(pk=run_id, status__in=allowed_from).update(**fields) == 1


def run_cancel(*, run: BenchmarkRun) -> BenchmarkRun:
    """Cancel a queued or running run; a finished run is refused with a message naming its state."""
    if not _transition(
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


def _start(run_id: int, worker: str) -> bool:
    # A redelivered message (the worker died mid-run, acks_late) finds the run "running" and starts it afresh.
    return _transition(
        run_id,
        allowed_from=[RunStatus.QUEUED, RunStatus.RUNNING],
        status=RunStatus.RUNNING,
        worker=worker,
        started=timezone.now(),
        progress=0.0,
        error="",
    )


class _ProgressWriter:
    """Writes progress and a log tail to the run row, at most twice a second, and notices cancellation."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.lines: list[str] = []
        self.last_write = 0.0

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.lines = [*self.lines, f"{stamp} {line}"][-LOG_TAIL_LINES:]

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_WRITE_INTERVAL and fraction < 1.0:
            return
        self.last_write = now
        self.log(message)
        if not _transition(
            self.run_id,
            allowed_from=[RunStatus.RUNNING],
            progress=round(fraction * 100, 1),
            log_tail="\n".join(self.lines),
        ):
            raise RunCancelled()


def _model_source(model: ModelEntry) -> Any:
    from catalog import hfconfig
    from evaluation.harness import ModelSource

    config = hfconfig.timm_config(model)
    return ModelSource(
        architecture=model.architecture,
        num_classes=model.num_classes or 0,
        model_args=dict(model.model_args),
        weights_path=Path(model.weights.file.path),
        weights_sha256=model.weights.sha256,
        pretrained_cfg=config["pretrained_cfg"],
        label_names=list(model.label_names),
    )


def _loader_workers(requested: int) -> int:
    """A prefork Celery child is daemonic and may not fork DataLoader workers; results are identical either way
    (the harness reads in a fixed order), only the speed differs, and provenance records what was used."""
    return 0 if multiprocessing.current_process().daemon else requested


def run_execute(
    *, run_id: int, worker: str, on_progress: Callable[[float, str], None] | None = None
) -> BenchmarkRun:
    """The whole job. Ends in succeeded, failed (with the error text) or cancelled; never left running."""
    from evaluation.harness import DatasetSource, HarnessConfig, run_benchmark

    if not _start(run_id, worker):
        return BenchmarkRun.objects.filter(
            pk=run_id
        ).first()  # cancelled, finished or deleted before it started
    run = BenchmarkRun.objects.select_related("model__weights", "dataset").get(pk=run_id)
    progress = _ProgressWriter(run_id)

    def report(fraction: float, message: str) -> None:
        progress(fraction, message)
        if on_progress:
            on_progress(fraction, message)

    try:
        if run.model.weights is None or run.model.weights.sha256 != run.weights_sha256:
            raise ValueError("The model's weights changed since this run was queued; request a new run.")
        dataset = DatasetSource(
            name=run.dataset.name,
            split=run.split,
            root=Path(run.dataset.root) / run.split,
            content_hash=run.dataset_hash,
        )
        progress.log(f"checking the files of {run.dataset.name}/{run.split} against its registration")
        _check_split_unchanged(run, dataset.root)
        config = HarnessConfig(
            batch_size=run.config["batch_size"], num_workers=_loader_workers(run.config["num_workers"]),
            seed=run.config["seed"], threads=run.config["threads"],
        )  # fmt: skip
        result = run_benchmark(_model_source(run.model), dataset, config, on_progress=report)
        return _succeed(run, result, progress)
    except RunCancelled:
        return BenchmarkRun.objects.get(pk=run_id)
    except Exception as error:  # any failure is recorded on the row, never left "running"
        logger.exception("benchmark run %s failed", run_id)
        progress.log(f"failed: {error}")
        _transition(
            run_id, allowed_from=[RunStatus.RUNNING], status=RunStatus.FAILED, error=f"{type(error).__name__}: {error}",
            log_tail="\n".join(progress.lines), finished=timezone.now(),
        )  # fmt: skip
        return BenchmarkRun.objects.get(pk=run_id)


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


def _succeed(run: BenchmarkRun, result: Any, progress: _ProgressWriter) -> BenchmarkRun:
    if result.provenance.get("dataset_hash") not in (None, run.dataset_hash):
        raise RuntimeError("the harness measured other data than the run names")
    metrics = result.to_dict()
    provenance = metrics.pop("provenance")
    progress.log(f"top-1 {result.top1:.2f}% on {result.num_samples} images")
    with transaction.atomic():
        finished = _transition(
            run.pk, allowed_from=[RunStatus.RUNNING], status=RunStatus.SUCCEEDED, progress=100.0, top1=result.top1,
            metrics=metrics, provenance=provenance, log_tail="\n".join(progress.lines), finished=timezone.now(),
        )  # fmt: skip
        if finished:
            model_verification_refresh(model=run.model)
    return BenchmarkRun.objects.get(pk=run.pk)


# --- verdicts on the catalog row ------------------------------------------------------------------------


def _headline_claim(model: ModelEntry) -> Any:
    return headline_claim(model.claims.all())  # the same rule as the catalog's claimed_top1


def latest_run_for(*, model: ModelEntry, dataset_name: str, split: str) -> BenchmarkRun | None:
    if model.weights_id is None:
        return None
    return (
        BenchmarkRun.objects.filter(
            model=model,
            dataset__name=dataset_name,
            split=split,
            status=RunStatus.SUCCEEDED,
            weights_sha256=model.weights.sha256,
        )
        .order_by("-finished")
        .first()
    )


def model_verification_refresh(*, model: ModelEntry) -> None:
    """Denormalise the headline claim's verdict and measured top-1 onto the catalog row."""
    claim = _headline_claim(model)
    verified_top1, verification = None, ""
    if claim is not None:
        run = latest_run_for(model=model, dataset_name=claim.dataset, split=claim.split)
        if run is not None:
            verified_top1 = run.top1
            verification = judge(claim.value, run.top1).status.value
        elif not EvalDataset.objects.filter(name=claim.dataset).exists():
            verification = Verification.UNVERIFIABLE
    ModelEntry.objects.filter(pk=model.pk).update(verified_top1=verified_top1, verification=verification)
