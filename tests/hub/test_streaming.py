"""Weights downloads stream under ASGI (what `make run` serves) without reading the file into memory first,
and stay plain (sendfile-able) under WSGI."""

import warnings

import pytest
import torch
from django.http import FileResponse
from django.test import AsyncClient
from safetensors.torch import save_file

from catalog import services
from catalog.models import ModelEntry, SourceKind
from tests.event_loops import run_in_a_loop_of_its_own

URL = "/demo/streamed/resolve/main/model.safetensors"


@pytest.fixture
def weights(make_model, tmp_path) -> bytes:
    model = make_model(name="streamed", library="other")
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.arange(300_000, dtype=torch.float32)}, str(path))  # over one 1 MiB chunk
    services.weights_attach(model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL)
    return path.read_bytes()


async def download(headers: dict[str, str]) -> tuple[int, bool, bytes, dict]:
    response = await AsyncClient().get(URL, headers=headers)
    body = b"".join([chunk async for chunk in response.streaming_content])
    return response.status_code, response.is_async, body, dict(response.headers)


@pytest.mark.django_db(transaction=True)  # the view runs in the helper's thread: it must see the test's rows
@pytest.mark.parametrize(
    ("range_header", "status", "part"),
    [(None, 200, slice(None)), ("bytes=10-1048700", 206, slice(10, 1048701))],
)
def test_under_asgi_the_body_is_an_asynchronous_stream(weights, range_header, status, part):
    headers = {"Range": range_header} if range_header else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django warns when it must read a synchronous iterator into memory
        code, is_async, body, response_headers = run_in_a_loop_of_its_own(download(headers))
    assert (code, is_async) == (status, True)
    assert body == weights[part]
    assert int(response_headers["Content-Length"]) == len(body)
    assert ModelEntry.objects.get(name="streamed").downloads == (1 if range_header is None else 0)


def test_under_wsgi_a_whole_file_is_a_file_response(client, weights):
    response = client.get(URL)
    assert isinstance(response, FileResponse)
    assert b"".join(response.streaming_content) == weights
