"""Starter bundles over the API and the page, and a bundle's train.py downloading from a live Depot."""

import io
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from django.test import Client

from core.starter.builder import ENTRY_NAMES

URL = "/api/v1/models/demo/digit-net/starter-bundle/"


def test_it_returns_a_zip_with_an_etag_and_the_same_bytes_twice(api_client, digit_model):
    first = api_client.get(URL, {"num_classes": 3, "class_names": "cat,dog,fox"})
    assert first.status_code == 200, first.content[:300]
    assert first["Content-Type"] == "application/zip"
    assert first["Content-Disposition"] == 'attachment; filename="digit-net-starter.zip"'
    names = zipfile.ZipFile(io.BytesIO(first.content)).namelist()
    assert names == sorted(names) and set(names) == set(ENTRY_NAMES)
    params = yaml.safe_load(zipfile.ZipFile(io.BytesIO(first.content)).read("params.yaml"))
    assert (
        params["model"]["sha256"] == digit_model.weights.sha256
        and params["model"]["revision"] == digit_model.revision
    )
    second = api_client.post(URL, {"num_classes": 3, "class_names": "cat,dog,fox"}, format="json")
    assert second.content == first.content and second["ETag"] == first["ETag"]
    assert (
        api_client.get(
            URL, {"num_classes": 3, "class_names": "cat,dog,fox"}, HTTP_IF_NONE_MATCH=first["ETag"]
        ).status_code
        == 304
    )
    other = api_client.get(URL, {"num_classes": 3, "class_names": "cat,dog,fox", "strategy": "linear_probe"})
    assert other["ETag"] != first["ETag"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 4, "strategy": "yolo"}, "strategy"),
        ({"num_classes": 4, "epochs": -2}, "epochs"),
        ({"num_classes": 3, "class_names": "a,b"}, "class_names"),
        ({"num_classes": 4, "augmentation": "extreme"}, "augmentation"),
        ({"num_classes": 4, "gpus": 8}, "gpus"),
    ],
)
def test_a_bad_config_is_a_400_naming_the_field(api_client, digit_model, query, field):
    response = api_client.get(URL, query)
    assert response.status_code == 400
    assert field in response.json()["detail"] and field in response.json()["error"]


def test_a_model_without_weights_gets_a_400_naming_the_model(api_client, make_model):
    make_model(name="hollow", architecture="test_resnet", num_classes=10)
    response = api_client.get("/api/v1/models/demo/hollow/starter-bundle/", {"num_classes": 4})
    assert response.status_code == 400 and "model" in response.json()["detail"]
    assert (
        api_client.get("/api/v1/models/demo/nothing/starter-bundle/", {"num_classes": 4}).status_code == 404
    )


def test_the_model_page_offers_the_bundle_form(client, digit_model):
    html = client.get("/models/demo/digit-net/").content.decode()
    assert "Download starter bundle" in html
    response = client.get(
        "/models/demo/digit-net/starter-bundle/", {"num_classes": "4", "strategy": "full_finetune"}
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    refused = client.get("/models/demo/digit-net/starter-bundle/", {"num_classes": "1"})
    assert refused.status_code == 400 and "num_classes" in refused.content.decode()


def test_the_cli_writes_the_same_bundle(digit_model, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "bundle.zip"
    arguments = ["demo/digit-net", "--num-classes", "3", "--hub-url", "http://testserver", "-o", str(out)]
    call_command("make_bundle", *arguments, stdout=io.StringIO())
    assert zipfile.ZipFile(out).namelist() == sorted(ENTRY_NAMES)


def run_script(project: Path, *args: str) -> subprocess.CompletedProcess:
    """As a user would: the bundle's own directory, no PYTHONPATH, no HF_* settings: the hub URL in params.yaml."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "DJANGO", "HF_"))}
    env.update(HF_HOME=str(project / ".hf-home"))
    return subprocess.run(
        [sys.executable, "-E", "-s", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


def target_data(project: Path, source: Path) -> None:
    for split, per_class in (("train", 4), ("val", 2)):
        for digit in "0123456789":
            images = sorted((source / "test" / digit).iterdir())[:per_class]
            (project / "data" / split / digit).mkdir(parents=True, exist_ok=True)
            for image in images:
                (project / "data" / split / digit / image.name).write_bytes(image.read_bytes())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_train_py_downloads_pinned_weights_from_a_live_depot_and_checks_them(
    live_server,
    digit_model,
    small_digits_root,
    tmp_path,
):
    with urllib.request.urlopen(f"{live_server.url}{URL}?num_classes=10&epochs=1&batch_size=8") as response:
        bundle = response.read()
    project = tmp_path / "project"
    zipfile.ZipFile(io.BytesIO(bundle)).extractall(project)
    assert yaml.safe_load((project / "params.yaml").read_text())["model"]["hub_url"] == live_server.url
    target_data(project, small_digits_root)
    assert run_script(project, "prepare.py").returncode == 0

    trained = run_script(project, "train.py", "--set", "train.hflip=0")
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    assert (project / "outputs" / "model.safetensors").exists()
    assert (project / "outputs" / "metrics.json").exists()

    params_path = project / "params.yaml"
    params_path.write_text(params_path.read_text().replace(digit_model.weights.sha256, "0" * 64))
    refused = run_script(project, "train.py", "--output-dir", "outputs-tampered")
    assert refused.returncode != 0
    assert "sha256" in (refused.stdout + refused.stderr)
    assert not (project / "outputs-tampered" / "model.safetensors").exists()


def test_post_takes_the_options_in_the_query_string_as_the_readme_says(api_client, digit_model):
    by_get = api_client.get(URL, {"num_classes": 3, "strategy": "linear_probe"})
    by_query = api_client.post(f"{URL}?num_classes=3&strategy=linear_probe")
    assert by_query.status_code == 200, by_query.content[:300]
    assert by_query.content == by_get.content
    mixed = api_client.post(f"{URL}?num_classes=3", {"strategy": "linear_probe"}, format="json")
    assert mixed.content == by_get.content


def test_a_refusal_names_the_field_once(api_client, digit_model):
    body = api_client.get(URL, {"num_classes": 4, "strategy": "yolo"}).json()
    assert body["error"].startswith("Invalid strategy: must be one of")
    assert body["error"].count("strategy") == 1
    assert body["detail"] == {"strategy": [body["error"].removeprefix("Invalid strategy: ")]}
    page = Client().get("/models/demo/digit-net/starter-bundle/", {"num_classes": "1"}).content.decode()
    assert "Starter bundle: num_classes: must be between" in page
