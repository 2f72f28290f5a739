"""The starter-bundle options through the API, the model page's form and `manage.py make_bundle`: each accepts
the same good values and refuses the same bad ones with the same message naming the field (BUNDLE_OPTIONS)."""

import io
import itertools
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from core.starter.options import BUNDLE_OPTIONS

API = "/api/v1/models/demo/digit-net/starter-bundle/"
PAGE = "/models/demo/digit-net/starter-bundle/"

GOOD = [
    {"num_classes": 2},
    {"num_classes": "100000"},
    {"num_classes": 2, "class_names": "cat,dog"},
    {"class_names": "cat,dog,fox"},
    *({"num_classes": 3, "strategy": strategy} for strategy in ("linear_probe", "full_finetune")),
    {"num_classes": 3, "epochs": 1000, "warmup_epochs": 0},
    {"num_classes": 3, "batch_size": 2},
    {"num_classes": 3, "batch_size": 4096},
    {"num_classes": 3, "lr_head": 1, "lr_backbone": "1e-5"},
    {"num_classes": 3, "image_size": 48},
    {"num_classes": 3, "augmentation": "strong"},
    {"num_classes": 3, "hflip": 0},
    {"num_classes": 3, "hflip": "1"},
    {"num_classes": 3, "seed": 2**32 - 1},
    *({"num_classes": 3, "device": device} for device in ("cpu", "mps", "cuda", "cuda:1")),
    {"num_classes": 3, "layer_decay": 0.5},
    {"num_classes": 3, "layer_decay": 1},
    {"num_classes": 3, "patience": 0},
]

BAD = [
    ({}, "num_classes"),
    ({"num_classes": 1}, "num_classes"),
    ({"num_classes": "ten"}, "num_classes"),
    ({"num_classes": 3, "class_names": "a,b"}, "class_names"),
    ({"num_classes": 2, "class_names": "cat,../dog"}, "class_names"),
    ({"num_classes": 2, "class_names": "cat,Cat"}, "class_names"),
    ({"num_classes": 3, "strategy": "yolo"}, "strategy"),
    ({"num_classes": 3, "epochs": 0}, "epochs"),
    ({"num_classes": 3, "epochs": 1001}, "epochs"),
    ({"num_classes": 3, "batch_size": 1}, "batch_size"),
    ({"num_classes": 3, "batch_size": 4097}, "batch_size"),
    ({"num_classes": 3, "lr_head": 0}, "lr_head"),
    ({"num_classes": 3, "lr_head": "fast"}, "lr_head"),
    ({"num_classes": 3, "lr_backbone": 1.5}, "lr_backbone"),
    ({"num_classes": 3, "image_size": 4}, "image_size"),
    ({"num_classes": 3, "augmentation": "wild"}, "augmentation"),
    ({"num_classes": 3, "hflip": 2}, "hflip"),
    ({"num_classes": 3, "hflip": "-0.1"}, "hflip"),
    ({"num_classes": 3, "seed": -1}, "seed"),
    ({"num_classes": 3, "seed": 2**32}, "seed"),
    ({"num_classes": 3, "device": "tpu"}, "device"),
    ({"num_classes": 3, "device": "cuda:123"}, "device"),
    ({"num_classes": 3, "layer_decay": 0}, "layer_decay"),
    ({"num_classes": 3, "layer_decay": 1.01}, "layer_decay"),
    ({"num_classes": 3, "warmup_epochs": 11}, "warmup_epochs"),
    ({"num_classes": 3, "warmup_epochs": -1}, "warmup_epochs"),
    ({"num_classes": 3, "patience": -1}, "patience"),
    ({"num_classes": 3, "patience": 1001}, "patience"),
]


def test_every_option_has_good_and_bad_cases_here():
    good = set(itertools.chain.from_iterable(GOOD))
    bad = {field for _, field in BAD}
    assert good == bad == set(BUNDLE_OPTIONS.names)


def via_api(api_client, options: dict) -> tuple[bool, str]:
    response = api_client.get(API, options)
    if response.status_code == 200:
        return True, ""
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    [(field, [message])] = body["detail"].items()
    assert body["error"] == f"Invalid {field}: {message}"
    return False, f"{field}: {message}"


def via_page(options: dict) -> tuple[bool, str]:
    response = Client().get(PAGE, options)
    if response.status_code == 200:
        assert response["Content-Type"] == "application/zip"
        return True, ""
    assert response.status_code == 400
    match = re.search(r"Starter bundle: (.+?)</p>", response.content.decode())
    assert match, "the page names the refused field"
    return False, match.group(1)


def via_cli(options: dict, tmp_path) -> tuple[bool, str]:
    flags = [item for key, value in options.items() for item in ("--" + key.replace("_", "-"), str(value))]
    out = tmp_path / "bundle.zip"
    arguments = ["demo/digit-net", *flags, "--hub-url", "http://testserver", "-o", str(out)]
    try:
        call_command("make_bundle", *arguments, stdout=io.StringIO())
    except CommandError as error:
        return False, escape(str(error))
    assert out.exists()
    return True, ""


@pytest.mark.parametrize("options", GOOD, ids=str)
def test_the_api_the_page_and_the_cli_accept_the_same_good_values(api_client, digit_model, tmp_path, options):
    assert via_api(api_client, options) == via_page(options) == via_cli(options, tmp_path) == (True, "")


@pytest.mark.parametrize(("options", "field"), BAD, ids=str)
def test_the_api_the_page_and_the_cli_refuse_the_same_bad_values_naming_the_field(
    api_client, digit_model, tmp_path, options, field
):
    accepted, message = via_api(api_client, options)
    assert not accepted and message.startswith(f"{field}: ")
    assert via_page(options) == via_cli(options, tmp_path) == (False, escape(message))


def test_the_page_form_carries_every_option_with_its_bounds_and_default(client, digit_model):
    html = client.get("/models/demo/digit-net/").content.decode()
    form = html[html.index('class="bundle"') : html.index("Download starter bundle")]
    for option in BUNDLE_OPTIONS:
        assert f'name="{option.name}"' in form, option.name
    assert re.search(r'<input type="number" name="batch_size" value="32" step="1" min="2" max="4096"', form)
    assert re.search(r'<input type="number" name="layer_decay" value="0.75" step="any" min="0" max="1"', form)
    assert '<option value="freeze_then_unfreeze" selected>' in form
    assert "<details" in form  # the advanced options fold away without JavaScript


def test_a_refused_form_comes_back_with_the_message_beside_the_field(client, digit_model):
    page = client.get(PAGE, {"num_classes": "3", "batch_size": "1"}).content.decode()
    assert re.search(
        r'name="batch_size" value="1"[^>]*>\s*<span class="field-error">must be between 2 and 4096', page
    )


def test_the_openapi_schema_shows_the_bounds_of_the_schema(api_client, db):
    schema = api_client.get("/api/schema/?format=json").json()
    request = schema["components"]["schemas"]["StarterBundleRequest"]["properties"]
    assert request["batch_size"] | {"minimum": 2, "maximum": 4096, "default": 32} == request["batch_size"]
    assert request["lr_head"]["exclusiveMinimum"] is True and request["lr_head"]["minimum"] == 0
    assert request["device"]["description"].startswith("Where train.py runs")
    assert "layer_decay" in request
    parameters = schema["paths"]["/api/v1/models/{namespace}/{name}/starter-bundle/"]["get"]["parameters"]
    batch_size = next(parameter for parameter in parameters if parameter["name"] == "batch_size")
    assert batch_size["schema"]["minimum"] == 2
