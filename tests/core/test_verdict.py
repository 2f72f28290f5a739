"""Measured versus claimed: statuses decided by the claim against the measurement's interval, signed deltas
and the Wilson interval."""

from dataclasses import dataclass

import pytest

from core.verdict import (
    DEFAULT_TOLERANCE,
    HEADLINE_DATASET,
    Measurement,
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


def on(total: int, top1: float) -> Measurement:
    """A measurement of about top1 percent on total images (the nearest whole count of correct images)."""
    return Measurement(correct=round(top1 * total / 100), total=total)


def test_a_claim_one_point_off_on_50000_images_disagrees():
    # ImageNet-1k's validation set: the 95% interval at 75% is about +-0.38 points, so 1 point is signal.
    verdict = judge(claimed=76.1, measurement=on(50_000, 75.1))

    assert verdict.status == VerdictStatus.DISAGREES
    assert verdict.delta == -1.0 and verdict.num_samples == 50_000
    low, high = verdict.interval
    assert high - low < 0.8 and low < 75.1 < high


def test_the_same_claim_one_point_off_on_359_images_is_consistent():
    # 359 images (the digits test split): one image is 0.28 points and the interval is several points wide.
    measurement = on(359, 75.1)
    verdict = judge(claimed=measurement.top1 + 1, measurement=measurement)

    assert verdict.status == VerdictStatus.VERIFIED
    assert verdict.delta == -1.0
    low, high = verdict.interval
    assert high - low > 8 and low < measurement.top1 < high


def test_a_claim_is_verified_up_to_the_tolerance_beyond_the_interval_and_no_further():
    measurement = on(1_000, 90.0)
    low, high = measurement.interval
    for claimed, status in [
        (high, "verified"), (high + 0.5, "verified"), (high + 0.51, "disagrees"),
        (low - 0.5, "verified"), (low - 0.51, "disagrees"),
    ]:  # fmt: skip
        assert judge(claimed=round(claimed, 2), measurement=measurement).status == status, claimed
    assert judge(claimed=round(high + 1, 2), measurement=measurement, tolerance=1.0).status == "verified"


def test_the_rounded_interval_decides_as_shown():
    # The bounds are shown with two decimals and the status is decided on those, so a claim shown exactly
    # the tolerance outside the interval is never "disagrees" by a float tail.
    measurement = Measurement(correct=9_000, total=10_000)
    low, high = measurement.interval
    assert (low, high) == (round(low, 2), round(high, 2))
    assert judge(claimed=round(high + 0.5, 2), measurement=measurement).status == VerdictStatus.VERIFIED


def test_a_measurement_knows_its_top1_and_is_recovered_from_a_stored_percentage():
    measurement = Measurement(correct=322, total=359)
    assert measurement.top1 == 100.0 * 322 / 359
    assert Measurement.from_top1(top1=measurement.top1, total=359) == measurement
    assert measurement.interval == tuple(round(bound, 2) for bound in wilson_interval(322, 359))
    with pytest.raises(ValueError, match="correct"):
        Measurement(correct=360, total=359)
    with pytest.raises(ValueError, match="total"):
        Measurement(correct=0, total=0)


def test_it_calls_a_claim_without_measurement_unverifiable():
    verdict = judge(claimed=70.0, measurement=None)

    assert verdict.status == VerdictStatus.UNVERIFIABLE
    assert verdict.delta is None
    assert verdict.to_dict() == {
        "status": "unverifiable",
        "claimed": 70.0,
        "measured": None,
        "delta": None,
        "tolerance": DEFAULT_TOLERANCE,
        "interval": None,
        "num_samples": None,
    }


def test_it_refuses_a_negative_tolerance_or_nan():
    with pytest.raises(ValueError, match="tolerance"):
        judge(claimed=70.0, measurement=on(100, 70.0), tolerance=-1)
    with pytest.raises(ValueError, match="top1"):
        Measurement.from_top1(top1=float("nan"), total=100)
    with pytest.raises(ValueError, match="claimed"):
        judge(claimed=float("nan"), measurement=on(100, 70.0))


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
    def claim(measurement, dataset_on_hub):
        return judge_claim(claimed=80.0, measurement=measurement, dataset_on_hub=dataset_on_hub).status

    assert claim(None, dataset_on_hub=True) == VerdictStatus.PENDING
    assert claim(None, dataset_on_hub=False) == VerdictStatus.UNVERIFIABLE
    assert claim(on(10_000, 80.4), dataset_on_hub=True) == VerdictStatus.VERIFIED
    assert claim(on(10_000, 70.0), dataset_on_hub=False) == VerdictStatus.DISAGREES
