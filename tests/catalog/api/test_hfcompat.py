"""The Hugging Face protocol subset: huggingface_hub and timm, in a subprocess, download from a live Depot."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from catalog import services
from catalog.models import ModelEntry, SourceKind

MODEL_FIELDS = {
    "architecture": "test_resnet",
    "num_classes": 5,
    "label_names": ["zero", "one", "two", "three", "four"],
    "input_size": [3, 32, 32],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "center",
    "license": "mit",
    "tags": "digits,test",
}


@pytest.fixture
def served_model(make_model, tmp_path):
    model = make_model(name="tiny", **MODEL_FIELDS)
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=5).state_dict(), str(path))
    services.weights_attach(model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL)
    model.refresh_from_db()
    return model, path


def test_model_info_has_the_fields_huggingface_hub_reads(client, served_model):
    model, _ = served_model
    body = client.get("/api/models/demo/tiny").json()
    assert body["id"] == "demo/tiny" and body["sha"] == model.revision
    assert body["pipeline_tag"] == "image-classification" and body["library_name"] == "timm"
    assert [s["rfilename"] for s in body["siblings"]] == ["README.md", "config.json", "model.safetensors"]
    assert "license:mit" in body["tags"] and body["cardData"]["license"] == "mit"
    assert client.get(f"/api/models/demo/tiny/revision/{model.revision}").json()["sha"] == model.revision
    missing_revision = client.get("/api/models/demo/tiny/revision/" + "0" * 40)
    assert missing_revision.status_code == 404 and missing_revision["X-Error-Code"] == "RevisionNotFound"
    assert client.get("/api/models/demo/nothing")["X-Error-Code"] == "RepoNotFound"


def test_resolve_serves_files_with_hub_headers(client, served_model):
    model, path = served_model
    data = path.read_bytes()
    head = client.head("/demo/tiny/resolve/main/model.safetensors")
    assert head.status_code == 200
    assert head["X-Repo-Commit"] == model.revision
    assert head["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert head["Content-Length"] == str(len(data)) and head["Accept-Ranges"] == "bytes"
    body = b"".join(client.get(f"/demo/tiny/resolve/{model.revision}/model.safetensors").streaming_content)
    assert body == data
    config = json.loads(client.get("/demo/tiny/resolve/main/config.json").content)
    assert config["architecture"] == "test_resnet" and config["num_classes"] == 5
    assert config["label_names"] == MODEL_FIELDS["label_names"]
    assert (
        config["pretrained_cfg"]["input_size"] == [3, 32, 32]
        and config["pretrained_cfg"]["std"] == [0.25] * 3
    )
    assert client.get("/demo/tiny/resolve/main/README.md").content.startswith(b"---\nlibrary_name: timm")


def test_resolve_supports_byte_ranges(client, served_model):
    _, path = served_model
    data = path.read_bytes()
    url = "/demo/tiny/resolve/main/model.safetensors"
    partial = client.get(url, HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206 and partial["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert b"".join(partial.streaming_content) == data[10:20]
    tail = client.get(url, HTTP_RANGE=f"bytes={len(data) - 5}-")
    assert b"".join(tail.streaming_content) == data[-5:]
    suffix = client.get(url, HTTP_RANGE="bytes=-7")
    assert b"".join(suffix.streaming_content) == data[-7:]
    unsatisfiable = client.get(url, HTTP_RANGE=f"bytes={len(data) + 10}-")
    assert unsatisfiable.status_code == 416 and unsatisfiable["Content-Range"] == f"bytes */{len(data)}"


def test_resolve_errors_use_hub_error_codes(client, served_model):
    assert client.get("/demo/tiny/resolve/main/pytorch_model.bin")["X-Error-Code"] == "EntryNotFound"
    assert client.get("/demo/tiny/resolve/" + "f" * 40 + "/config.json")["X-Error-Code"] == "RevisionNotFound"
    assert client.get("/demo/none/resolve/main/config.json")["X-Error-Code"] == "RepoNotFound"
    assert client.post("/demo/tiny/resolve/main/config.json").status_code == 405


def test_downloads_are_counted_once_per_weights_download(client, served_model):
    client.head("/demo/tiny/resolve/main/model.safetensors")
    client.get("/demo/tiny/resolve/main/config.json")
    b"".join(client.get("/demo/tiny/resolve/main/model.safetensors").streaming_content)
    b"".join(
        client.get("/demo/tiny/resolve/main/model.safetensors", HTTP_RANGE="bytes=100-").streaming_content
    )
    assert ModelEntry.objects.get(name="tiny").downloads == 1
    assert client.get("/api/v1/models/demo/tiny/").json()["downloads"] == 1


CLIENT_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import timm, torch
    from huggingface_hub import hf_hub_download
    model = timm.create_model("hf-hub:demo/tiny", pretrained=True).eval()
    torch.manual_seed(123)
    images = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        logits = model(images)
    path = hf_hub_download("demo/tiny", "model.safetensors")
    retargeted = timm.create_model("hf-hub:demo/tiny", pretrained=True, num_classes=3)  # a new head for transfer
    print(json.dumps({
        "logits": logits.tolist(),
        "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
        "label_names": model.pretrained_cfg.get("label_names"),
        "input_size": list(model.pretrained_cfg["input_size"]),
        "new_head": list(retargeted.get_classifier().weight.shape),
    }))
    """
)


def hub_subprocess_env(live_server_url: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        {
            "HF_ENDPOINT": live_server_url,
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
    )
    return env


@pytest.mark.django_db(transaction=True)
def test_timm_and_huggingface_hub_download_from_depot(live_server, served_model, tmp_path):
    _, path = served_model
    result = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT],
        env=hub_subprocess_env(live_server.url, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert payload["label_names"] == MODEL_FIELDS["label_names"] and payload["input_size"] == [3, 32, 32]
    assert payload["new_head"][0] == 3
    torch.manual_seed(0)
    reference = timm.create_model("test_resnet", num_classes=5).eval()
    torch.manual_seed(123)
    with torch.inference_mode():
        expected = reference(torch.randn(4, 3, 32, 32))
    assert torch.equal(torch.tensor(payload["logits"]), expected)


def test_config_json_of_an_old_row_leaves_out_the_model_args_the_allow_list_refuses(client, served_model):
    """A row stored before core/model_args.py's allow-list: its refused arguments never reach a client's timm."""
    stored = {"drop_rate": 0.1, "checkpoint_path": "/etc/passwd", "pretrained_cfg_overlay": {"file": "/x"},
              "in_chans": True, "made_up": 1}  # fmt: skip
    ModelEntry.objects.filter(namespace="demo", name="tiny").update(
        model_args=stored
    )  # bypasses the write check
    config = json.loads(client.get("/demo/tiny/resolve/main/config.json").content)
    assert config["model_args"] == {"drop_rate": 0.1}
    ModelEntry.objects.filter(namespace="demo", name="tiny").update(model_args={"made_up": 1})
    assert "model_args" not in json.loads(client.get("/demo/tiny/resolve/main/config.json").content)
