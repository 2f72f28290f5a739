"""The text starter bundle builder: its files, params, layer groups, and the bundle's own strategy and sha256 code.

A real tiny BERT (tests/text_models.py, WordPiece trained here) stands for the catalog's text models. The
bundle's train.py is imported from an unzipped bundle, as its user runs it, to check which parameters each
strategy trains and that a file whose sha256 differs is refused before anything is written.
"""

import dataclasses
import hashlib
import importlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from core.starter import BundleConfigError
from core.starter.textbuilder import (
    TEXT_ENTRY_NAMES,
    TEXTDATA_SOURCE,
    TextModelRecord,
    build_text_bundle,
    text_bundle_cache_key,
    text_bundle_filename,
    text_layer_groups,
    validate_text_target,
)
from core.textdata import read_text_dataset
from core.textmodels import inspect_text_model
from tests.text_models import save_text_classifier, save_text_encoder

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _record(directory: Path, task: str, **overrides) -> TextModelRecord:
    info = inspect_text_model(directory, task=task)
    names = [*info.files, "model.safetensors"]
    files = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in names}
    fields = {
        "model_id": "demo/tiny-sentiment",
        "task": task,
        "architecture": info.architecture,
        "model_type": info.model_type,
        "config": json.loads((directory / "config.json").read_text(encoding="utf-8")),
        "files": files,
        "num_params": info.num_params,
        "max_sequence_length": info.max_sequence_length,
        "vocab_size": info.vocab_size,
        "label_names": info.label_names,
        "license": "mit",
        "title": "Tiny sentiment BERT",
        "summary": "A toy BERT for tests.",
        "pretrained_on": "toy reviews",
        "base_model": "",
        "revision": REVISION,
        "hub_url": "http://127.0.0.1:8000",
        "hf_repo_id": "",
        "hf_revision": "",
    }
    return TextModelRecord(**{**fields, **overrides})


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier")


@pytest.fixture(scope="module")
def record(classifier_dir) -> TextModelRecord:
    return _record(classifier_dir, "text-classification")


def unzip(data: bytes, into: Path) -> Path:
    zipfile.ZipFile(io.BytesIO(data)).extractall(into)
    return into


def params_of(data: bytes) -> dict:
    return yaml.safe_load(zipfile.ZipFile(io.BytesIO(data)).read("params.yaml"))


def test_the_bundle_holds_its_fixed_files_deterministically(record):
    target = validate_text_target({"num_classes": 2}, record)
    data = build_text_bundle(record, target)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == list(TEXT_ENTRY_NAMES) == sorted(TEXT_ENTRY_NAMES)
    assert build_text_bundle(record, target) == data
    # The hub's own reader, byte for byte: a bundle and a re-check read the same rows.
    assert archive.read("textdata.py") == TEXTDATA_SOURCE.read_bytes()
    assert text_bundle_filename(record, target) == "tiny-sentiment-starter.zip"
    changed = validate_text_target({"num_classes": 2, "strategy": "linear_probe"}, record)
    assert text_bundle_cache_key(record, changed) != text_bundle_cache_key(record, target)


def test_the_sample_data_is_a_valid_two_class_text_dataset(record, tmp_path):
    project = unzip(build_text_bundle(record, validate_text_target({"num_classes": 2}, record)), tmp_path)
    dataset = read_text_dataset(project / "data")
    assert dataset.class_names == ("neg", "pos")
    assert dataset.split_sizes == {"test": 60, "train": 160}
    assert [name for name, _ in dataset.unused] == ["README.md"]


