"""Text models' starter bundles over the API and the model page: the text bundle, its options, its pinned files."""

import io
import zipfile

import pytest
import yaml
from django.core.management import CommandError, call_command

from catalog import text_services
from catalog.models import RepoFile
from core.starter.textbuilder import TEXT_ENTRY_NAMES
from tests.text_models import save_text_classifier, save_text_encoder

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/demo/sentiment/starter-bundle/"


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier")


@pytest.fixture
def sentiment(classifier_dir):
    return text_services.text_model_register(
        namespace="demo", name="sentiment", directory=classifier_dir, license="mit"
    )


def test_a_text_models_bundle_downloads_as_a_zip_pinning_its_files(api_client, sentiment):
    response = api_client.post(f"{URL}?num_classes=2&max_length=12", format="json")

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="sentiment-starter.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == list(TEXT_ENTRY_NAMES)
    params = yaml.safe_load(archive.read("params.yaml"))
    stored = dict(RepoFile.objects.filter(model=sentiment).values_list("filename", "sha256"))
    assert params["model"]["files"] == {**stored, "model.safetensors": sentiment.weights.sha256}
    assert params["model"]["revision"] == sentiment.revision
    assert params["model"]["hub_url"] == "http://testserver"
    assert params["data"]["max_length"] == 12
    again = api_client.get(URL, {"num_classes": 2, "max_length": 12})
    assert again.content == response.content and again["ETag"] == response["ETag"]


def test_image_options_are_refused_for_a_text_model(api_client, sentiment):
    response = api_client.get(URL, {"num_classes": 2, "image_size": 64})
    assert response.status_code == 400 and "image_size" in response.json()["detail"]
    too_long = api_client.get(URL, {"num_classes": 2, "max_length": 4096})
    assert too_long.status_code == 400 and "max_length" in too_long.json()["detail"]


def test_an_encoder_gets_a_bundle_and_the_page_offers_the_text_form(api_client, client, tmp_path):
    text_services.text_model_register(
        namespace="demo", name="encoder", directory=save_text_encoder(tmp_path / "encoder"),
        task="feature-extraction",
    )  # fmt: skip
    response = api_client.get("/api/v1/models/demo/encoder/starter-bundle/", {"num_classes": 3})
    assert response.status_code == 200
    assert "textdata.py" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()

    page = client.get("/models/demo/encoder/").content.decode()
    assert (
        "Download starter bundle" in page
        and 'name="max_length"' in page
        and 'name="augmentation"' not in page
    )
    download = client.get("/models/demo/encoder/starter-bundle/", {"num_classes": "3", "max_length": "10"})
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"


def test_the_cli_writes_the_same_text_bundle_and_refuses_image_options(api_client, sentiment, tmp_path):
    out = tmp_path / "bundle.zip"
    call_command(
        "make_bundle", "demo/sentiment", "--num-classes", "2", "--max-length", "12", "--hub-url",
        "http://testserver", "-o", str(out), stdout=io.StringIO(),
    )  # fmt: skip
    assert out.read_bytes() == api_client.get(URL, {"num_classes": 2, "max_length": 12}).content
    with pytest.raises(CommandError, match="augmentation"):
        call_command("make_bundle", "demo/sentiment", "--num-classes", "2", "--augmentation", "light",
                     "-o", str(out), stdout=io.StringIO())  # fmt: skip
