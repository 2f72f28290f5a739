"""Benchmark runs through the service layer: validation up front, dedupe, the state machine, verdicts."""

import shutil
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from catalog import services as catalog_services
from catalog.models import ModelEntry
from evaluation import services
from evaluation.models import BenchmarkRun, RunStatus
from tests.fixtures_data import FAST, PER_CLASS


def request(model, dataset, **kwargs):
    kwargs.setdefault("config", FAST)
    return services.run_request(model=model, dataset=dataset, split="test", enqueue=False, **kwargs)


def test_a_run_succeeds_with_metrics_and_provenance(digit_model, small_digits):
    run, created = request(digit_model, small_digits)
    assert created and run.status == RunStatus.QUEUED
    run = services.run_execute(run_id=run.pk, worker="test-worker")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 100.0 and run.worker == "test-worker" and run.started and run.finished
    assert run.metrics["num_samples"] == 10 * PER_CLASS
    assert 0 <= run.top1 <= 100 and run.top1 == run.metrics["top1"]
    assert len(run.metrics["confusion_matrix"]) == 10
    assert sum(map(sum, run.metrics["confusion_matrix"])) == 10 * PER_CLASS
    assert run.provenance["weights_sha256"] == digit_model.weights.sha256
    assert run.provenance["dataset_hash"] == small_digits.split_hashes["test"] == run.dataset_hash
    assert {"torch", "timm", "device", "threads", "seed", "batch_size"} <= set(run.provenance)
    assert "top-1" in run.log_tail


def test_the_same_request_returns_the_same_run_unless_forced(digit_model, small_digits):
    first, _ = request(digit_model, small_digits)
    again, created = request(digit_model, small_digits)
    assert again.pk == first.pk and not created
    forced, created = request(digit_model, small_digits, force=True)
    assert created and forced.pk != first.pk
    _, created = request(digit_model, small_digits, config={**FAST, "batch_size": 16})
    assert created


# The claim is placed against the run's own 95% interval (120 images: several points wide), not a fixed delta:
# a claim is verified when it lies inside that interval widened by the 0.5-point tolerance.
@pytest.mark.parametrize(
    ("anchor", "offset", "status"),
    [
        ("measured", 0.0, "verified"),
        ("high", 0.4, "verified"),
        ("high", 0.6, "disagrees"),
        ("high", 7.5, "disagrees"),
    ],
)
def test_a_claim_on_the_same_data_gets_a_verdict(digit_model, small_digits, anchor, offset, status):
    run, _ = request(digit_model, small_digits)
    run = services.run_execute(run_id=run.pk, worker="w")
    low, high = (round(bound, 2) for bound in run.metrics["top1_ci95"])
    claimed = round((run.top1 if anchor == "measured" else high) + offset, 2)
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=claimed
    )
    model = ModelEntry.objects.get(pk=digit_model.pk)
    assert model.verification == status and model.verified_top1 == run.top1

    from catalog.selectors import claim_verdicts

    (verdict,) = claim_verdicts(model=model)
    assert verdict.status == status and verdict.delta == pytest.approx(run.top1 - claimed, abs=0.01)
    assert verdict.interval == (low, high) and verdict.num_samples == run.metrics["num_samples"]


def test_a_claim_on_data_the_hub_lacks_is_unverifiable(digit_model, small_digits):
    catalog_services.claim_record(model=digit_model, dataset="imagenet-1k", metric="top1", value=80)
    assert ModelEntry.objects.get(pk=digit_model.pk).verification == "unverifiable"


def test_bad_requests_are_refused_before_any_run_exists(digit_model, small_digits, make_model, tmp_path):
    no_weights = make_model(
        name="empty", architecture="test_resnet", num_classes=10, label_names=[str(i) for i in range(10)]
    )
    with pytest.raises(ValidationError) as error:
        request(no_weights, small_digits)
    assert "has no weights" in error.value.message_dict["model"][0]
    with pytest.raises(ValidationError) as error:
        services.run_request(model=digit_model, dataset=small_digits, split="train", enqueue=False)
    assert "has no split 'train'" in error.value.message_dict["split"][0]
    with pytest.raises(ValidationError) as error:
        request(digit_model, small_digits, config={"batch_size": 0})
    assert "batch_size" in error.value.message_dict
    # Class folders named neither by the model's labels nor by output index ("0".."9" would map by index).
    for digit, name in (("3", "three"), ("7", "seven")):
        shutil.copytree(Path(small_digits.root) / "test" / digit, tmp_path / "words" / "test" / name)
    words = services.dataset_register_directory(name="digit-words", root=tmp_path / "words")
    with pytest.raises(ValidationError) as error:
        request(digit_model, words)
    assert (
        "not among the model's label names, nor output indices 0..9" in error.value.message_dict["dataset"][0]
    )
    assert not BenchmarkRun.objects.exists()


def test_a_corrupted_image_fails_the_run_with_its_name(digit_model, small_digits):
    from pathlib import Path

    victim = sorted((Path(small_digits.root) / "test" / "3").iterdir())[0]
    victim.write_bytes(b"this is not a png")
    run, _ = request(digit_model, small_digits)
    run = services.run_execute(run_id=run.pk, worker="w")
    assert run.status == RunStatus.FAILED
    assert f"3/{victim.name}" in run.error
    assert run.finished is not None


def test_an_emptied_dataset_fails_cleanly(digit_model, small_digits):
    import shutil
    from pathlib import Path

    run, _ = request(digit_model, small_digits)
    shutil.rmtree(Path(small_digits.root) / "test")
    run = services.run_execute(run_id=run.pk, worker="w")
    assert run.status == RunStatus.FAILED and run.error


def test_cancelling(digit_model, small_digits):
    run, _ = request(digit_model, small_digits)
    assert services.run_cancel(run=run).status == RunStatus.CANCELLED
    assert services.run_execute(run_id=run.pk, worker="w").status == RunStatus.CANCELLED  # never starts
    with pytest.raises(ValidationError, match="already cancelled"):
        services.run_cancel(run=run)


def test_a_cancel_during_the_run_stops_it_and_is_not_overwritten(digit_model, small_digits):
    run, _ = request(digit_model, small_digits, config={**FAST, "batch_size": 8})

    def cancel_midway(fraction: float, message: str) -> None:
        if fraction > 0.3:
            BenchmarkRun.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)

    finished = services.run_execute(run_id=run.pk, worker="w", on_progress=cancel_midway)
    assert finished.status == RunStatus.CANCELLED and finished.top1 is None