def test_params_pin_every_file_and_carry_the_choices(record):
    target = validate_text_target(
        {"class_names": "bad,good", "strategy": "full_finetune", "epochs": 6, "max_length": 12}, record
    )
    params = params_of(build_text_bundle(record, target))
    assert params["model"]["files"] == record.files
    assert params["model"]["sha256"] == record.files["model.safetensors"]
    assert params["model"]["revision"] == REVISION and params["model"]["hub_url"] == "http://127.0.0.1:8000"
    assert params["data"]["max_length"] == 12
    assert params["target"] == {"num_classes": 2, "class_names": ["bad", "good"]}
    train = params["train"]
    assert (train["strategy"], train["epochs"], train["head_epochs"]) == ("full_finetune", 6, 2)
    assert train["lr_backbone"] == 5e-5  # the default: pretrained transformers want a low rate
    # Without max_length: the model's limit (16 tokens here), at most 128.
    default = params_of(build_text_bundle(record, validate_text_target({"num_classes": 2}, record)))
    assert default["data"]["max_length"] == record.max_sequence_length == 16


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"num_classes": 2, "max_length": 17}, "max_length"),  # over the model's 16 tokens
        ({"num_classes": 2, "augmentation": "light"}, "augmentation"),  # an image option
        ({"num_classes": 3, "class_names": "a,b"}, "class_names"),
        ({"num_classes": 2, "class_names": "a,a"}, "class_names"),
        ({"num_classes": 2, "epochs": 1, "warmup_epochs": 2}, "warmup_epochs"),
        ({}, "num_classes"),
    ],
)
def test_a_bad_target_names_its_field(record, raw, field):
    with pytest.raises(BundleConfigError) as caught:
        validate_text_target(raw, record)
    assert caught.value.field == field


def test_a_model_without_weights_or_tokenizer_is_refused(record):
    without_weights = {name: sha for name, sha in record.files.items() if name != "model.safetensors"}
    with pytest.raises(BundleConfigError, match="no weights"):
        validate_text_target({"num_classes": 2}, dataclasses.replace(record, files=without_weights))
    with pytest.raises(BundleConfigError, match="config or tokenizer"):
        validate_text_target(
            {"num_classes": 2},
            dataclasses.replace(record, files={"model.safetensors": "a" * 64, "config.json": "b" * 64}),
        )


