"""What Django refuses before a view runs, in the error shape on API and Hugging Face paths: a URL or search too
long (414), a body over the limit (400), a bad Host (400), a PUT without a CSRF token (403). Nothing stored."""

import io
import json

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from catalog.models import ModelEntry
from hub.limits import MAX_URL_BYTES
from hub.parsers import DepthLimitedJSONParser
from tests.security.conftest import assert_error_shape

HF_PATHS = ["/api/models/demo/served", "/demo/served/resolve/main/config.json"]
BODY_LIMIT = 5_000_000


@pytest.fixture
def served(make_model):
    return make_model(name="served", library="other")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/?search=" + "resnet " * 700,
        "/api/v1/models/?" + "&".join(f"tag{i}=x" for i in range(800)),
        "/demo/served/resolve/main/" + "a" * MAX_URL_BYTES,
        "/api/models/demo/" + "b" * MAX_URL_BYTES,
    ],
)
def test_a_url_over_the_limit_is_a_414(client, served, path):
    assert len(path) > MAX_URL_BYTES
    body = assert_error_shape(client.get(path), 414, mentions="fewer or shorter")
    assert body["detail"] == "uri_too_long"


def test_a_long_search_under_the_url_limit_is_still_a_400_naming_the_field(client, served):
    assert_error_shape(client.get("/api/v1/models/?search=" + "a" * 300), 400, mentions="search")


def six_megabytes_of_json() -> str:
    return json.dumps({"namespace": "big", "name": "body", "summary": "x" * (BODY_LIMIT + 1_000_000)})


@pytest.mark.parametrize("path", ["/api/v1/models/", "/api/v1/benchmarks/", "/api/v1/transfer-rankings/"])
def test_a_json_body_over_the_limit_is_a_400_and_nothing_is_stored(staff_client, db, nothing_stored, path):
    response = staff_client.post(path, six_megabytes_of_json(), content_type="application/json")
    body = assert_error_shape(response, 400, mentions="5 MB")
    assert body["detail"] == "body_too_large"
    assert not ModelEntry.objects.filter(namespace="big").exists()
    nothing_stored()


def test_the_json_parser_stops_at_the_limit_without_a_content_length():
    with pytest.raises(ParseError, match="5 MB limit"):
        DepthLimitedJSONParser().parse(io.BytesIO(six_megabytes_of_json().encode()), parser_context={})


def test_a_json_body_at_the_limit_is_parsed():
    body = json.dumps({"x": "y" * (BODY_LIMIT - 20)}).encode()
    assert len(body) <= BODY_LIMIT
    assert DepthLimitedJSONParser().parse(io.BytesIO(body), parser_context={})["x"].startswith("yyy")


@pytest.mark.parametrize("path", ["/api/v1/models/", *HF_PATHS])
@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8000@evil.example", "a" * 300])
def test_a_host_the_server_does_not_serve_is_a_400(client, served, path, host):
    body = assert_error_shape(client.get(path, HTTP_HOST=host), 400, mentions="host")
    assert body["detail"] == "bad_host"


def test_a_bad_host_on_a_page_is_an_html_400(client, served):
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", HF_PATHS)
def test_a_put_to_the_hugging_face_endpoints_without_a_csrf_token_is_a_403(served, path, nothing_stored):
    browser = Client(enforce_csrf_checks=True)
    response = browser.put(path, b"weights", content_type="application/octet-stream")
    body = assert_error_shape(response, 403, mentions="csrf")
    assert body["detail"] == "csrf_failed"
    served.refresh_from_db()
    assert served.downloads == 0
    nothing_stored()
