"""Measured versus claimed accuracy: the signed delta, a confidence interval and a status.

Pure python (no Django import). Accuracies are in percent throughout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum

DEFAULT_TOLERANCE = 0.5  # percentage points
# Deltas are shown with two decimals; the status is decided on that same rounded value, so a delta shown
# as "+0.50" with a tolerance of 0.5 is never labelled "disagrees" because of a float tail.
_DELTA_DECIMALS = 2


class VerdictStatus(StrEnum):
    VERIFIED = "verified"
    DISAGREES = "disagrees"
    UNVERIFIABLE = "unverifiable"


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
