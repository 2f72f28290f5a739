"""The text evaluation against a plain transformers loop, and its refusals before any forward pass."""

import re

import numpy as np
import pytest
import torch
import transformers
from sklearn.metrics import f1_score

from core.harness import HarnessConfig, HarnessError
from core.textdata import read_text_split
from core.textharness import (
    TextDatasetSource,
    TextModelSource,
    evaluate_text_model,
    tokenizer_sha256,
)
from core.verdict import wilson_interval
from core.weights import sha256_file
from tests.text_models import save_text_classifier, save_text_encoder, sentiment_rows, write_tsv


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier")


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    root = tmp_path_factory.mktemp("reviews") / "reviews"
    # Labels the model was not trained on in this order, and texts it has not seen: some predictions miss.
    write_tsv(root / "test.tsv", sentiment_rows(37, offset=101))
    return root


def source(directory):
    return TextModelSource(directory=directory, weights_sha256=sha256_file(directory / "model.safetensors"))


def dataset(root, split="test", content_hash=None):
    if content_hash is None:
        content_hash = read_text_split(root, split).content_hash
    return TextDatasetSource(name="reviews", split=split, root=root, content_hash=content_hash)


def plain_loop(directory, texts):
    """What a person would write: one text at a time, argmax of the logits."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(directory).eval()
    with torch.inference_mode():
        return [
            int(model(**tokenizer(text, truncation=True, max_length=16, return_tensors="pt")).logits.argmax())
            for text in texts
        ]


def test_it_equals_a_plain_transformers_loop_per_example(classifier, reviews):
    split = read_text_split(reviews, "test")
    expected = plain_loop(classifier, split.texts)
    label_of = {0: "neg", 1: "pos"}
    correct = sum(label_of[p] == label for p, label in zip(expected, split.labels, strict=True))

    result = evaluate_text_model(
        source(classifier), dataset(reviews), HarnessConfig(batch_size=8, num_workers=0, latency_samples=5)
    )

    assert result.predictions == expected
    assert len(set(expected)) == 2  # the model tells texts apart: a constant answer would prove little
    assert result.top1_correct == correct
    assert result.top1 == pytest.approx(100.0 * correct / len(split.texts))
    assert result.top1_ci95 == wilson_interval(correct, len(split.texts))
    predicted = [label_of[p] for p in expected]
    assert result.macro_f1 == pytest.approx(100 * f1_score(split.labels, predicted, average="macro"))
    confusion = np.array(result.confusion_matrix)
    assert confusion.sum() == len(split.texts) and confusion[:, 2].sum() == 0  # no "other" column hits
    assert result.per_class["pos"]["support"] == split.labels.count("pos")
    assert result.num_samples == 37 and result.class_names == ["neg", "pos"]
    assert result.throughput_ips > 0 and result.latency_p50_ms > 0


def test_long_texts_are_truncated_counted_and_the_tokenizer_recorded(classifier, reviews):
    split = read_text_split(reviews, "test")
    tokenizer = transformers.AutoTokenizer.from_pretrained(classifier)
    too_long = sum(len(tokenizer(text)["input_ids"]) > 16 for text in split.texts)

    result = evaluate_text_model(source(classifier), dataset(reviews), HarnessConfig(num_workers=0))

    assert result.truncated == too_long > 0
    recorded = result.provenance["tokenizer"]
    assert recorded["max_length"] == 16  # the tokenizer's limit, below the 32 position embeddings
    assert recorded["sha256"] == tokenizer_sha256(classifier)
    assert recorded["vocab_size"] == len(tokenizer)
    assert result.provenance["dataset_hash"] == split.content_hash
    assert result.provenance["architecture"] == "BertForSequenceClassification"


def test_batch_size_does_not_change_the_predictions(classifier, reviews):
    one = evaluate_text_model(
        source(classifier), dataset(reviews), HarnessConfig(batch_size=1, num_workers=0)
    )
    many = evaluate_text_model(
        source(classifier), dataset(reviews), HarnessConfig(batch_size=64, num_workers=0)
    )

    assert one.predictions == many.predictions
    assert one.loss == pytest.approx(many.loss, rel=1e-4)


def test_a_model_without_label_names_maps_integer_labels_to_outputs(tmp_path):
    model_dir = save_text_classifier(tmp_path / "unnamed", labels=None, train_steps=0)
    root = write_tsv(tmp_path / "ints" / "test.tsv", [("good film", "1"), ("bad film", "0")]).parent

    result = evaluate_text_model(source(model_dir), dataset(root), HarnessConfig(num_workers=0))

    assert result.class_names == ["0", "1"] and result.num_samples == 2


def test_a_bare_encoder_is_refused_not_run_with_a_random_head(tmp_path):
    encoder = save_text_encoder(tmp_path / "encoder")
    root = write_tsv(tmp_path / "ints" / "test.tsv", [("good film", "1"), ("bad film", "0")]).parent

    with pytest.raises(HarnessError, match=r"missing keys: .*classifier"):
        evaluate_text_model(source(encoder), dataset(root), HarnessConfig(num_workers=0))


def test_other_weights_than_registered_are_refused(classifier, reviews):
    wrong = TextModelSource(directory=classifier, weights_sha256="0" * 64)

    with pytest.raises(HarnessError, match="Weights sha256 mismatch"):
        evaluate_text_model(wrong, dataset(reviews), HarnessConfig(num_workers=0))


def test_labels_the_model_does_not_know_and_changed_rows_are_refused(classifier, tmp_path, reviews):
    odd = write_tsv(tmp_path / "odd" / "test.tsv", [("good", "pos"), ("meh", "neutral")]).parent
    with pytest.raises(
        HarnessError, match=re.escape("not among the model's label names, nor output indices 0..1: neutral")
    ):
        evaluate_text_model(source(classifier), dataset(odd), HarnessConfig(num_workers=0))

    with pytest.raises(HarnessError, match="changed since it was registered"):
        evaluate_text_model(
            source(classifier), dataset(reviews, content_hash="f" * 64), HarnessConfig(num_workers=0)
        )


def test_a_directory_without_a_tokenizer_is_refused_by_name(classifier, tmp_path, reviews):
    bare = tmp_path / "no-tokenizer"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((classifier / name).read_bytes())

    with pytest.raises(HarnessError, match="lacks a tokenizer file"):
        evaluate_text_model(source(bare), dataset(reviews), HarnessConfig(num_workers=0))
