"""Rank candidate models for a target dataset before anyone fine-tunes: features once, estimators, baseline.

Pure python: the ranking job (evaluation/transfer_services.py), the rank_models command and the benchmark script
all call rank_candidates with plain values. A candidate that cannot be scored (no weights on the hub, weights that
do not fit, ...) gets a row that says why; it is never silently dropped. The ranking score is the linear probe's
cross-validated accuracy, in the same units as the from-scratch baseline it is compared with.

The dataset source decides the modality (a RankingTarget): an ImageFolder split (harness.DatasetSource) ranks timm
models by their pooled pre-logits against a small CNN trained from scratch; a text split (TextDatasetSource)
ranks transformers encoders by their mean-pooled or [CLS] states against TF-IDF + logistic regression. The
estimators, folds, ordering and negative-transfer test are the same code for both; a candidate of the other
modality is refused before anything runs.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import sklearn
import timm
import torch

from core import harness
from core.transfer import estimators
from core.transfer.baseline import BaselineConfig, BaselineResult, from_scratch_baseline
from core.transfer.features import FeatureSet, extract_features, scan_split, threads_set_to

ProgressCallback = Callable[[float, str], None]
SCORE_ESTIMATOR = "linear_probe"


class RankingError(ValueError):
    """A ranking that cannot start: candidates of another modality than the dataset's, an unknown pooling."""


class CandidateStatus:
    SCORED = "scored"
    MISSING_WEIGHTS = "missing_weights"
    FAILED = "failed"


@dataclass(frozen=True)
class Candidate:
    """One model to rank. source is None when the hub holds no weights for it (reported as missing).

    The source is of the dataset's modality: a harness.ModelSource (timm) for images, a TextModelSource (a
    transformers directory) for texts."""

    model_id: str
    source: Any
    gmacs: float | None = None
    weights_bytes: int | None = None


@dataclass(frozen=True)
class RankingConfig:
    batch_size: int = 64
    threads: int | None = None
    seed: int = 0
    baseline: bool = True
    baseline_epochs: int = 15
    # Text encoders: "mean" over the attention mask, or "cls" (image models pool as timm does). Not a request
    # option (RANKING_CONFIG): ranking jobs mean-pool, what sentence encoders are trained for; the core and the
    # benchmark scripts may ask for [CLS].
    pooling: str = "mean"


@dataclass
class CandidateResult:
    model_id: str
    status: str
    rank: int | None = None
    score: float | None = None  # the linear probe's CV accuracy (%), what the ranking orders by
    logme: float | None = None
    knn: float | None = None
    linear_probe: float | None = None
    feature_dim: int | None = None
    seconds: float | None = None  # features and all three estimators
    latency_ms: float | None = None
    num_params: int | None = None
    gmacs: float | None = None
    weights_bytes: int | None = None
    weights_sha256: str = ""
    error: str = ""
    score_folds: list[float] = field(default_factory=list)  # the linear probe's top-1 % per CV fold


@dataclass
class RankingResult:
    candidates: list[CandidateResult]  # scored ones first, best score first; then those not scored
    baseline: BaselineResult | None
    negative_transfer: (
        bool  # the baseline beats the best candidate by more than the folds' spread (see below)
    )
    num_images: int
    num_classes: int
    seconds: float
    provenance: dict = field(default_factory=dict)
    # The best candidate's score minus the baseline's accuracy (points), and the spread of that difference
    # across the shared folds; None without a baseline or a scored candidate. See transfer_comparison.
    transfer_gap: float | None = None
    transfer_spread: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RankingTarget:
    """The split a ranking is over, in one modality: how a candidate's features and the baseline are had."""

    modality: str  # "image" or "text"
    source_type: type  # what a candidate's source must be
    num_samples: int
    num_classes: int
    extract: Callable[[Any, RankingConfig, ProgressCallback], FeatureSet]
    baseline: Callable[[RankingConfig, ProgressCallback], BaselineResult]
    provenance: dict = field(default_factory=dict)  # what this modality adds: library versions, pooling


def image_target(dataset: harness.DatasetSource) -> RankingTarget:
    """An ImageFolder split: timm pre-logits features, the small CNN trained from scratch as the baseline."""
    scan = scan_split(dataset)

    def extract(source: harness.ModelSource, config: RankingConfig, report: ProgressCallback) -> FeatureSet:
        return extract_features(
            source, scan, batch_size=config.batch_size, threads=config.threads, on_progress=report
        )

    def baseline(config: RankingConfig, report: ProgressCallback) -> BaselineResult:
        # One thread unless told otherwise: the small CNN gains nothing from more, and on the busy 2-core machine
        # two threads trained it 3-20x slower (each waiting for the other's core).
        with threads_set_to(config.threads or 1), torch.enable_grad():
            return from_scratch_baseline(
                scan,
                config=BaselineConfig(epochs=config.baseline_epochs, seed=config.seed),
                on_progress=report,
            )

    return RankingTarget(
        modality="image", source_type=harness.ModelSource, num_samples=len(scan.samples),
        num_classes=len(scan.class_names), extract=extract, baseline=baseline, provenance={"timm": timm.__version__},
    )  # fmt: skip


