"""Measured versus claimed: statuses, signed deltas and the Wilson interval."""

from dataclasses import dataclass

import pytest

from core.verdict import (
    DEFAULT_TOLERANCE,
    HEADLINE_DATASET,
    VerdictStatus,
    headline_claim,
    judge,
    judge_claim,
    wilson_interval,
)


def test_it_computes_the_wilson_interval_at_50_percent():
    low, high = wilson_interval(50, 100)

    assert low == pytest.approx(40.383, abs=1e-3)
    assert high == pytest.approx(59.617, abs=1e-3)


def test_it_keeps_the_wilson_interval_inside_0_and_100():
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(27.75, abs=0.01)

    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(72.25, abs=0.01)
    assert high == 100.0


def test_it_narrows_the_interval_with_more_samples():
    small = wilson_interval(90, 100)
    large = wilson_interval(900, 1000)

    assert large[1] - large[0] < small[1] - small[0]
    assert small[0] < 90 < small[1]


@pytest.mark.parametrize(("successes", "total"), [(0, 0), (5, 4), (-1, 10)])
def test_it_refuses_a_meaningless_interval(successes, total):
    with pytest.raises(ValueError, match=r"total|successes"):
        wilson_interval(successes, total)


def test_it_verifies_a_claim_within_tolerance():
    verdict = judge(claimed=75.0, measured=74.6)

    assert verdict.status == VerdictStatus.VERIFIED
    assert verdict.delta == -0.4
    assert verdict.tolerance == DEFAULT_TOLERANCE


def test_it_verifies_a_delta_exactly_at_the_tolerance():
    # 64.01 - 63.51 is 0.5000000000000071 in floats: the shown, rounded delta decides.
    assert 64.01 - 63.51 > 0.5
    assert judge(63.51, 64.01).status == VerdictStatus.VERIFIED
    assert judge(63.51, 64.01).delta == 0.5


def test_it_flags_a_claim_that_disagrees_with_a_signed_delta():
    lower = judge(claimed=80.0, measured=78.123)
    higher = judge(claimed=80.0, measured=81.0, tolerance=0.25)

    assert lower.status == VerdictStatus.DISAGREES
    assert lower.delta == -1.88
    assert higher.status == "disagrees"
    assert higher.delta == 1.0


def test_it_calls_a_claim_without_measurement_unverifiable():
    verdict = judge(claimed=70.0, measured=None)

    assert verdict.status == VerdictStatus.UNVERIFIABLE
    assert verdict.delta is None
    assert verdict.to_dict() == {
        "status": "unverifiable",
        "claimed": 70.0,
        "measured": None,
        "delta": None,
        "tolerance": DEFAULT_TOLERANCE,
    }


def test_it_refuses_a_negative_tolerance_or_nan():
    with pytest.raises(ValueError, match="tolerance"):
        judge(70.0, 70.0, tolerance=-1)
    with pytest.raises(ValueError, match="measured"):
        judge(70.0, float("nan"))


@dataclass
class _Claim:
    dataset: str
    metric: str
    value: float


def test_the_headline_claim_is_the_best_imagenet_1k_top1_else_the_best_top1_anywhere():
    real, in1k = _Claim("imagenet-real", "top1", 86.0), _Claim(HEADLINE_DATASET, "top1", 80.0)
    top5 = _Claim(HEADLINE_DATASET, "top5", 95.0)
    assert headline_claim([real, top5, in1k, _Claim(HEADLINE_DATASET, "top1", 79.0)]) is in1k
    digits = _Claim("digits", "accuracy", 97.0)
    assert headline_claim([_Claim("digits", "top1", 96.0), digits, top5]) is digits
    assert headline_claim([top5]) is None and headline_claim([]) is None


def test_a_claim_without_a_measurement_is_pending_only_where_the_hub_holds_its_dataset():
    assert judge_claim(80.0, None, dataset_on_hub=True).status == VerdictStatus.PENDING
    assert judge_claim(80.0, None, dataset_on_hub=False).status == VerdictStatus.UNVERIFIABLE
    assert judge_claim(80.0, 80.4, dataset_on_hub=True).status == VerdictStatus.VERIFIED
    assert judge_claim(80.0, 70.0, dataset_on_hub=False).status == VerdictStatus.DISAGREES
