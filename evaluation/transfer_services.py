"""Writes for transfer rankings: request, cancel, and the job itself; the only code that changes their state.

queued -> running -> succeeded | failed | cancelled: the lifecycle benchmark runs have (evaluation/lifecycle.py),
with the same attempt guard, heartbeat and reaper, so a cancel racing the worker is never overwritten, a
redelivered message never writes a second result, and a ranking whose worker was killed is requeued or failed
with the reason: never left "running".
"""

import functools
import logging
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Domain, Library, ModelEntry
from core.options import OptionError
from core.transfer.options import RANKING_CONFIG
from evaluation import lifecycle, services, text_services, transfer_selectors
from evaluation.models import (
    CandidateStatus,
    EvalDataset,
    Modality,
    RunStatus,
    TransferCandidate,
    TransferRanking,
)

logger = logging.getLogger(__name__)

MAX_CANDIDATES = 20
FILTER_KEYS = ("domain", "task", "max_params", "max_gmacs")
RANKINGS = lifecycle.JobKind(
    TransferRanking, "ranking", "rank_transfer", time_limit=lambda: settings.RANKING_TIME_LIMIT
)
RankingCancelled = lifecycle.JobCancelled


# --- requesting -------------------------------------------------------------------------------------------------


def canonical_ranking_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Every ranking option's checked value, RANKING_CONFIG's defaults for those not given (what a ranking
    stores). Unknown options are refused; the error names the option."""
    try:
        return RANKING_CONFIG.validate(config or {})
    except OptionError as error:
        raise ValidationError({error.field: error.message}) from None


SAMPLES = {Modality.IMAGE: "images", Modality.TEXT: "texts"}  # how messages count a dataset's samples


def _check_dataset(dataset: EvalDataset, split: str) -> None:
    if dataset.modality not in SAMPLES:
        raise ValidationError(
            {"dataset": f"{dataset.name} holds {dataset.modality} data; nothing ranks on it."}
        )
    if split not in dataset.split_sizes:
        raise ValidationError(
            {"split": f"Dataset {dataset.name} has no split {split!r}; it has {sorted(dataset.split_sizes)}."}
        )
    if len(dataset.class_names) < 2:
        raise ValidationError(
            {"dataset": f"Dataset {dataset.name} has fewer than two classes: nothing to rank on."}
        )
    if dataset.split_sizes[split] < 2 * len(dataset.class_names):
        raise ValidationError(
            {
                "split": f"Split {split!r} of {dataset.name} needs at least 2 {SAMPLES[dataset.modality]} per class "
                "for cross-validation."
            }
        )


def _explicit_candidates(model_ids: list[str]) -> list[ModelEntry]:
    from catalog.selectors import models_by_ids

    duplicates = sorted({model_id for model_id in model_ids if model_ids.count(model_id) > 1})
    if duplicates:
        raise ValidationError({"candidates": f"Listed more than once: {', '.join(duplicates)}."})
    found, missing = models_by_ids(model_ids=model_ids)
    if missing:
        raise ValidationError({"candidates": f"No such model(s) in the catalog: {', '.join(missing)}."})
    return found


def _check_modality(models: list[ModelEntry], dataset: EvalDataset) -> None:
    """Explicit candidates are models of the dataset's modality: text models (domain nlp, transformers files) on
    text, image models on images. A mixed list is refused whole, naming the candidates that do not fit."""
    if dataset.modality == Modality.TEXT:
        others = [m for m in models if m.domain != Domain.NLP or m.library != Library.TRANSFORMERS]
        wanted = "text models (nlp domain, transformers)"
    else:
        others = [m for m in models if text_services.DOMAIN_MODALITY.get(m.domain) == Modality.TEXT]
        wanted = "image models"
    if others:
        listed = ", ".join(f"{m.model_id} ({m.domain})" for m in others)
        raise ValidationError(
            {
                "candidates": f"{dataset.name} holds {dataset.modality} data and ranks {wanted}; not those: {listed}."
            }
        )


def _filtered_candidates(candidate_filter: dict[str, Any], modality: str) -> list[ModelEntry]:
    unknown = sorted(set(candidate_filter) - set(FILTER_KEYS))
    if unknown:
        raise ValidationError(
            {"filter": f"Unknown filter key(s): {', '.join(unknown)}; use {', '.join(FILTER_KEYS)}."}
        )
    return transfer_selectors.candidate_models_matching(
        **candidate_filter, modality=modality, limit=MAX_CANDIDATES + 1
    )


def _candidates(
    model_ids: list[str] | None, candidate_filter: dict[str, Any] | None, dataset: EvalDataset
) -> list[ModelEntry]:
    if model_ids and candidate_filter:
        raise ValidationError({"candidates": "Give candidates or a filter, not both."})
    if model_ids:
        models = _explicit_candidates(list(model_ids))
        _check_modality(models, dataset)
    elif candidate_filter:
        models = _filtered_candidates(dict(candidate_filter), dataset.modality)
    else:
        raise ValidationError(
            {"candidates": "Give candidate model ids, or a filter (domain, task, max_params, max_gmacs)."}
        )
    if not models:
        raise ValidationError({"filter": "No catalog model matches the filter."})
    if len(models) > MAX_CANDIDATES:
        if model_ids:
            raise ValidationError(
                {"candidates": f"{len(models)} candidates given; at most {MAX_CANDIDATES} per ranking."}
            )
        matching = transfer_selectors.candidate_models_count(
            **dict(candidate_filter or {}), modality=dataset.modality
        )
        raise ValidationError(
            {
                "filter": f"The filter matches {matching:,} models; at most {MAX_CANDIDATES} candidates per "
                "ranking: narrow it (a lower max_params or max_gmacs, a task)."
            }
        )
    return models


def ranking_request(
    *,
    dataset: EvalDataset,
    split: str = "train",
    model_ids: list[str] | None = None,
    candidate_filter: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    requested_by: Any = None,
    enqueue: bool = True,
) -> TransferRanking:
    """Queue a ranking of explicit candidates, or of the catalog models a filter picks; every candidate gets a
    row now (those without weights are marked so and stay in the ranking)."""
    _check_dataset(dataset, split)
    canonical = canonical_ranking_config(config)
    models = _candidates(model_ids, candidate_filter, dataset)
    with transaction.atomic():
        # The dataset's row is locked as dataset_delete locks it: a deletion marked meanwhile is seen. So are the
        # candidates': one deleted since it was picked is a 404 naming it, not a candidate row pointing at nothing.
        services.dataset_lock_existing(dataset=dataset)
        services.check_not_deleting(dataset)
        catalog_services.models_lock_existing(models=models)
        ranking = TransferRanking.objects.create(
            dataset=dataset, split=split, config=canonical, candidate_filter=dict(candidate_filter or {}),
            dataset_hash=dataset.split_hashes.get(split, ""), num_classes=len(dataset.class_names),
            num_images=dataset.split_sizes[split],
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
        )  # fmt: skip
        TransferCandidate.objects.bulk_create(
            [
                TransferCandidate(
                    ranking=ranking,
                    model=model,
                    model_label=model.model_id,
                    position=position,
                    status=CandidateStatus.PENDING if model.weights_id else CandidateStatus.MISSING_WEIGHTS,
                    weights_sha256=model.weights.sha256 if model.weights_id else "",
                    num_params=model.num_params,
                    gmacs=model.gmacs,
                    weights_bytes=model.weights.size_bytes if model.weights_id else None,
                )
                for position, model in enumerate(models)
            ]
        )
        if enqueue:
            from evaluation.tasks import rank_transfer

            rank_transfer.delay_on_commit(ranking.pk)
    return ranking


def ranking_request_by_name(*, dataset_name: str, **request: Any) -> TransferRanking:
    """ranking_request for a dataset given by name, as the API and the page's form give it."""
    dataset = EvalDataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        raise ValidationError({"dataset": f"No dataset {dataset_name!r} on this hub."})
    return ranking_request(dataset=dataset, **request)


