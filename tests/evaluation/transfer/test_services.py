"""Transfer-ranking jobs through the services: request, run, cancel, fail; real digits and a real timm model."""

import pytest
from django.core.exceptions import ValidationError

from catalog.models import WeightsFile
from evaluation import transfer_selectors, transfer_services
from evaluation.models import CandidateStatus, RunStatus, TransferRanking
from tests.fixtures_data import stored_digit_net

QUICK = {"batch_size": 32, "threads": 1, "baseline": False}


@pytest.fixture
def weightless(make_model):
    return make_model(
        name="no-weights", architecture="resnet10t", num_classes=10, num_params=4_900_000, gmacs=0.9
    )


def request(dataset, model_ids, **kwargs):
    return transfer_services.ranking_request(
        dataset=dataset, split="test", model_ids=model_ids, enqueue=False, **{"config": QUICK, **kwargs}
    )


def test_a_ranking_runs_after_commit_and_reports_every_candidate(
    digit_model, weightless, small_digits, staff_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ranking = transfer_services.ranking_request(
            dataset=small_digits, split="test", model_ids=[weightless.model_id, digit_model.model_id],
            config={**QUICK, "baseline": True, "baseline_epochs": 3}, requested_by=staff_user,
        )  # fmt: skip
    ranking = transfer_selectors.ranking_get(ranking_id=ranking.pk)
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    assert ranking.progress == 100.0 and ranking.started <= ranking.finished
    rows = list(ranking.candidates.all())
    assert [row.model_label for row in rows] == [digit_model.model_id, weightless.model_id]  # scored first
    scored, missing = rows
    assert scored.status == CandidateStatus.SCORED and scored.rank == 1
    assert scored.score == scored.linear_probe and 0 <= scored.knn <= 100 and scored.logme is not None
    assert scored.weights_sha256 == digit_model.weights.sha256 and scored.feature_dim > 0
    assert scored.seconds > 0 and scored.latency_ms > 0 and scored.num_params > 0
    assert (
        missing.status == CandidateStatus.MISSING_WEIGHTS and missing.rank is None and missing.score is None
    )
    assert ranking.baseline_accuracy is not None and ranking.baseline["fold_accuracies"]
    # Negative transfer only when the baseline wins by more than the gap's spread across the shared folds.
    assert len(scored.score_folds) == len(ranking.baseline["fold_accuracies"]) >= 2
    assert ranking.transfer_gap == pytest.approx(ranking.best_score - ranking.baseline_accuracy)
    assert ranking.transfer_spread is not None and ranking.transfer_spread >= 0
    assert ranking.negative_transfer == (-ranking.transfer_gap > ranking.transfer_spread)
    assert ranking.provenance["dataset_hash"] == small_digits.split_hashes["test"] == ranking.dataset_hash
    assert {"torch", "timm", "sklearn", "device_name"} <= set(ranking.provenance)
    assert ranking.num_images == 120 and ranking.num_classes == 10 and ranking.requested_by == staff_user


def test_a_catalog_filter_picks_the_candidates(digit_model, weightless, make_model, small_digits):
    make_model(name="too-big", architecture="resnet50", num_params=25_000_000, gmacs=4.1)
    make_model(name="text-model", architecture="bert", domain="nlp", task="fill-mask", num_params=1_000)
    weightless.num_params, weightless.gmacs = 1_000_000, 0.2
    weightless.save()
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", candidate_filter={"domain": "vision", "max_params": 5_000_000,
        "max_gmacs": 1.0}, enqueue=False,
    )  # fmt: skip
    # digit_model has no recorded size, so a size bound excludes it: unknown is not "small enough".
    assert [c.model_label for c in ranking.candidates.order_by("position")] == [weightless.model_id]
    assert ranking.candidate_filter == {"domain": "vision", "max_params": 5_000_000, "max_gmacs": 1.0}
    by_task = transfer_services.ranking_request(
        dataset=small_digits, split="test", candidate_filter={"task": "image-classification"}, enqueue=False
    )
    assert {c.model_label for c in by_task.candidates.all()} == {
        digit_model.model_id,
        weightless.model_id,
        "demo/too-big",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model_ids": ["demo/nope"]}, "candidates"),
        ({"model_ids": ["demo/digit-net", "demo/digit-net"]}, "candidates"),
        ({"model_ids": []}, "candidates"),
        ({"model_ids": ["demo/digit-net"], "candidate_filter": {"domain": "vision"}}, "candidates"),
        ({"candidate_filter": {"colour": "blue"}}, "filter"),
        ({"candidate_filter": {"domain": "audio"}}, "filter"),
        ({"model_ids": ["demo/digit-net"], "split": "train"}, "split"),
        ({"model_ids": ["demo/digit-net"], "config": {"epochs": 3}}, "epochs"),
        ({"model_ids": ["demo/digit-net"], "config": {"batch_size": 0}}, "batch_size"),
        ({"model_ids": ["demo/digit-net"], "config": {"baseline": "maybe"}}, "baseline"),
        ({"model_ids": ["demo/digit-net"], "config": {"threads": 10**6}}, "threads"),
        ({"model_ids": ["demo/digit-net"], "config": {"baseline_epochs": 1.5}}, "baseline_epochs"),
    ],
)
def test_bad_requests_are_refused_before_any_ranking_exists(digit_model, small_digits, kwargs, field):
    kwargs = {"split": "test", **kwargs}
    with pytest.raises(ValidationError) as caught:
        transfer_services.ranking_request(dataset=small_digits, enqueue=False, **kwargs)
    assert field in caught.value.message_dict
    assert not TransferRanking.objects.exists()


