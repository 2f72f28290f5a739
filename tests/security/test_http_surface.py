"""The HTTP surface an attacker sees: the HF protocol, download counting, throttling behind proxies,
404 pages, CSRF, security headers and the deployment checks."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from django.conf import settings
from django.test import Client
from rest_framework import throttling
from safetensors.torch import save_file

from catalog import services
from catalog.models import ModelEntry, SourceKind, WeightsFile
from tests.security.conftest import assert_error_shape, files_under


@pytest.fixture
def served(make_model, tmp_path) -> tuple[ModelEntry, bytes]:
    model = make_model(name="served", library="other")
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.arange(64, dtype=torch.float32)}, str(path))
    services.weights_attach(model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL)
    model.refresh_from_db()
    return model, path.read_bytes()


def downloads(model: ModelEntry) -> int:
    return ModelEntry.objects.get(pk=model.pk).downloads


# --- the Hugging Face protocol ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/demo/served/resolve/ma%0D%0Ain/config.json",
        "/demo/served/resolve/ma%0Ain/model.safetensors",
        "/api/models/demo/served/revision/ma%0D%0ASet-Cookie:%20x=1",
        "/demo/served/resolve/" + "a" * 300 + "/config.json",
        "/demo/served/resolve/%00/config.json",
    ],
)
def test_a_revision_with_control_characters_is_a_400(client, served, path):
    response = client.get(path)
    assert_error_shape(response, 400, mentions="revision")
    assert response["X-Error-Code"] == "InvalidRevision"
    assert "Set-Cookie" not in response


def test_a_filename_with_cr_lf_cannot_split_the_error_headers(client, served):
    response = client.get("/demo/served/resolve/main/x%0DSet-Cookie:%20a=b%7F")
    assert_error_shape(response, 404)
    assert "\r" not in response["X-Error-Message"] and "\n" not in response["X-Error-Message"]
    assert "Set-Cookie" not in response


@pytest.mark.parametrize("range_header", ["bytes=0-0", "bytes=1-", "bytes=-1", "bytes=10-20", "bytes=0-10"])
def test_partial_ranges_and_probes_are_not_counted_as_downloads(client, served, range_header):
    model, _ = served
    url = "/demo/served/resolve/main/model.safetensors"
    response = client.get(url, HTTP_RANGE=range_header)
    assert response.status_code == 206
    assert client.head(url).status_code == 200
    assert downloads(model) == 0


@pytest.mark.parametrize("range_header", [None, "bytes=0-", "bytes=0-99999999"])
def test_a_whole_file_download_is_counted_once(client, served, range_header):
    model, data = served
    extra = {"HTTP_RANGE": range_header} if range_header else {}
    response = client.get("/demo/served/resolve/main/model.safetensors", **extra)
    assert b"".join(response.streaming_content) == data
    assert downloads(model) == 1


@pytest.mark.parametrize(
    "range_header", ["bytes=" + "9" * 40 + "-", "bytes=5-2", "bytes=0-1,4-5", "lines=0-1"]
)
def test_unsatisfiable_ranges_are_a_416_in_the_error_shape(client, served, range_header):
    model, _ = served
    response = client.get("/demo/served/resolve/main/model.safetensors", HTTP_RANGE=range_header)
    assert_error_shape(response, 416)
    assert downloads(model) == 0


# --- replaced weights do not pile up ---------------------------------------------------------------------


def test_replaced_weights_are_removed_when_nothing_else_uses_them(
    served, make_model, tmp_path, django_capture_on_commit_callbacks
):
    model, _ = served
    old = model.weights
    twin = make_model(name="twin", library="other")
    services.weights_attach(
        model=twin, path=Path(settings.MEDIA_ROOT) / old.file.name, original_name="m.safetensors"
    )
    replacement = tmp_path / "new.safetensors"
    save_file({"w": torch.ones(64)}, str(replacement))
    with django_capture_on_commit_callbacks(execute=True):
        services.weights_attach(model=model, path=replacement, original_name=replacement.name)
    assert WeightsFile.objects.filter(pk=old.pk).exists()  # the twin still uses it
    with django_capture_on_commit_callbacks(execute=True):
        services.weights_attach(model=twin, path=replacement, original_name=replacement.name)
    assert not WeightsFile.objects.filter(pk=old.pk).exists()
    assert [p.name for p in files_under(settings.MEDIA_ROOT)] == [
        f"{WeightsFile.objects.get().sha256}.safetensors"
    ]


def test_weights_a_queued_run_will_read_are_kept(served, tmp_path, django_capture_on_commit_callbacks):
    from evaluation.models import BenchmarkRun, EvalDataset

    model, _ = served
    old = model.weights
    dataset = EvalDataset.objects.create(name="d", kind="directory", root=str(tmp_path))
    BenchmarkRun.objects.create(model=model, dataset=dataset, split="test", weights_sha256=old.sha256)
    replacement = tmp_path / "new.safetensors"
    save_file({"w": torch.ones(64)}, str(replacement))
    with django_capture_on_commit_callbacks(execute=True):
        services.weights_attach(model=model, path=replacement, original_name=replacement.name)
    assert WeightsFile.objects.filter(pk=old.pk).exists()
    assert (Path(settings.MEDIA_ROOT) / old.file.name).exists()


def test_deleting_a_model_removes_its_unshared_weights(
    staff_client, served, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.delete("/api/v1/models/demo/served/").status_code == 204
    assert WeightsFile.objects.count() == 0 and files_under(settings.MEDIA_ROOT) == []


# --- throttling and proxies ------------------------------------------------------------------------------


@pytest.fixture
def three_per_minute(monkeypatch):
    from rest_framework.settings import api_settings

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min", "user": "3/min"}
    monkeypatch.setattr(throttling.AnonRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(throttling.UserRateThrottle, "THROTTLE_RATES", rates)


def test_a_fresh_x_forwarded_for_per_request_does_not_escape_the_limit(client, db, three_per_minute):
    codes = [client.get("/api/v1/models/", HTTP_X_FORWARDED_FOR=f"10.{i}.0.1").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]


@pytest.mark.parametrize(
    "path", ["/", "/plot.svg", "/compare/?models=demo/served", "/datasets/", "/demo/served/resolve/main/config.json",
             "/api/models/demo/served", "/models/demo/served/"],
)  # fmt: skip
def test_pages_the_plot_and_hf_downloads_are_throttled(client, served, three_per_minute, path):
    for _ in range(3):
        assert client.get(path, HTTP_X_FORWARDED_FOR=str(uuid.uuid4())).status_code < 400
    refused = client.get(path)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    if path.startswith("/api/"):
        assert_error_shape(refused, 429, mentions="too many requests")


def test_a_trusted_proxy_s_forwarded_address_is_the_client(client, db, settings, three_per_minute):
    settings.TRUSTED_PROXIES = ("127.0.0.0/8",)
    for client_address in ("203.0.113.7", "203.0.113.8"):
        codes = [
            client.get("/api/v1/models/", HTTP_X_FORWARDED_FOR=f"{client_address}, 127.0.0.5").status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429], client_address


def test_an_untrusted_peer_cannot_pose_as_a_proxy(client, db, settings, three_per_minute):
    settings.TRUSTED_PROXIES = ("10.0.0.0/8",)  # the test client's 127.0.0.1 is not one of them
    codes = [
        client.get("/api/v1/models/", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


# --- 404s, CSRF, headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/no/such/page/", "/api/v1/nope/", "/api/nope", "/static/../hub/settings.py"]
)
def test_a_404_never_shows_the_url_map(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    text = response.content.decode()
    for leak in ("catalog.urls", "hub.urls", "URLconf", "api/v1/ ", "<str:namespace>", "[name="):
        assert leak not in text, leak
    if path.startswith("/api/"):
        assert_error_shape(response, 404)


@pytest.mark.parametrize("debug", [False, True])
def test_the_404_handler_itself_names_only_the_path(rf, debug, settings):
    from django.urls import Resolver404

    from hub.errors import not_found

    settings.DEBUG = debug
    response = not_found(rf.get("/api/zzz"), Resolver404({"tried": [["catalog.urls"]], "path": "zzz"}))
    assert response.status_code == 404 and b"catalog.urls" not in response.content


def test_a_signed_in_staff_form_post_without_the_csrf_token_is_refused(staff_user, make_model, db):
    make_model(name="target")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    response = browser.post("/models/demo/target/weights/", {})
    assert response.status_code == 403
    api = browser.post("/api/v1/models/", {"namespace": "x", "name": "y"}, content_type="application/json")
    assert_error_shape(api, 403, mentions="csrf")
    assert not ModelEntry.objects.filter(namespace="x").exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/models/", {"namespace": "x", "name": "y", "domain": "vision", "task": "image-classification",
                                     "library": "timm"}),
        ("patch", "/api/v1/models/demo/target/", {"title": "defaced"}),
        ("delete", "/api/v1/models/demo/target/", None),
        ("post", "/api/v1/models/demo/target/claims/", {"dataset": "d", "metric": "top1", "value": 99}),
        ("post", "/api/v1/benchmarks/", {"model": "demo/target", "dataset": "d"}),
    ],
)  # fmt: skip
@pytest.mark.parametrize(("client_name", "status"), [("api_client", 401), ("outsider_client", 403)])
def test_writes_need_a_staff_account(request, make_model, method, path, body, client_name, status):
    target = make_model(name="target", title="original")
    client = request.getfixturevalue(client_name)
    response = getattr(client, method)(path, body, format="json")
    assert_error_shape(response, status)
    target.refresh_from_db()
    assert target.title == "original" and target.claims.count() == 0
    assert ModelEntry.objects.count() == 1


def test_an_invalid_token_is_a_401_even_for_reads(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error_shape(api_client.get("/api/v1/models/"), 401)


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/datasets/", "/models/demo/served/"])
def test_pages_carry_a_content_security_policy_and_no_inline_script(client, served, path):
    import re

    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'self'" in policy and "object-src 'self'" in policy
    inline_scripts = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>", response.content)
    assert inline_scripts == []
    assert response["X-Content-Type-Options"] == "nosniff"


def deploy_environment(tmp_path: Path) -> dict[str, str]:
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser fixture for Playwright in this process, never in production.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DEPOT_", "DATABASE_URL")) and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DEPOT_VAR_DIR=str(tmp_path / "var"),
        DEPOT_SECRET_KEY="production-" + "k7Q!x9#Lm2$vB8@pZ4&rT6^wY1*eN3(h" * 2,
        DEPOT_DEBUG="false",
        DEPOT_ALLOWED_HOSTS="depot.example.org",
        DEPOT_CSRF_TRUSTED_ORIGINS="https://depot.example.org",
        DEPOT_HTTPS="true",
        DEPOT_TRUSTED_PROXIES="10.0.0.0/8",
    )
    return env


def test_check_deploy_is_clean_with_production_values(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=deploy_environment(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_without_https_check_deploy_names_what_is_missing(tmp_path):
    env = deploy_environment(tmp_path) | {"DEPOT_HTTPS": "false"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "security.W004" in result.stderr + result.stdout  # HSTS: the setting is what makes the difference