# --- state transitions ------------------------------------------------------------------------------------------


def ranking_cancel(*, ranking: TransferRanking) -> TransferRanking:
    """Cancel a queued or running ranking; a finished one is refused with a message naming its state."""
    if not TransferRanking.transition(
        ranking.pk, allowed_from=[RunStatus.QUEUED, RunStatus.RUNNING], status=RunStatus.CANCELLED,
        finished=timezone.now(),
    ):  # fmt: skip
        ranking.refresh_from_db()
        raise ValidationError(
            {
                "status": f"Ranking {ranking.pk} already {ranking.status}; "
                "only queued or running rankings can be cancelled."
            }
        )
    ranking.refresh_from_db()
    return ranking


def _candidate_input(row: TransferCandidate, modality: str, directories: ExitStack) -> Any:
    """The core's Candidate for a row. A text model's stored files are laid out as a directory for transformers,
    kept (in `directories`) until the ranking ends."""
    from core.transfer.ranking import Candidate
    from evaluation.services import _model_source

    model = row.model
    if row.status == CandidateStatus.MISSING_WEIGHTS or model is None or model.weights_id is None:
        return Candidate(row.model_label, None, gmacs=row.gmacs, weights_bytes=row.weights_bytes)
    if model.weights.sha256 != row.weights_sha256:
        raise ValueError(
            f"The weights of {row.model_label} changed since this ranking was queued; request a new one."
        )
    if modality == Modality.TEXT:
        from core.textharness import TextModelSource

        directory = directories.enter_context(text_services.model_directory(model))
        source = TextModelSource(directory=directory, weights_sha256=row.weights_sha256)
    else:
        source = _model_source(model)
    return Candidate(row.model_label, source, gmacs=row.gmacs, weights_bytes=row.weights_bytes)