def test_cancelling_a_queued_ranking(digit_model, small_digits):
    ranking = request(small_digits, [digit_model.model_id])
    assert transfer_services.ranking_cancel(ranking=ranking).status == RunStatus.CANCELLED
    assert transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w").status == RunStatus.CANCELLED
    with pytest.raises(ValidationError, match="already cancelled"):
        transfer_services.ranking_cancel(ranking=ranking)


def test_a_cancel_during_the_job_stops_it_and_is_not_overwritten(digit_model, small_digits):
    ranking = request(small_digits, [digit_model.model_id])

    def cancel_midway(fraction: float, message: str) -> None:
        if fraction > 0.2:
            TransferRanking.objects.filter(pk=ranking.pk).update(status=RunStatus.CANCELLED)

    finished = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w", on_progress=cancel_midway)
    assert finished.status == RunStatus.CANCELLED and finished.best_score is None
    assert finished.candidates.get().status == CandidateStatus.PENDING


def test_weights_replaced_after_queueing_fail_the_job_with_a_reason(digit_model, small_digits):
    ranking = request(small_digits, [digit_model.model_id])
    WeightsFile.objects.filter(pk=digit_model.weights_id).update(sha256="f" * 64)
    finished = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w")
    assert finished.status == RunStatus.FAILED and "changed since this ranking was queued" in finished.error
    assert finished.finished is not None


def test_each_candidates_scores_are_saved_as_soon_as_they_are_computed(
    digit_model, make_model, small_digits, tmp_path
):
    """The page shows a candidate's scores while the others are still running, not "pending" until the end."""
    (tmp_path / "second").mkdir()
    second = stored_digit_net(make_model, tmp_path / "second", name="digit-net-2")
    ranking = request(small_digits, [digit_model.model_id, second.model_id])
    seen_while_running = []

    def watch(fraction: float, message: str) -> None:
        if message.startswith(f"{second.model_id}: extracting features"):
            seen_while_running.append(
                TransferRanking.objects.get(pk=ranking.pk).candidates.get(model_label=digit_model.model_id)
            )

    finished = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w", on_progress=watch)
    assert finished.status == RunStatus.SUCCEEDED, finished.error
    [first] = seen_while_running
    assert first.status == CandidateStatus.SCORED and first.score is not None and first.rank is None
    assert first.score_folds and first.seconds > 0
    final = finished.candidates.get(model_label=digit_model.model_id)
    assert final.score == first.score and final.rank in (1, 2)


def test_a_filter_matching_too_many_candidates_says_how_many(make_model, small_digits):
    for index in range(transfer_services.MAX_CANDIDATES + 5):
        make_model(name=f"candidate-{index}", architecture="resnet10t", num_params=1_000 + index)
    with pytest.raises(ValidationError) as caught:
        transfer_services.ranking_request(
            dataset=small_digits, split="test", candidate_filter={"max_params": 10**6}, enqueue=False
        )
    message = caught.value.message_dict["filter"][0]
    assert f"matches {transfer_services.MAX_CANDIDATES + 5} models" in message
    assert f"at most {transfer_services.MAX_CANDIDATES}" in message
    assert not TransferRanking.objects.exists()


def test_the_time_estimate_is_the_median_of_measured_rankings(digit_model, small_digits):
    assert transfer_selectors.ranking_time_estimate() is None  # no figures before the first ranking
    finished = transfer_services.ranking_execute(
        ranking_id=request(small_digits, [digit_model.model_id]).pk, worker="w"
    )
    assert finished.status == RunStatus.SUCCEEDED, finished.error
    estimate = transfer_selectors.ranking_time_estimate()
    candidate = finished.candidates.get()
    assert estimate["rankings"] == 1
    assert estimate["candidate_seconds_per_image"] == pytest.approx(candidate.seconds / finished.num_images)
    assert estimate["baseline_seconds_per_image_epoch"] is None  # QUICK trains no baseline
    seconds = transfer_selectors.estimated_ranking_seconds(
        estimate=estimate, candidates=3, images=500, baseline_epochs=None
    )
    assert seconds == pytest.approx(3 * 500 * candidate.seconds / finished.num_images)
