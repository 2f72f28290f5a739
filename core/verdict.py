"""Measured versus claimed accuracy: the signed delta, a confidence interval and a status.

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
# Deltas are shown with two decimals; the status is decided on that same rounded value, so a delta shown
# as "+0.50" with a tolerance of 0.5 is never labelled "disagrees" because of a float tail.
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
class Verdict:
    status: VerdictStatus
    claimed: float
    measured: float | None
    delta: float | None  # measured - claimed, signed, rounded to 2 decimals
    tolerance: float

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status.value}


def _require_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def judge(claimed: float, measured: float | None, tolerance: float = DEFAULT_TOLERANCE) -> Verdict:
    """Compare measured with claimed accuracy. measured None (no run, or it failed) -> unverifiable."""
    claimed = _require_finite("claimed", claimed)
    tolerance = _require_finite("tolerance", tolerance)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if measured is None:
        return Verdict(VerdictStatus.UNVERIFIABLE, claimed, None, None, tolerance)
    measured = _require_finite("measured", measured)
    delta = round(measured - claimed, _DELTA_DECIMALS)
    status = VerdictStatus.VERIFIED if abs(delta) <= tolerance else VerdictStatus.DISAGREES
    return Verdict(status, claimed, measured, delta, tolerance)


def judge_claim(
    claimed: float, measured: float | None, *, dataset_on_hub: bool, tolerance: float = DEFAULT_TOLERANCE
) -> Verdict:
    """The verdict on a claim as the hub shows it: judged against the hub's measurement when there is one;
    without one, pending while the hub holds the claim's dataset, else unverifiable."""
    verdict = judge(claimed, measured, tolerance)
    if measured is None and dataset_on_hub:
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