def _dataset_source(ranking: TransferRanking) -> Any:
    from core.harness import DatasetSource

    if ranking.dataset.modality == Modality.TEXT:
        from core.textharness import TextDatasetSource

        # A text dataset's root is its file or folder; the reader finds the split in it (core.textdata).
        return TextDatasetSource(
            name=ranking.dataset.name, split=ranking.split, root=Path(ranking.dataset.root),
            content_hash=ranking.dataset_hash,
        )  # fmt: skip
    return DatasetSource(
        name=ranking.dataset.name, split=ranking.split, root=Path(ranking.dataset.root) / ranking.split,
        content_hash=ranking.dataset_hash,
    )  # fmt: skip


def _ranking_config(config: dict[str, Any]) -> Any:
    from core.transfer.ranking import RankingConfig

    return RankingConfig(**config)


def ranking_execute(
    *,
    ranking_id: int,
    worker: str,
    on_progress: Callable[[float, str], None] | None = None,
    resume_attempt: int | None = None,
) -> TransferRanking | None:
    """The whole job. Ends in succeeded, failed (with the error text) or cancelled; never left running.

    Exactly once, as for runs: only the execution holding the ranking's current attempt writes its result; a
    database that goes away mid-job raises lifecycle.TransientJobError (the task retries as the same attempt).
    """
    return lifecycle.job_execute(
        kind=RANKINGS, job_id=ranking_id, worker=worker, resume_attempt=resume_attempt,
        body=lambda progress: _execute(ranking_id, progress, on_progress),
    )  # fmt: skip


def _execute(
    ranking_id: int, progress: lifecycle.ProgressWriter, on_progress: Callable[[float, str], None] | None
) -> TransferRanking:
    from core.transfer.ranking import rank_candidates

    def report(fraction: float, message: str) -> None:
        progress(fraction, message)
        if on_progress is not None:
            on_progress(fraction, message)

    ranking = TransferRanking.objects.select_related("dataset").get(pk=ranking_id)
    rows = list(ranking.candidates.select_related("model__weights").order_by("position"))
    with ExitStack() as directories:
        candidates = [_candidate_input(row, ranking.dataset.modality, directories) for row in rows]
        result = rank_candidates(
            candidates, _dataset_source(ranking), _ranking_config(ranking.config), report,
            on_candidate=functools.partial(_save_candidate, progress=progress, rows=rows),
        )  # fmt: skip
    return _succeed(ranking, rows, result, progress)


