"""Registering transformers model directories as text models, and loading them back with transformers through
Depot's Hugging Face protocol subset on a live server."""

import html
import json
import subprocess
import sys
import textwrap
import urllib.request
from io import StringIO

import pytest
import torch
import transformers
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from catalog import text_services
from catalog.models import ModelEntry, RepoFile
from core.weights import sha256_file
from tests.catalog.api.test_hfcompat import hub_subprocess_env
from tests.text_models import save_text_classifier, save_text_encoder

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_text_encoder(tmp_path_factory.mktemp("text") / "encoder")


def register(directory, name="sentiment", **fields):
    return text_services.text_model_register(namespace="demo", name=name, directory=directory, **fields)


def test_it_registers_a_classifier_with_its_metadata_files_and_weights(classifier_dir):
    model = register(classifier_dir, license="apache-2.0", base_model="demo/encoder")

    reference = transformers.AutoModelForSequenceClassification.from_pretrained(classifier_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(classifier_dir)
    assert (model.domain, model.task, model.library) == ("nlp", "text-classification", "transformers")
    assert model.architecture == "BertForSequenceClassification"
    assert model.num_params == sum(p.numel() for p in reference.parameters())
    assert model.num_classes == 2 and model.label_names == ["neg", "pos"]
    assert model.weights.sha256 == sha256_file(classifier_dir / "model.safetensors")
    assert model.weights_size_bytes == (classifier_dir / "model.safetensors").stat().st_size
    assert model.license == "apache-2.0"
    details = model.text_details
    assert details.max_sequence_length == 16 and details.vocab_size == len(tokenizer)
    assert details.base_model == "demo/encoder" and details.model_type == "bert"
    stored = {f.filename: f for f in RepoFile.objects.filter(model=model)}
    assert sorted(stored) == ["config.json", "tokenizer.json", "tokenizer_config.json"]
    assert stored["tokenizer.json"].file.read() == (classifier_dir / "tokenizer.json").read_bytes()


def test_an_encoder_registers_for_feature_extraction_but_not_as_a_classifier(encoder_dir):
    with pytest.raises(ValidationError, match="missing keys") as caught:
        register(encoder_dir, name="not-a-classifier")
    assert "directory" in caught.value.message_dict
    assert not ModelEntry.objects.filter(name="not-a-classifier").exists()

    model = register(encoder_dir, name="encoder", task="feature-extraction")

    assert (
        model.task == "feature-extraction" and model.num_classes is None and model.architecture == "BertModel"
    )


def test_pickles_and_missing_files_are_refused_with_nothing_stored(classifier_dir, tmp_path):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (pickled / name).write_bytes((classifier_dir / name).read_bytes())
    torch.save({"w": torch.zeros(1)}, pickled / "pytorch_model.bin")
    with pytest.raises(ValidationError, match=r"no model.safetensors \(found pytorch_model.bin"):
        register(pickled)

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((classifier_dir / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(ValidationError, match=r"model\.safetensors: Not a safetensors file"):
        register(broken)
    assert not ModelEntry.objects.exists() and not RepoFile.objects.exists()


def test_the_revision_follows_the_repository_files(classifier_dir, tmp_path):
    first = register(classifier_dir, name="one")
    other = tmp_path / "other"
    other.mkdir()
    for path in classifier_dir.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 12}))

    second = register(other, name="two")

    assert second.weights.sha256 == first.weights.sha256 and second.revision != first.revision


def test_deleting_an_entry_removes_its_files_once_no_other_entry_shares_them(classifier_dir):
    from django.core.files.storage import default_storage

    from catalog import services

    first, second = register(classifier_dir, name="first"), register(classifier_dir, name="second")
    names = sorted(RepoFile.objects.filter(model=first).values_list("file", flat=True))
    assert names == sorted(RepoFile.objects.filter(model=second).values_list("file", flat=True))

    services.model_delete(model=first)
    assert all(default_storage.exists(name) for name in names)
    services.model_delete(model=second)
    assert not any(default_storage.exists(name) for name in names)


