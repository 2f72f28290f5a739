"""The demo's text catalog as `make run` seeds it, on a stand-in sdist and a tiny encoder (a real BERT with a
WordPiece tokenizer trained in the test) with a tiny budget: the encoder and its fine-tuned classifier stored
with their weights, claims on the movie test split and the three out-of-domain sets, the hub's re-check of
every claim through the run path with its interval on the pages, and a second seed that changes nothing."""

import hashlib

import pytest

from catalog.models import ModelEntry
from core.weights import sha256_file
from demo import text_seed, text_training
from demo.text_seed import CLASSIFIER_ID, ENCODER_ID, text_catalog_seed
from demo.text_training import FineTuneBudget
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus
from tests.demo.text_sdist import write_sdist
from tests.text_models import save_text_encoder

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
TINY = FineTuneBudget(
    train_examples=40, max_length=16, eval_max_length=32, batch_size=8, learning_rate=3e-3, eval_batch_size=64
)
DATASETS = ["vader-movies", "vader-tweets", "vader-amazon", "vader-nyt"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_text_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")


@pytest.fixture
def seed_text(settings, tmp_path, encoder_dir):
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    sdist = write_sdist(tmp_path / "cache" / "vaderSentiment-3.3.2.tar.gz")

    def seed(**overrides):
        lines: list[str] = []
        arguments = dict(
            report=lines.append, sdist=sdist, sdist_sha256=hashlib.sha256(sdist.read_bytes()).hexdigest(),
            encoder_dir=encoder_dir, encoder_sha256=sha256_file(encoder_dir / "model.safetensors"), budget=TINY,
            test_size=20, recheck_config={"batch_size": 64, "num_workers": 0, "threads": 1},
        )  # fmt: skip
        return text_catalog_seed(**(arguments | overrides)), lines

    return seed


def test_the_text_catalog_holds_both_models_the_claims_and_the_hubs_verdicts(seed_text, api_client, client):
    summary, lines = seed_text()

    assert summary.registered == [ENCODER_ID, CLASSIFIER_ID] and summary.datasets == DATASETS
    encoder = ModelEntry.objects.get(namespace="demo", name="all-minilm-l6-v2")
    classifier = ModelEntry.objects.get(namespace="demo", name="minilm-movie-sentiment")
    assert encoder.task == "feature-extraction" and encoder.domain == "nlp" and not encoder.claims.exists()
    assert classifier.task == "text-classification" and classifier.label_names == ["neg", "pos"]
    assert classifier.base_model == ENCODER_ID and classifier.fine_tuned_on == "vader-movies"
    for model in (encoder, classifier):
        assert model.weights is not None and model.weights_size_bytes == model.weights.size_bytes > 0
    trained = summary.fine_tune
    assert classifier.weights.sha256 == trained.weights_sha256
    claims = {c.dataset: (c.split, c.value) for c in classifier.claims.all()}
    assert claims == {name: ("test", trained.accuracy[name]) for name in DATASETS}
    assert trained.sizes == {"vader-movies": 20, "vader-tweets": 14, "vader-amazon": 14, "vader-nyt": 14}

    # The hub re-checked every claim by running the model itself, through the run lifecycle.
    runs = BenchmarkRun.objects.filter(model=classifier)
    assert sorted(runs.values_list("dataset__name", flat=True)) == sorted(DATASETS)
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCEEDED}
    detail = api_client.get(f"/api/v1/models/{CLASSIFIER_ID}/").json()
    verdicts = {v["dataset"]: v for v in detail["verdicts"]}
    assert verdicts == summary.verdicts
    movie = verdicts["vader-movies"]
    assert movie["status"] in ("verified", "disagrees") and movie["num_samples"] == 20
    low, high = movie["interval95"]
    assert low <= movie["measured"] <= high
    # The hub measures what the setup measured: same tokenizer limit, batches and order.
    assert {name: v["measured"] for name, v in verdicts.items()} == pytest.approx(trained.accuracy, abs=0.01)
    assert any(f"{CLASSIFIER_ID} on vader-movies: claimed" in line for line in lines)
    children = api_client.get(f"/api/v1/models/?base_model={ENCODER_ID}").json()["results"]
    assert [row["id"] for row in children] == [CLASSIFIER_ID]
    on_tweets = api_client.get("/api/v1/models/?claim_dataset=vader-tweets&verified=true").json()["results"]
    assert [(row["id"], row["verified_top1"]) for row in on_tweets] == [
        (CLASSIFIER_ID, verdicts["vader-tweets"]["measured"])
    ]

    # The per-dataset leaderboard ranks text claims as it ranks images', with the hub's figure beside them.
    board = api_client.get("/api/v1/leaderboard/vader-movies/").json()["results"]
    assert [(row["id"], row["top1"], row["verified_top1"]) for row in board] == [
        (CLASSIFIER_ID, trained.accuracy["vader-movies"], movie["measured"])
    ]
    assert CLASSIFIER_ID in client.get("/leaderboard/vader-tweets/").content.decode()

    page = client.get(f"/models/{CLASSIFIER_ID}/").content.decode()
    assert f"95% interval {low:.2f}\u2013{high:.2f}% on 20 texts" in page
    assert "bag-of-words baseline" in page and "fine-tuned on this machine at setup" in page
    assert "pretrained" not in classifier.title.lower()