def text_target(dataset: Any, config: RankingConfig) -> RankingTarget:
    """A text split (core.textdata): pooled encoder states, TF-IDF + logistic regression as the baseline."""
    # Imported here: transformers is loaded by text rankings only, not by every image ranking's worker.
    import tokenizers
    import transformers

    from core.textharness import TextModelSource
    from core.transfer.text_baseline import BagOfWordsConfig, bag_of_words_baseline
    from core.transfer.text_features import POOLINGS, extract_text_features, read_split, split_labels

    if config.pooling not in POOLINGS:
        raise RankingError(f"pooling must be one of {', '.join(POOLINGS)}, got {config.pooling!r}")
    split = read_split(dataset)
    labels, class_names = split_labels(split)

    def extract(source: TextModelSource, config: RankingConfig, report: ProgressCallback) -> FeatureSet:
        return extract_text_features(
            source, split, pooling=config.pooling, class_names=class_names, batch_size=config.batch_size,
            threads=config.threads, on_progress=report,
        )  # fmt: skip

    def baseline(config: RankingConfig, report: ProgressCallback) -> BaselineResult:
        return bag_of_words_baseline(
            split.texts, labels, config=BagOfWordsConfig(seed=config.seed), on_progress=report
        )

    return RankingTarget(
        modality="text", source_type=TextModelSource, num_samples=len(labels), num_classes=len(class_names),
        extract=extract, baseline=baseline,
        provenance={"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                    "pooling": config.pooling},
    )  # fmt: skip


def ranking_target(dataset: Any, config: RankingConfig) -> RankingTarget:
    """The target for the dataset source's modality: an ImageFolder split or a text split."""
    if isinstance(dataset, harness.DatasetSource):
        return image_target(dataset)
    from core.textharness import TextDatasetSource

    if isinstance(dataset, TextDatasetSource):
        return text_target(dataset, config)
    raise RankingError(f"Cannot rank on a {type(dataset).__name__}: not an image or a text dataset source")


def check_candidates(candidates: list[Candidate], target: RankingTarget) -> None:
    """Every candidate with weights is a model of the target's modality; RankingError names those that are not."""
    others = [
        c.model_id
        for c in candidates
        if c.source is not None and not isinstance(c.source, target.source_type)
    ]
    if others:
        raise RankingError(
            f"A ranking on {target.modality} data scores {target.modality} models only; not of that modality: "
            + ", ".join(others)
        )


def _score_candidate(
    candidate: Candidate, target: RankingTarget, config: RankingConfig, report: Callable[[float, str], None]
) -> CandidateResult:
    row = CandidateResult(
        model_id=candidate.model_id, status=CandidateStatus.FAILED, gmacs=candidate.gmacs,
        weights_bytes=candidate.weights_bytes,
    )  # fmt: skip
    if candidate.source is None:
        row.status, row.error = (
            CandidateStatus.MISSING_WEIGHTS,
            "No weights stored on this hub for this model.",
        )
        return row
    row.weights_sha256 = candidate.source.weights_sha256
    started = time.perf_counter()
    try:
        features = target.extract(
            candidate.source, config, lambda fraction, message: report(0.8 * fraction, message)
        )
        report(0.85, "estimators")
        scores = estimators.score_all(features.features, features.labels, seed=config.seed)
    # Bad weights, features the estimators refuse, a model that fails on these images: this candidate's row says
    # why and the others are still ranked. (A cancellation, raised by on_progress, is none of these and stops all.)
    except (ValueError, RuntimeError) as error:
        row.error = f"{type(error).__name__}: {error}"
        return row
    row.status, row.score = CandidateStatus.SCORED, scores[SCORE_ESTIMATOR]
    row.logme, row.knn, row.linear_probe = scores["logme"], scores["knn"], scores["linear_probe"]
    row.score_folds = list(scores["linear_probe_folds"])
    row.feature_dim, row.latency_ms, row.num_params = (
        features.features.shape[1],
        features.latency_ms,
        features.num_params,
    )
    row.seconds = time.perf_counter() - started
    return row


def _ordered(rows: list[CandidateResult]) -> list[CandidateResult]:
    scored = sorted(
        (r for r in rows if r.score is not None), key=lambda r: (-r.score, -(r.logme or 0), r.model_id)
    )
    for rank, row in enumerate(scored, start=1):
        row.rank = rank
    return scored + [r for r in rows if r.score is None]


@dataclass(frozen=True)
class TransferComparison:
    gap: float | None  # best candidate's score minus the baseline's accuracy, in points
    spread: float | None  # standard deviation of that difference across the folds, in points
    negative: bool


def transfer_comparison(best: CandidateResult | None, baseline: BaselineResult | None) -> TransferComparison:
    """Is pretraining worth it here? The best candidate against the from-scratch baseline, fold by fold.

    The probe and the baseline score the same stratified folds (cv_folds with the same seed), so each fold gives
    one paired difference; their spread says how much the gap moves with the choice of held-out images. Negative
    transfer is declared only when the baseline wins by more than that spread: on 1,000 images a 0.5-point gap
    is one fold's noise, not evidence. With no scored candidate at all, nothing transferred: negative.
    """
    if baseline is None:
        return TransferComparison(gap=None, spread=None, negative=False)
    if best is None or best.score is None:
        return TransferComparison(gap=None, spread=None, negative=True)
    gap = best.score - baseline.accuracy
    pairs = list(zip(best.score_folds, baseline.fold_accuracies, strict=False))
    if len(pairs) < 2 or len(best.score_folds) != len(baseline.fold_accuracies):
        return TransferComparison(gap=gap, spread=None, negative=gap <= 0)  # no folds to compare: the means
    spread = fold_spread([probe - scratch for probe, scratch in pairs])
    return TransferComparison(gap=gap, spread=spread, negative=gap < 0 and -gap > spread)


def fold_spread(values: list[float]) -> float | None:
    """The sample standard deviation of per-fold values (points); None with fewer than two folds."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return (sum((value - mean) ** 2 for value in values) / (len(values) - 1)) ** 0.5


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def _provenance(dataset: Any, config: RankingConfig, target: RankingTarget) -> dict:
    return {
        "modality": target.modality,
        "dataset_hash": dataset.content_hash,
        "dataset_name": dataset.name,
        "split": dataset.split,
        "score_estimator": SCORE_ESTIMATOR,
        "config": asdict(config),
        "torch": torch.__version__,
        **target.provenance,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "depot": harness.DEPOT_VERSION,
        "device": "cpu",
        "device_name": _cpu_name(),
        "threads": config.threads or torch.get_num_threads(),
    }


def rank_candidates(
    candidates: list[Candidate],
    dataset: Any,
    config: RankingConfig | None = None,
    on_progress: ProgressCallback | None = None,
    on_candidate: Callable[[CandidateResult], None] | None = None,
) -> RankingResult:
    """Score every candidate on the split, train the baseline, and order the candidates.

    dataset: a harness.DatasetSource (an ImageFolder split) or a core.textharness.TextDatasetSource (a text split);
    every candidate's source must be of the same modality (RankingError otherwise, before anything runs).

    on_candidate receives each candidate's row as soon as it is scored (or has failed), before its rank is known:
    the ranking page shows scores as they come instead of "pending" until the very end.
    An exception raised by on_progress aborts the ranking and propagates (how a cancelled job stops).
    """
    config = config or RankingConfig()
    started = time.perf_counter()
    target = ranking_target(dataset, config)
    check_candidates(candidates, target)
    steps = len(candidates) + (1 if config.baseline else 0)

    def reporter(step: int) -> Callable[[float, str], None]:
        def report(fraction: float, message: str) -> None:
            if on_progress is not None:
                on_progress(min(1.0, (step + fraction) / steps), message)

        return report

    rows = []
    for index, candidate in enumerate(candidates):
        report = reporter(index)
        report(0.0, f"{candidate.model_id}: extracting features")
        row = _score_candidate(candidate, target, config, report)
        report(
            1.0,
            f"{candidate.model_id}: {row.status}"
            + (f", score {row.score:.1f}" if row.score is not None else f" ({row.error})"),
        )
        rows.append(row)
        if on_candidate is not None:
            on_candidate(row)
    baseline = target.baseline(config, reporter(len(candidates))) if config.baseline else None
    ordered = _ordered(rows)
    best = ordered[0] if ordered and ordered[0].score is not None else None
    comparison = transfer_comparison(best, baseline)
    return RankingResult(
        candidates=ordered, baseline=baseline, negative_transfer=comparison.negative, num_images=target.num_samples,
        num_classes=target.num_classes, seconds=time.perf_counter() - started,
        provenance=_provenance(dataset, config, target), transfer_gap=comparison.gap,
        transfer_spread=comparison.spread,
    )  # fmt: skip
