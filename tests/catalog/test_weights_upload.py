"""Uploading weights: safetensors only, checked against the architecture, stored once, nothing half-written."""

import hashlib
import io
import pickle
from pathlib import Path

import pytest
import timm
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from safetensors.torch import save, save_file

from catalog.models import ModelEntry, WeightsFile


def state_dict_bytes(architecture: str = "test_resnet", num_classes: int = 5, seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    model = timm.create_model(architecture, num_classes=num_classes)
    return save({name: tensor.contiguous() for name, tensor in model.state_dict().items()})


@pytest.fixture
def tiny_model(make_model):
    return make_model(name="tiny", architecture="test_resnet", num_classes=5, input_size=[3, 32, 32])


def upload(client, data: bytes, filename: str = "model.safetensors", model_id: str = "demo/tiny", **extra):
    file = SimpleUploadedFile(filename, data, content_type="application/octet-stream")
    return client.post(f"/api/v1/models/{model_id}/weights/", {"file": file, **extra}, format="multipart")


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_a_valid_file_is_stored_once_by_content(staff_client, tiny_model, make_model, settings):
    data = state_dict_bytes()
    first = upload(staff_client, data)
    assert first.status_code == 201, first.json()
    sha = hashlib.sha256(data).hexdigest()
    assert first.json()["sha256"] == sha and first.json()["size_bytes"] == len(data)
    make_model(name="twin", architecture="test_resnet", num_classes=5)
    assert upload(staff_client, data, model_id="demo/twin").status_code == 201
    assert upload(staff_client, data).status_code == 201
    assert WeightsFile.objects.count() == 1
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / f"weights/{sha[:2]}/{sha}.safetensors"]
    model = ModelEntry.objects.get(name="tiny")
    assert (
        model.weights.sha256 == sha
        and model.weights_size_bytes == len(data)
        and model.source_kind == "upload"
    )
    assert len(model.revision) == 40


def test_the_revision_changes_with_the_weights(staff_client, tiny_model):
    upload(staff_client, state_dict_bytes(seed=0))
    before = ModelEntry.objects.get(name="tiny").revision
    upload(staff_client, state_dict_bytes(seed=1))
    assert ModelEntry.objects.get(name="tiny").revision != before


@pytest.mark.parametrize("filename", ["model.bin", "model.pt", "model.pth", "checkpoint.ckpt"])
def test_pickle_files_are_refused(staff_client, tiny_model, settings, filename):
    buffer = io.BytesIO()
    torch.save(timm.create_model("test_resnet", num_classes=5).state_dict(), buffer)
    response = upload(staff_client, buffer.getvalue(), filename=filename)
    assert response.status_code == 400
    assert "pickle-based checkpoint" in response.json()["error"]
    assert stored_files(settings) == [] and WeightsFile.objects.count() == 0


def test_a_pickle_disguised_as_safetensors_is_refused(staff_client, tiny_model, settings):
    response = upload(staff_client, pickle.dumps({"a": 1}, protocol=4), filename="model.safetensors")
    assert response.status_code == 400
    assert "pickle-based checkpoint" in response.json()["error"]
    assert stored_files(settings) == []


def test_a_pickle_is_converted_once_when_asked(staff_client, tiny_model):
    torch.manual_seed(0)
    state = timm.create_model("test_resnet", num_classes=5).state_dict()
    buffer = io.BytesIO()
    torch.save({"state_dict": state}, buffer)
    response = upload(staff_client, buffer.getvalue(), filename="model.pth", convert_pickle="true")
    assert response.status_code == 201, response.json()
    assert response.json()["tensor_count"] == len(state)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "Truncated"),
        (lambda data: data[:4], "shorter than the 8-byte header"),
        (lambda data: data[:8] + b"{not json" + data[17:], "not valid JSON"),
        (lambda data: (10**12).to_bytes(8, "little") + data[8:], "the header claims"),
        (lambda data: data + b"\0" * 16, "padded"),
    ],
)
def test_a_corrupted_file_is_refused(staff_client, tiny_model, settings, damage, message):
    response = upload(staff_client, damage(state_dict_bytes()))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert stored_files(settings) == [] and WeightsFile.objects.count() == 0


def test_wrong_shapes_are_refused_with_the_key_lists(staff_client, tiny_model, settings):
    response = upload(staff_client, state_dict_bytes(num_classes=10))
    assert response.status_code == 400
    body = response.json()
    assert body["detail"]["mismatched"] == [
        "fc.bias: expected (5,), got (10,)",
        "fc.weight: expected (5, 96), got (10, 96)",
    ]
    assert body["detail"]["missing"] == [] and body["detail"]["unexpected"] == []
    assert "do not fit test_resnet with num_classes=5" in body["error"]
    assert stored_files(settings) == []


def test_missing_and_unexpected_keys_are_listed(staff_client, tiny_model):
    torch.manual_seed(0)
    state = dict(timm.create_model("test_resnet", num_classes=5).state_dict())
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(2)
    response = upload(staff_client, save({k: v.contiguous() for k, v in state.items()}))
    assert response.status_code == 400
    assert response.json()["detail"]["missing"] == ["fc.bias"]
    assert response.json()["detail"]["unexpected"] == ["extra.weight"]


def test_an_oversized_file_is_refused(staff_client, tiny_model, settings):
    settings.MAX_UPLOAD_BYTES = 10_000
    response = upload(staff_client, state_dict_bytes())
    assert response.status_code == 413
    assert "over the upload limit" in response.json()["error"]
    assert stored_files(settings) == [] and WeightsFile.objects.count() == 0


def test_uploads_need_staff(api_client, outsider_client, tiny_model, settings):
    assert upload(api_client, state_dict_bytes()).status_code == 401
    assert upload(outsider_client, state_dict_bytes()).status_code == 403
    assert stored_files(settings) == []


def test_a_leftover_partial_file_is_replaced_not_served(staff_client, tiny_model, settings):
    data = state_dict_bytes()
    sha = hashlib.sha256(data).hexdigest()
    leftover = Path(settings.MEDIA_ROOT) / f"weights/{sha[:2]}/{sha}.safetensors"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(data[:100])  # an interrupted earlier write
    assert upload(staff_client, data).status_code == 201
    assert leftover.read_bytes() == data


def test_the_cli_registers_a_local_file(tmp_path, tiny_model):
    from django.core.management import call_command

    path = tmp_path / "weights.safetensors"
    torch.manual_seed(0)
    save_file(dict(timm.create_model("test_resnet", num_classes=5).state_dict()), str(path))
    call_command("register_weights", "demo/tiny", str(path), stdout=io.StringIO())
    model = ModelEntry.objects.get(name="tiny")
    assert (
        model.source_kind == "local" and model.weights.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    )