def test_the_command_registers_and_names_a_refusal(classifier_dir, tmp_path):
    out = StringIO()
    call_command("register_text_model", "demo/cli", str(classifier_dir), "--license", "mit", stdout=out)
    assert "BertForSequenceClassification" in out.getvalue() and "16 tokens" in out.getvalue()

    with pytest.raises(CommandError, match=r"directory: .* is not a directory"):
        call_command("register_text_model", "demo/none", str(tmp_path / "nothing"))


def test_the_api_and_the_model_page_show_the_text_details(client, classifier_dir):
    model = register(classifier_dir, base_model="demo/encoder")

    body = client.get("/api/v1/models/demo/sentiment/").json()
    page = client.get(model.get_absolute_url()).content.decode()

    assert body["domain"] == "nlp" and body["num_params"] == model.num_params
    assert body["text"] == {
        "model_type": "bert", "max_sequence_length": 16, "vocab_size": model.text_details.vocab_size,
        "tokenizer_sha256": model.text_details.tokenizer_sha256, "base_model": "demo/encoder",
    }  # fmt: skip
    assert "<th>Max sequence length</th><td>16 tokens</td>" in page and "demo/encoder" in page


def test_model_info_lists_the_stored_files(client, classifier_dir):
    register(classifier_dir)

    body = client.get("/api/models/demo/sentiment").json()

    assert [s["rfilename"] for s in body["siblings"]] == [
        "README.md", "config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors",
    ]  # fmt: skip
    served = client.get("/demo/sentiment/resolve/main/config.json")
    assert served.content == (classifier_dir / "config.json").read_bytes()
    assert served["X-Repo-Commit"] == body["sha"]


CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch, transformers
    tokenizer = transformers.AutoTokenizer.from_pretrained("demo/sentiment")
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained("demo/sentiment").eval()
    encoder = transformers.AutoModel.from_pretrained("demo/sentiment").eval()
    inputs = tokenizer(sys.argv[1:], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = classifier(**inputs).logits
        hidden = encoder(**inputs).last_hidden_state
    print(json.dumps({"logits": logits.tolist(), "hidden": hidden[:, 0].tolist(),
                      "labels": classifier.config.id2label, "ids": inputs["input_ids"].tolist()}))
    """
)


@pytest.mark.django_db(transaction=True)
def test_transformers_from_pretrained_loads_from_a_live_depot(live_server, classifier_dir, tmp_path):
    register(classifier_dir)
    texts = ["a good film", "dull and grim acting"]

    result = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, *texts],
        env={**hub_subprocess_env(live_server.url, tmp_path), "HF_HUB_DISABLE_XET": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    tokenizer = transformers.AutoTokenizer.from_pretrained(classifier_dir)
    inputs = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = (
            transformers.AutoModelForSequenceClassification.from_pretrained(classifier_dir)
            .eval()(**inputs)
            .logits
        )
        hidden = transformers.AutoModel.from_pretrained(classifier_dir).eval()(**inputs).last_hidden_state
    assert payload["ids"] == inputs["input_ids"].tolist()
    assert torch.equal(torch.tensor(payload["logits"]), logits)
    assert torch.equal(torch.tensor(payload["hidden"]), hidden[:, 0])
    assert payload["labels"] == {"0": "neg", "1": "pos"}


@pytest.mark.django_db(transaction=True)
def test_the_model_pages_use_it_snippet_runs_verbatim_against_a_live_depot(
    live_server, classifier_dir, tmp_path
):
    model = register(classifier_dir)
    page = urllib.request.urlopen(f"{live_server.url}{model.get_absolute_url()}").read().decode()
    snippet = html.unescape(page.split("<h2>Use it</h2>", 1)[1].split("<code>", 1)[1].split("</code>", 1)[0])
    assert "timm" not in snippet and f'revision="{model.revision}"' in snippet

    check = "\nprint(type(model).__name__, tokenizer('a good film')['input_ids'])"
    result = subprocess.run(
        [sys.executable, "-c", snippet + check],
        env={**hub_subprocess_env(live_server.url, tmp_path), "HF_HUB_DISABLE_XET": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    expected_ids = transformers.AutoTokenizer.from_pretrained(classifier_dir)("a good film")["input_ids"]
    assert result.stdout.strip().splitlines()[-1] == f"BertForSequenceClassification {expected_ids}"