def test_layer_groups_are_the_encoders_embeddings_layers_and_what_follows(record):
    config = {**record.config, "num_hidden_layers": 6}
    layers = text_layer_groups(config, 3)
    names = [group["name"] for group in layers["groups"]]
    assert names == ["embeddings", *[f"encoder.layer.{i}" for i in range(6)], "pooler"]
    assert [group["modules"] for group in layers["groups"]][1] == ["bert.encoder.layer.0"]
    # The last third of the layers (2 of 6) and the pooler after them are late; the rest is early.
    assert [group["early"] for group in layers["groups"]] == [
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert layers["classifier"] == ["classifier"]


def test_the_readme_gives_a_time_estimate_and_the_cpu_torch_install(record):
    target = validate_text_target({"num_classes": 2}, record)
    readme = zipfile.ZipFile(io.BytesIO(build_text_bundle(record, target))).read("README.md").decode()
    assert "from its size" in readme and "texts/s" in readme
    assert (
        f"pip install torch=={torch.__version__.split('+')[0]} --index-url https://download.pytorch.org/whl/cpu"
        in readme
    )
    measured = dataclasses.replace(
        record,
        verified=[
            {"dataset": "movies", "split": "test", "top1": 80.0, "throughput_ips": 250.0, "device": "cpu"}
        ],
    )
    readme = zipfile.ZipFile(io.BytesIO(build_text_bundle(measured, target))).read("README.md").decode()
    assert "measured this model at 250.0 texts/s" in readme
    # 1,000 texts at full_finetune's cost (3 passes + 0.2 validation) at 250 texts/s: about 13 s an epoch.
    assert "roughly 13 s per epoch with `full_finetune`" in readme


# ---------------------------------------------------------------------------------------------------------------
# The bundle's own train.py, imported from an unzipped bundle


@pytest.fixture
def bundle_train(record, tmp_path):
    """The unzipped bundle's train module (and its common), removed from sys.modules afterwards: the image
    bundle's scripts have the same module names."""
    project = unzip(
        build_text_bundle(record, validate_text_target({"num_classes": 2}, record)), tmp_path / "b"
    )
    saved = {name: sys.modules.pop(name) for name in ("common", "train", "textdata") if name in sys.modules}
    sys.path.insert(0, str(project))
    try:
        yield importlib.import_module("train"), yaml.safe_load((project / "params.yaml").read_text())
    finally:
        sys.path.remove(str(project))
        for name in ("common", "train", "textdata"):
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def _trainable_groups(train_module, model, owner, phase, params) -> set:
    train_module.configure_phase(model, owner, phase, params, False)
    return {owner[name] for name, param in model.named_parameters() if param.requires_grad}


def test_each_strategy_trains_the_groups_it_names(bundle_train, classifier_dir):
    train_module, params = bundle_train
    model = train_module.build_model(classifier_dir, ["neg", "pos"], pretrained=True)
    owner = train_module.assign_parameters(model, params["layers"])
    groups = params["layers"]["groups"]
    late = {i for i, group in enumerate(groups) if not group["early"]}
    assert [group["name"] for group in groups] == ["embeddings", "encoder.layer.0", "pooler"] and late == {
        1,
        2,
    }

    def phases(strategy):
        return train_module.plan_phases({**params["train"], "strategy": strategy}, groups, False)

    (probe,) = phases("linear_probe")
    assert _trainable_groups(train_module, model, owner, probe, params) == {None}  # the head only
    head, unfreeze = phases("freeze_then_unfreeze")
    assert _trainable_groups(train_module, model, owner, head, params) == {None}
    assert _trainable_groups(train_module, model, owner, unfreeze, params) == {None, *late}
    (full,) = phases("full_finetune")
    assert _trainable_groups(train_module, model, owner, full, params) == {None, 0, 1, 2}
    # full_finetune: each group's rate is layer_decay times the next one's; the head at lr_head.
    rates = [
        train_module.group_lr({**params["train"], "strategy": "full_finetune"}, i, 3, False) for i in range(3)
    ]
    assert rates == pytest.approx([5e-5 * 0.9**2, 5e-5 * 0.9, 5e-5])


def test_the_pretrained_encoder_is_loaded_and_the_head_is_new(bundle_train, classifier_dir):
    import transformers

    train_module, _ = bundle_train
    model = train_module.build_model(classifier_dir, ["a", "b", "c"], pretrained=True)
    source = transformers.AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"} and model.classifier.out_features == 3
    for name, tensor in source.bert.state_dict().items():
        assert torch.equal(model.bert.state_dict()[name], tensor), name
    scratch = train_module.build_model(classifier_dir, ["a", "b", "c"], pretrained=False)
    embeddings = "embeddings.word_embeddings.weight"
    assert not torch.equal(scratch.bert.state_dict()[embeddings], source.bert.state_dict()[embeddings])


def test_a_file_whose_sha256_differs_is_refused(bundle_train, classifier_dir, tmp_path):
    train_module, params = bundle_train
    assert train_module.fetch_pretrained(params, classifier_dir, "hub") == classifier_dir
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in classifier_dir.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    (tampered / "tokenizer.json").write_bytes((classifier_dir / "tokenizer.json").read_bytes() + b" ")
    with pytest.raises(SystemExit, match="sha256 mismatch") as caught:
        train_module.fetch_pretrained(params, tampered, "hub")
    assert "tokenizer.json" in str(caught.value)


def test_a_feature_extraction_encoder_gets_a_bundle_too(tmp_path):
    encoder = _record(save_text_encoder(tmp_path / "encoder"), "feature-extraction")
    params = params_of(build_text_bundle(encoder, validate_text_target({"num_classes": 4}, encoder)))
    assert params["model"]["task"] == "feature-extraction" and params["layers"]["classifier"] == [
        "classifier"
    ]
    assert params["layers"]["groups"][0]["name"] == "embeddings"