def test_the_dataset_page_names_the_source_the_licence_and_the_bar_to_beat(seed_text, client):
    summary, _ = seed_text()

    movies = EvalDataset.objects.get(name="vader-movies")
    assert movies.modality == "text" and movies.split_sizes == {"test": 20, "train": 42}
    assert set(EvalDataset.objects.filter(modality="text").values_list("name", flat=True)) == set(DATASETS)
    page = client.get("/datasets/").content.decode()
    for expected in (
        "vaderSentiment-3.3.2.tar.gz",
        "MIT",
        "never committed",
        "Pang &amp; Lee",
        "Bar to beat",
    ):
        assert expected in page, expected
    baseline = summary.baseline.accuracy["vader-movies"]
    assert f"scores {baseline:.2f}% here" in movies.description


def test_a_second_seed_keeps_everything_and_runs_nothing_again(seed_text, monkeypatch):
    seed_text()
    runs = BenchmarkRun.objects.count()
    monkeypatch.setattr(text_training, "fine_tune", lambda **kw: pytest.fail("trained again"))

    again, lines = seed_text()

    assert again.registered == [] and again.kept == [ENCODER_ID, CLASSIFIER_ID]
    assert BenchmarkRun.objects.count() == runs and ModelEntry.objects.filter(namespace="demo").count() == 2
    assert f"{CLASSIFIER_ID}: already seeded" in lines
    assert {v["status"] for v in again.verdicts.values()} <= {"verified", "disagrees"}


def test_lost_registrations_reuse_the_fine_tuned_weights(seed_text, monkeypatch):
    first, _ = seed_text()
    ModelEntry.objects.filter(namespace="demo").delete()  # as after a database reset, with var/ kept
    monkeypatch.setattr(text_training, "fine_tune", lambda **kw: pytest.fail("trained again"))

    again, lines = seed_text()

    assert again.registered == [ENCODER_ID, CLASSIFIER_ID]
    assert any("reusing its weights" in line for line in lines)
    classifier = ModelEntry.objects.get(namespace="demo", name="minilm-movie-sentiment")
    assert classifier.weights.sha256 == first.fine_tune.weights_sha256


def test_an_encoder_that_is_not_the_pinned_one_is_refused(seed_text):
    with pytest.raises(text_training.TextTrainingError, match=r"not the pinned 0{64}"):
        seed_text(encoder_sha256="0" * 64)
    assert not ModelEntry.objects.filter(namespace="demo").exists()


def test_the_real_minilm_is_the_pinned_file_when_installed():
    try:
        directory = text_training.encoder_directory()
    except text_training.TextTrainingError as error:
        pytest.skip(str(error))
    from core.textmodels import inspect_text_model

    assert text_training.check_encoder(directory) == text_training.ENCODER_SHA256
    info = inspect_text_model(directory, task="feature-extraction")
    assert info.architecture == "BertModel" and info.vocab_size == 30_522
    assert round(info.num_params / 1e6, 1) == 22.7
    assert text_seed.ENCODER_LICENSE == "apache-2.0"
