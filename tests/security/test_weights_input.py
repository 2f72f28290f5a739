"""Hostile weights uploads (staff): refused with a 400 naming the problem; no row, no stored file."""

import json
import pickle
import struct

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from safetensors.torch import save

from catalog.models import ModelEntry, WeightsFile
from core import weights
from tests.security.conftest import assert_error_shape

ONE_F32 = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}


def safetensors_bytes(header: dict | bytes, data: bytes = b"\0\0\0\0") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def torch_zip_checkpoint() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buffer)
    return buffer.getvalue()


def legacy_pickle() -> bytes:
    return pickle.dumps({"w": [0.0]}, protocol=2)


HOSTILE_FILES = {
    "deeply nested header": (safetensors_bytes(b'{"w":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "nest"),
    "__metadata__ is a list": (safetensors_bytes({"__metadata__": ["x"], **ONE_F32}), "__metadata__"),
    "__metadata__ value is a number": (safetensors_bytes({"__metadata__": {"a": 1}, **ONE_F32}), "strings"),
    "__metadata__ value is an object": (
        safetensors_bytes({"__metadata__": {"a": {"b": "c"}}, **ONE_F32}),
        "strings",
    ),
    "duplicate tensor key": (
        safetensors_bytes(
            b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        ),
        "twice",
    ),
    "NaN tensor": (safetensors_bytes(ONE_F32, struct.pack("<f", float("nan"))), "NaN"),
    "infinite F16 tensor": (
        safetensors_bytes({"w": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}}, b"\x00\x7c"),
        "infinite",
    ),
    "torch zip checkpoint": (torch_zip_checkpoint(), "pickle"),
    "legacy pickle stream": (legacy_pickle(), "pickle"),
    "header longer than the file": (struct.pack("<Q", 10_000) + b"{}", "truncated"),
    "shorter than the length prefix": (b"\x01\x02", "shorter"),
    "header not JSON": (safetensors_bytes(b"\xff\xfe not json"), "JSON"),
    "header is a JSON list": (safetensors_bytes(b"[1, 2]"), "object"),
    "offsets overlap": (
        safetensors_bytes(
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            }
        ),
        "overlaps",
    ),
    "trailing bytes": (safetensors_bytes(ONE_F32, b"\0" * 8), "padded"),
    "unknown dtype": (
        safetensors_bytes({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}),
        "dtype",
    ),
    "negative shape": (
        safetensors_bytes({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}),
        "shape",
    ),
}


@pytest.fixture
def plain_model(make_model):
    # library "other": the file is checked on its own, not against a timm architecture.
    return make_model(name="plain", library="other")


def post_weights(client, data: bytes, filename: str = "model.safetensors", model_id: str = "demo/plain"):
    file = SimpleUploadedFile(filename, data, content_type="application/octet-stream")
    return client.post(f"/api/v1/models/{model_id}/weights/", {"file": file}, format="multipart")


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_weights_are_refused_and_nothing_is_stored(staff_client, plain_model, nothing_stored, case):
    data, mentions = HOSTILE_FILES[case]
    assert_error_shape(post_weights(staff_client, data), 400, mentions=mentions)
    assert WeightsFile.objects.count() == 0
    assert ModelEntry.objects.get(pk=plain_model.pk).weights_id is None
    nothing_stored()


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_the_same_files_are_refused_by_the_pure_checker(tmp_path, case):
    path = tmp_path / "model.safetensors"
    path.write_bytes(HOSTILE_FILES[case][0])

    def check() -> None:
        weights.refuse_pickle(path, original_name=path.name)
        weights.inspect_safetensors(path)

    with pytest.raises(weights.WeightsError):
        check()


def test_a_valid_file_whose_header_length_ends_in_0x80_is_accepted(staff_client, plain_model):
    for padding in range(256):
        data = save({"w": torch.ones(3)}, metadata={"pad": "x" * padding})
        if data[0] == 0x80:
            break
    assert data[0] == 0x80  # the low byte of the header length, the first byte of the file
    response = post_weights(staff_client, data)
    assert response.status_code == 201, response.json()
    assert WeightsFile.objects.count() == 1


def test_a_pickle_named_safetensors_is_still_a_pickle(staff_client, plain_model, nothing_stored):
    assert_error_shape(
        post_weights(staff_client, torch_zip_checkpoint(), "x.safetensors"), 400, mentions="pickle"
    )
    nothing_stored()


def test_an_oversize_upload_is_a_413_and_leaves_nothing(staff_client, plain_model, settings, nothing_stored):
    settings.MAX_UPLOAD_BYTES = 1_000
    data = save({"w": torch.ones(1000)})
    assert_error_shape(post_weights(staff_client, data), 413, mentions="upload limit")
    assert WeightsFile.objects.count() == 0
    nothing_stored()


@pytest.mark.parametrize(("client_name", "status"), [("api_client", 401), ("outsider_client", 403)])
def test_uploads_need_a_staff_account(request, plain_model, nothing_stored, client_name, status):
    client = request.getfixturevalue(client_name)
    assert_error_shape(post_weights(client, save({"w": torch.ones(2)})), status)
    nothing_stored()
