"""Measured versus claimed accuracy: the signed delta, the measurement's 95% interval and a status.

A claim is verified when it is consistent with the measurement: inside the measurement's 95% Wilson interval
widened by the tolerance (is_consistent says why). The verdict therefore needs the sample size, not only the
measured percentage: a Measurement carries both.

Also the one home of the headline-claim rule (which claim a catalog entry leads with) and of the verdict
vocabulary (the catalog's `verification` column takes its choices from here). Pure python (no Django import).
Accuracies are in percent throughout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

DEFAULT_TOLERANCE = 0.5  # percentage points
# Deltas and intervals are shown with two decimals; the status is decided on those same rounded values, so a
# claim shown 0.50 outside the interval with a tolerance of 0.5 is never labelled "disagrees" by a float tail.
_DELTA_DECIMALS = 2


class VerdictStatus(StrEnum):
    """The verdict on a claim. PENDING: the hub holds the claim's dataset but has not measured it yet."""

    VERIFIED = "verified"
    DISAGREES = "disagrees"
    UNVERIFIABLE = "unverifiable"
    PENDING = "pending"


# What a catalog entry's verification column can hold besides "" (its headline claim is pending, or it has
# none): (value, label) pairs, ready to be a Django field's choices.
ENTRY_VERDICT_CHOICES = [
    (status.value, status.value.capitalize())
    for status in (VerdictStatus.VERIFIED, VerdictStatus.DISAGREES, VerdictStatus.UNVERIFIABLE)
]

# The dataset whose top-1 is a model's headline claim when it has one: the figure timm's tables (and most
# papers) lead with. Other test sets (ImageNet-ReaL, -Sketch, ...) are shown and filterable beside it.
HEADLINE_DATASET = "imagenet-1k"
# Claim metrics that are a top-1 accuracy (the catalog's Metric values): the ones a verdict is given on.
TOP1_METRICS = ("top1", "accuracy")


class Claim(Protocol):
    dataset: str
    metric: str
    value: float


ClaimT = TypeVar("ClaimT", bound=Claim)


def headline_claim(claims: Iterable[ClaimT]) -> ClaimT | None:
    """The claim a catalog entry leads with: the best top-1 on ImageNet-1k when there is one (the figure timm's
    tables rank by; ImageNet-ReaL is usually higher and would otherwise win), else the best top-1 or accuracy
    claim on any dataset (e.g. a demo model's digits claim). None without a top-1 claim."""
    top1 = [claim for claim in claims if claim.metric in TOP1_METRICS]
    on_headline_dataset = [claim for claim in top1 if claim.dataset == HEADLINE_DATASET]
    return max(on_headline_dataset or top1, key=lambda claim: claim.value, default=None)


@dataclass(frozen=True)
class Measurement:
    """A measured top-1: how many of how many images the model got right. The sample size is part of the
    measurement because it decides how far the true accuracy can be from what was measured."""

    correct: int
    total: int

    def __post_init__(self) -> None:
        if self.total <= 0:
            raise ValueError(f"total must be positive, got {self.total}")
        if not 0 <= self.correct <= self.total:
            raise ValueError(f"correct must be between 0 and total ({self.total}), got {self.correct}")

    @classmethod
    def from_top1(cls, *, top1: float, total: int) -> Measurement:
        """The measurement behind a top-1 percentage taken on `total` images (as a run stores it): the
        count of correct images is recovered exactly, since top1 was computed as 100 * correct / total."""
        top1 = _require_finite("top1", top1)
        return cls(correct=round(top1 * total / 100), total=total)

    @property
    def top1(self) -> float:
        return 100.0 * self.correct / self.total

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% Wilson interval of the top-1, in percent, rounded as shown (and as judged)."""
        low, high = wilson_interval(self.correct, self.total)
        return round(low, _DELTA_DECIMALS), round(high, _DELTA_DECIMALS)


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    claimed: float
    measured: float | None
    delta: float | None  # measured - claimed, signed, rounded to 2 decimals
    tolerance: float
    interval: tuple[float, float] | None = None  # 95% Wilson interval of measured, 2 decimals
    num_samples: int | None = None  # the images measured; None without a measurement

    def to_dict(self) -> dict:
        fields = {**asdict(self), "status": self.status.value}
        fields["interval"] = list(self.interval) if self.interval is not None else None
        return fields


def _require_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def is_consistent(*, claimed: float, interval: tuple[float, float], tolerance: float) -> bool:
    """The rule: a claim agrees with a measurement when it lies inside the measurement's 95% interval widened
    by the tolerance on both sides. A fixed tolerance alone judges noise on small sets: one image of 359 is
    0.28 points and the 95% interval at 90% there is about +-3.1 points, so +-0.5 would call an honest claim
    wrong by chance. On large sets the interval shrinks (+-0.38 points at 75% on 50,000 images) and the
    tolerance remains as the margin for preprocessing details (resize filter, JPEG decoder)."""
    low, high = interval
    outside_by = round(max(low - claimed, claimed - high, 0.0), _DELTA_DECIMALS)
    return outside_by <= tolerance


def judge(
    *, claimed: float, measurement: Measurement | None, tolerance: float = DEFAULT_TOLERANCE
) -> Verdict:
    """Compare a claimed top-1 with what was measured. No measurement (no run, or it failed) -> unverifiable."""
    claimed = _require_finite("claimed", claimed)
    tolerance = _require_finite("tolerance", tolerance)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if measurement is None:
        return Verdict(VerdictStatus.UNVERIFIABLE, claimed, None, None, tolerance)
    measured, interval = measurement.top1, measurement.interval
    delta = round(measured - claimed, _DELTA_DECIMALS)
    consistent = is_consistent(claimed=claimed, interval=interval, tolerance=tolerance)
    status = VerdictStatus.VERIFIED if consistent else VerdictStatus.DISAGREES
    return Verdict(status, claimed, measured, delta, tolerance, interval, measurement.total)


def judge_claim(
    *,
    claimed: float,
    measurement: Measurement | None,
    dataset_on_hub: bool,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Verdict:
    """The verdict on a claim as the hub shows it: judged against the hub's measurement when there is one;
    without one, pending while the hub holds the claim's dataset, else unverifiable."""
    verdict = judge(claimed=claimed, measurement=measurement, tolerance=tolerance)
    if measurement is None and dataset_on_hub:
        return Verdict(VerdictStatus.PENDING, verdict.claimed, None, None, verdict.tolerance)
    return verdict


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, in percent (z=1.96: 95%).

    Preferred over the normal approximation because it stays inside [0, 100] and is still sensible at
    0% or 100% accuracy and on small evaluation sets. An interval over zero samples is meaningless, so
    total == 0 raises ValueError rather than returning a made-up (0, 100).
    """
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= successes <= total:
        raise ValueError(f"successes must be between 0 and total ({total}), got {successes}")
    if z <= 0:
        raise ValueError(f"z must be positive, got {z}")
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    low = max(0.0, centre - half_width)
    high = min(1.0, centre + half_width)
    return 100 * low, 100 * high
