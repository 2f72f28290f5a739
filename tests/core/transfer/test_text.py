"""The text side of the ranking core on real tiny BERTs: pooled features, the bag-of-words baseline, dispatch."""

import numpy as np
import pytest
import torch
import transformers
from safetensors.torch import save_file

from core import harness
from core.harness import HarnessError
from core.textdata import read_text_split
from core.textharness import TextDatasetSource, TextModelSource
from core.transfer.estimators import cv_folds, linear_probe_fold_accuracies
from core.transfer.ranking import Candidate, CandidateStatus, RankingConfig, RankingError, rank_candidates
from core.transfer.text_baseline import bag_of_words_baseline
from core.transfer.text_features import extract_text_features, load_encoder, pool
from core.weights import sha256_file
from tests.text_models import save_text_classifier, save_text_encoder, sentiment_rows, write_tsv


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier", train_steps=2)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_text_encoder(tmp_path_factory.mktemp("text") / "encoder")


def source(directory) -> TextModelSource:
    return TextModelSource(directory=directory, weights_sha256=sha256_file(directory / "model.safetensors"))


@pytest.fixture
def reviews(tmp_path) -> TextDatasetSource:
    path = write_tsv(tmp_path / "reviews" / "train.tsv", sentiment_rows(30))
    split = read_text_split(path.parent, "train")
    return TextDatasetSource(name="reviews", split="train", root=path.parent, content_hash=split.content_hash)