def ranking_fail_running(*, ranking_id: int, reason: str) -> bool:
    """Fail a ranking that is still running, with the reason (the task gave up on it outside the job)."""
    return lifecycle.job_fail_running(kind=RANKINGS, job_id=ranking_id, reason=reason)


def rankings_reap(*, now: datetime | None = None) -> lifecycle.ReapReport:
    """Requeue (or fail, with the reason) every running ranking whose heartbeat stopped, and publish again every
    ranking queued longer than DEPOT_RUN_QUEUED_TIMEOUT, as runs_reap does for runs."""
    return lifecycle.jobs_reap(kind=RANKINGS, now=now)


_RESULT_FIELDS = ("status", "rank", "score", "score_folds", "logme", "knn", "linear_probe", "feature_dim", "seconds",
                  "latency_ms", "num_params", "error")  # fmt: skip


def _copy_result(row: TransferCandidate, outcome: Any) -> None:
    for name in _RESULT_FIELDS:
        value = getattr(outcome, name)
        if value is not None or name in ("rank", "score"):
            setattr(row, name, value)


def _save_candidate(
    outcome: Any, *, progress: lifecycle.ProgressWriter, rows: list[TransferCandidate]
) -> None:
    """One candidate's scores, saved as soon as they are known, while the ranking is still running (its rank
    comes at the end). Only the execution that owns the job writes (status running, its attempt): a cancelled,
    reaped or superseded one leaves the rows to the ranking's status and its current attempt."""
    row = next(row for row in rows if row.model_label == outcome.model_id)
    _copy_result(row, outcome)
    with transaction.atomic():
        owned = TransferRanking.objects.select_for_update().filter(
            pk=progress.job_id, status=RunStatus.RUNNING, attempts=progress.attempt
        )
        if owned.exists():
            row.save(update_fields=[name for name in _RESULT_FIELDS if name != "rank"])


def _succeed(
    ranking: TransferRanking, rows: list[TransferCandidate], result: Any, progress: lifecycle.ProgressWriter
) -> Any:
    if result.provenance.get("dataset_hash") != ranking.dataset_hash:
        raise RuntimeError("the ranking measured other data than the job names")
    by_label = {row.model_label: row for row in rows}
    for outcome in result.candidates:
        _copy_result(by_label[outcome.model_id], outcome)
    baseline = result.baseline
    best = next((c.score for c in result.candidates if c.score is not None), None)
    scored = sum(c.score is not None for c in result.candidates)
    progress.log(f"ranked {scored} of {len(rows)} candidates in {result.seconds:.1f}s")
    now = timezone.now()
    with transaction.atomic():
        # Guarded by status and attempt: a redelivered or superseded execution never writes a second result.
        finished = progress.transition(
            status=RunStatus.SUCCEEDED, progress=100.0,
            best_score=best, baseline_accuracy=baseline.accuracy if baseline else None,
            baseline=_plain(baseline) if baseline else {},
            negative_transfer=result.negative_transfer if baseline else None,
            transfer_gap=result.transfer_gap, transfer_spread=result.transfer_spread,
            num_images=result.num_images, provenance=result.provenance, log_tail="\n".join(progress.lines),
            finished=now, heartbeat=now,
        )  # fmt: skip
        if finished:
            TransferCandidate.objects.bulk_update(rows, list(_RESULT_FIELDS))
    if finished:
        lifecycle.job_recorded(progress)
    return TransferRanking.objects.get(pk=ranking.pk)


def _plain(value: Any) -> dict:
    from dataclasses import asdict

    return asdict(value)
