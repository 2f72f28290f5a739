"""An entry without stored weights: the Hugging Face endpoints say so, and timm shows that message."""

import subprocess
import sys
import textwrap

import pytest

from tests.catalog.api.test_hfcompat import hub_subprocess_env

NOT_STORED = "not stored on this hub"


@pytest.fixture
def bare_model(make_model):
    return make_model(
        name="bare", architecture="test_resnet", num_classes=5, input_size=[3, 32, 32],
        hf_repo_id="timm/test_resnet.r160_in1k", source_kind="hf",
    )  # fmt: skip


@pytest.mark.parametrize(
    "filename", ["model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"]
)
@pytest.mark.parametrize("method", ["get", "head"])
def test_a_weights_file_is_a_404_that_says_the_weights_are_not_stored(client, bare_model, filename, method):
    response = getattr(client, method)(f"/demo/bare/resolve/main/{filename}")

    assert response.status_code == 404
    assert response["X-Error-Code"] == "EntryNotFound"
    assert NOT_STORED in response["X-Error-Message"]
    assert "timm/test_resnet.r160_in1k" in response["X-Error-Message"]  # where they can be had
    assert response["X-Repo-Commit"] == bare_model.revision


def test_config_and_card_are_still_served(client, bare_model):
    assert client.get("/demo/bare/resolve/main/config.json").status_code == 200
    assert client.get("/demo/bare/resolve/main/README.md").status_code == 200


def test_repository_info_is_a_404_that_says_the_weights_are_not_stored(client, bare_model):
    response = client.get("/api/models/demo/bare")

    assert response.status_code == 404
    assert response["X-Error-Code"] == "EntryNotFound" and NOT_STORED in response["X-Error-Message"]
    assert NOT_STORED in response.json()["error"]


def test_an_entry_without_a_source_says_staff_can_upload(client, make_model):
    make_model(name="orphan")

    message = client.get("/demo/orphan/resolve/main/model.safetensors")["X-Error-Message"]

    assert NOT_STORED in message and "upload" in message


CREATE_SCRIPT = textwrap.dedent(
    """
    import timm
    try:
        timm.create_model("hf-hub:demo/bare", pretrained=True)
    except Exception as error:
        print(type(error).__name__, error)
    else:
        print("LOADED")
    """
)


@pytest.mark.django_db(transaction=True)
def test_timm_create_model_shows_that_the_weights_are_not_stored(live_server, bare_model, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CREATE_SCRIPT],
        env=hub_subprocess_env(live_server.url, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert "LOADED" not in result.stdout
    assert "EntryNotFoundError" in result.stdout and NOT_STORED in result.stdout, result.stdout