def plain_hidden_states(directory, text: str) -> torch.Tensor:
    """One text alone (no padding), through a plain transformers encoder: (tokens, d)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModel.from_pretrained(directory).eval()
    with torch.inference_mode():
        inputs = tokenizer([text], truncation=True, max_length=16, return_tensors="pt")
        return model(**inputs).last_hidden_state[0]


def test_it_mean_pools_over_the_real_tokens_as_one_text_alone_would_give(encoder_dir, reviews):
    split = read_text_split(reviews.root, "train")
    features = extract_text_features(source(encoder_dir), split, batch_size=7)
    assert features.features.shape == (30, 16) and features.features.dtype == np.float32
    assert features.labels.tolist() == [int(label == "pos") for label in split.labels]
    assert features.class_names == ("neg", "pos")
    # Text 1 is short and shares a batch with long ones: its padding must not enter its mean.
    for index in (1, 5):
        expected = plain_hidden_states(encoder_dir, split.texts[index]).mean(dim=0).numpy()
        np.testing.assert_allclose(features.features[index], expected, rtol=1e-4, atol=1e-5)
    assert features.latency_ms > 0 and features.num_params > 0
    assert features.preprocessing["pooling"] == "mean" and features.preprocessing["max_length"] == 16


def test_cls_pooling_takes_the_first_token_and_differs_from_the_mean(encoder_dir, reviews):
    split = read_text_split(reviews.root, "train")
    cls = extract_text_features(source(encoder_dir), split, pooling="cls", measure_latency=False)
    mean = extract_text_features(source(encoder_dir), split, pooling="mean", measure_latency=False)
    expected = plain_hidden_states(encoder_dir, split.texts[3])[0].numpy()
    np.testing.assert_allclose(cls.features[3], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(cls.features, mean.features, atol=1e-3)
    assert cls.latency_ms is None
    with pytest.raises(ValueError, match="pooling must be one of mean, cls"):
        extract_text_features(source(encoder_dir), split, pooling="max")


def test_features_are_the_same_on_every_run_and_for_any_batch_size(classifier_dir, reviews):
    split = read_text_split(reviews.root, "train")
    first = extract_text_features(
        source(classifier_dir), split, batch_size=30, threads=1, measure_latency=False
    )
    again = extract_text_features(
        source(classifier_dir), split, batch_size=4, threads=1, measure_latency=False
    )
    np.testing.assert_allclose(first.features, again.features, rtol=1e-5, atol=1e-6)
    # A classifier's checkpoint gives its encoder: the same states BertForSequenceClassification.bert computes.
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(classifier_dir)
    with torch.inference_mode():
        inputs = tokenizer(split.texts[:4], truncation=True, max_length=16, padding=True, return_tensors="pt")
        hidden = classifier.bert(**inputs).last_hidden_state
    np.testing.assert_allclose(
        first.features[:4], pool(hidden, inputs["attention_mask"], "mean").numpy(), rtol=1e-4, atol=1e-5
    )


def test_an_encoder_with_missing_weights_or_another_sha256_is_refused(encoder_dir, tmp_path, reviews):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in encoder_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    state = transformers.BertModel.from_pretrained(encoder_dir).state_dict()
    kept = {k: v.contiguous() for k, v in state.items() if "encoder.layer.0.output" not in k}
    save_file(kept, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(HarnessError, match=r"missing keys: encoder\.layer\.0\.output"):
        load_encoder(broken)
    split = read_text_split(reviews.root, "train")
    wrong = TextModelSource(directory=encoder_dir, weights_sha256="0" * 64)
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        extract_text_features(wrong, split)


def test_the_bag_of_words_baseline_separates_separable_texts_on_the_probes_folds():
    texts = [f"{word} movie number {i}" for i, word in enumerate(["loved", "hated"] * 20)]
    labels = np.array([0, 1] * 20)
    result = bag_of_words_baseline(texts, labels)
    assert result.accuracy == 100.0 and result.fold_accuracies == [100.0] * 5
    assert len(result.fold_accuracies) == cv_folds(labels).get_n_splits()
    assert result.config["kind"] == "bag_of_words" and result.config["vocabulary"] > 40
    assert result.num_params > 0 and result.seconds > 0
    # Labels that no word predicts: the baseline is at chance, the same folds as the probe's.
    shuffled = np.array([0, 0, 1, 1] * 10)
    chance = bag_of_words_baseline([f"same words here {i % 3}" for i in range(40)], shuffled)
    assert chance.accuracy <= 60.0
    probe = linear_probe_fold_accuracies(np.zeros((40, 1)), shuffled)
    assert len(probe) == len(chance.fold_accuracies)


def test_a_text_ranking_scores_text_candidates_and_flags_them_against_bag_of_words(
    classifier_dir, encoder_dir, reviews
):
    progress = []
    result = rank_candidates(
        [Candidate("demo/encoder", source(encoder_dir)), Candidate("demo/classifier", source(classifier_dir)),
         Candidate("demo/none", None)],
        reviews, RankingConfig(batch_size=8, threads=1), on_progress=lambda f, m: progress.append(f),
    )  # fmt: skip
    scored = [row for row in result.candidates if row.status == CandidateStatus.SCORED]
    assert [row.rank for row in scored] == [1, 2] and result.candidates[-1].model_id == "demo/none"
    assert all(row.score == row.linear_probe and row.feature_dim == 16 for row in scored)
    assert result.baseline.config["kind"] == "bag_of_words"
    assert len(result.baseline.fold_accuracies) == len(scored[0].score_folds)
    assert result.transfer_gap == pytest.approx(scored[0].score - result.baseline.accuracy)
    assert result.num_images == 30 and result.num_classes == 2
    assert result.provenance["modality"] == "text" and result.provenance["pooling"] == "mean"
    assert result.provenance["dataset_hash"] == reviews.content_hash and "transformers" in result.provenance
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_candidates_of_another_modality_are_refused_before_anything_runs(encoder_dir, reviews, tmp_path):
    image_model = harness.ModelSource(
        architecture="test_resnet", num_classes=2, model_args={}, weights_path=tmp_path / "none.safetensors",
        weights_sha256="0" * 64, pretrained_cfg={},
    )  # fmt: skip
    progress = []
    with pytest.raises(RankingError, match="scores text models only; not of that modality: demo/resnet"):
        rank_candidates(
            [Candidate("demo/encoder", source(encoder_dir)), Candidate("demo/resnet", image_model)],
            reviews, on_progress=lambda f, m: progress.append(m),
        )  # fmt: skip
    assert progress == []
    with pytest.raises(RankingError, match="pooling must be one of mean, cls"):
        rank_candidates(
            [Candidate("demo/encoder", source(encoder_dir))], reviews, RankingConfig(pooling="max")
        )
