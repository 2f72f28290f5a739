"""Text transfer rankings through the services and the job: tiny real BERTs on a registered text dataset."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from catalog import text_services as catalog_text_services
from evaluation import text_services, transfer_selectors, transfer_services
from evaluation.models import CandidateStatus, RunStatus, TransferRanking
from tests.text_models import save_text_classifier, save_text_encoder, sentiment_rows, write_tsv

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Three tiny BERTs: trained a few steps (seed 0), never trained (seed 1), and a bare encoder."""
    root = tmp_path_factory.mktemp("text-candidates")
    return {
        "trained": save_text_classifier(root / "trained", train_steps=8, seed=0),
        "untrained": save_text_classifier(root / "untrained", train_steps=0, seed=1),
        "encoder": save_text_encoder(root / "encoder"),
    }


@pytest.fixture
def text_candidates(model_dirs):
    tasks = {"encoder": "feature-extraction"}
    register = catalog_text_services.text_model_register
    return [
        register(namespace="demo", name=name, directory=path, task=tasks.get(name, "text-classification"))
        for name, path in model_dirs.items()
    ]


@pytest.fixture
def reviews(tmp_path):
    root = tmp_path / "reviews"
    write_tsv(root / "train.tsv", sentiment_rows(40))
    write_tsv(root / "test.tsv", sentiment_rows(6, offset=100))
    return text_services.dataset_register_text(name="reviews", root=root)


@pytest.mark.slow
def test_a_text_ranking_runs_after_commit_and_scores_the_text_candidates_against_bag_of_words(
    text_candidates, reviews, staff_user, django_capture_on_commit_callbacks, client
):
    with django_capture_on_commit_callbacks(execute=True):
        ranking = transfer_services.ranking_request(
            dataset=reviews, split="train", model_ids=[model.model_id for model in text_candidates],
            config={"batch_size": 16, "threads": 1}, requested_by=staff_user,
        )  # fmt: skip
    ranking = transfer_selectors.ranking_get(ranking_id=ranking.pk)
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    rows = list(ranking.candidates.all())
    assert [row.rank for row in rows] == [1, 2, 3]
    assert {row.model_label for row in rows} == {model.model_id for model in text_candidates}
    assert [row.score for row in rows] == sorted((row.score for row in rows), reverse=True)
    for row in rows:
        assert row.status == CandidateStatus.SCORED and row.score == row.linear_probe
        assert 0 <= row.knn <= 100 and row.logme is not None and row.feature_dim == 16
        assert row.latency_ms > 0 and row.seconds > 0 and len(row.score_folds) == 5
    # The bar to beat is bag-of-words on the same folds; these reviews' adjectives give it away.
    assert ranking.baseline["config"]["kind"] == "bag_of_words" and ranking.baseline_accuracy == 100.0
    assert len(ranking.baseline["fold_accuracies"]) == 5
    assert ranking.transfer_gap == pytest.approx(ranking.best_score - 100.0)
    assert ranking.negative_transfer == (-ranking.transfer_gap > ranking.transfer_spread)
    assert ranking.num_images == 40 and ranking.num_classes == 2
    assert ranking.provenance["modality"] == "text" and ranking.provenance["pooling"] == "mean"
    assert ranking.provenance["dataset_hash"] == reviews.split_hashes["train"] == ranking.dataset_hash
    page = client.get(ranking.get_absolute_url()).content.decode()
    assert "(40 labelled texts, 2 classes)" in page and "a bag-of-words classifier (TF-IDF" in page
    assert "small CNN" not in page
    # A text's features and a TF-IDF fit cost nothing like an image's: each modality's estimate is its own.
    assert transfer_selectors.ranking_time_estimate(modality="text")["rankings"] == 1
    assert transfer_selectors.ranking_time_estimate() is None


def test_rank_models_ranks_text_models_on_a_text_dataset(text_candidates, reviews):
    out = StringIO()
    call_command(
        "rank_models", "--dataset", "reviews", "--split", "train", "--candidates", "demo/encoder",
        "demo/untrained", "--threads", "1", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    ranking = TransferRanking.objects.get()
    assert ranking.status == RunStatus.SUCCEEDED and "(40 texts, 2 classes)" in text
    assert f"from-scratch baseline (bag-of-words): {ranking.baseline_accuracy:.2f}%" in text
    assert f"{ranking.candidates.get(rank=1).score:6.2f}%" in text


def test_a_catalog_filter_on_a_text_dataset_picks_text_models_only(text_candidates, reviews, make_model):
    make_model(name="vision-model", num_params=1_000)
    ranking = transfer_services.ranking_request(
        dataset=reviews, split="train", candidate_filter={"task": "text-classification"}, enqueue=False
    )
    assert {c.model_label for c in ranking.candidates.all()} == {"demo/trained", "demo/untrained"}
    with pytest.raises(ValidationError, match="No catalog model matches"):
        transfer_services.ranking_request(
            dataset=reviews, split="train", candidate_filter={"domain": "vision"}, enqueue=False
        )


def test_mixing_modalities_is_refused_naming_the_models_that_do_not_fit(
    text_candidates, reviews, make_model, small_digits
):
    vision = make_model(name="vision-model", num_classes=2)
    with pytest.raises(ValidationError) as on_text:
        transfer_services.ranking_request(
            dataset=reviews, split="train", model_ids=["demo/trained", vision.model_id], enqueue=False
        )
    assert on_text.value.message_dict["candidates"] == [
        "reviews holds text data and ranks text models (nlp domain, transformers); not those: "
        "demo/vision-model (vision)."
    ]
    with pytest.raises(ValidationError) as on_images:
        transfer_services.ranking_request(
            dataset=small_digits, split="test", model_ids=["demo/trained"], enqueue=False
        )
    assert on_images.value.message_dict["candidates"] == [
        "digits-small holds image data and ranks image models; not those: demo/trained (nlp)."
    ]
    assert not TransferRanking.objects.exists()


def test_a_text_split_edited_after_queueing_fails_the_job_naming_the_change(text_candidates, reviews):
    ranking = transfer_services.ranking_request(
        dataset=reviews, split="train", model_ids=["demo/encoder"], config={"baseline": False}, enqueue=False
    )
    train = reviews.root + "/train.tsv"
    with open(train, "a", encoding="utf-8") as extra:
        extra.write("an added review\tpos\n")
    finished = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w")
    assert finished.status == RunStatus.FAILED and "changed since it was registered" in finished.error


def test_the_api_queues_a_text_ranking_and_refuses_a_mixed_candidate_list(
    staff_client, text_candidates, reviews, make_model
):
    url = "/api/v1/transfer-rankings/"
    body = {"dataset": "reviews", "split": "train", "candidates": ["demo/encoder", "demo/trained"]}
    queued = staff_client.post(url, body, format="json")
    assert queued.status_code == 202, queued.json()
    assert [c["status"] for c in queued.json()["candidates"]] == ["pending", "pending"]
    assert queued.json()["dataset_hash"] == reviews.split_hashes["train"]

    vision = make_model(name="vision-model", num_classes=2)
    mixed = staff_client.post(url, {**body, "candidates": ["demo/encoder", vision.model_id]}, format="json")
    assert mixed.status_code == 400
    assert "not those: demo/vision-model (vision)" in mixed.json()["detail"]["candidates"][0]
    assert TransferRanking.objects.count() == 1
