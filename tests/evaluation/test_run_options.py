"""The run config through the API, the model page's re-check form and `manage.py benchmark`: each accepts the
same good values and refuses the same bad ones with the same message naming the field (RUN_CONFIG)."""

import io
import itertools
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from core.run_config import RUN_CONFIG
from evaluation.models import BenchmarkRun

API = "/api/v1/benchmarks/"
RECHECK = "/models/demo/digit-net/recheck/"
CHEAP = {"num_workers": 0, "threads": 1}  # a CLI run really runs: no worker processes, one thread

GOOD = [
    {"batch_size": 1},
    {"batch_size": "4096"},
    {"seed": 2**32 - 1},
    {"threads": 2},
    {"num_workers": "0"},
    {"img_size": "48", "crop_pct": 0.875, "interpolation": "bilinear", "scoring": "dataset-classes"},
]

BAD = [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 4097}, "batch_size"),
    ({"batch_size": "big"}, "batch_size"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"threads": 0}, "threads"),
    ({"threads": 1025}, "threads"),
    ({"num_workers": -1}, "num_workers"),
    ({"num_workers": 65}, "num_workers"),
    ({"img_size": 4}, "img_size"),
    ({"crop_pct": 0}, "crop_pct"),
    ({"interpolation": "random"}, "interpolation"),  # timm's training-only filter
    ({"scoring": "top-200"}, "scoring"),
]


def test_every_option_has_good_and_bad_cases_here():
    good = set(itertools.chain.from_iterable(GOOD))
    assert good == {field for _, field in BAD} == set(RUN_CONFIG.names)


@pytest.fixture
def staff_browser(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def via_api(staff_client, config: dict) -> tuple[bool, str]:
    response = staff_client.post(
        API, {"model": "demo/digit-net", "dataset": "digits-small", "config": config}, format="json"
    )
    if response.status_code in (200, 202):
        return True, ""
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    [(field, [message])] = body["detail"].items()
    assert body["error"] == f"Invalid {field}: {message}"
    return False, escape(f"{field}: {message}")


def via_page(staff_browser, config: dict) -> tuple[bool, str]:
    response = staff_browser.post(
        RECHECK, {"dataset": "digits-small", "split": "test", **config}, follow=True
    )
    assert response.status_code == 200
    if "/benchmarks/" in response.redirect_chain[-1][0]:
        return True, ""
    match = re.search(r'<p class="notice">(.+?)</p>', response.content.decode())
    assert match, "the model page names the refused field"
    return False, match.group(1)


def via_cli(config: dict) -> tuple[bool, str]:
    flags = [item for key, value in config.items() for item in ("--" + key.replace("_", "-"), str(value))]
    try:
        call_command("benchmark", "demo/digit-net", "--dataset", "digits-small", *flags, stdout=io.StringIO())
    except CommandError as error:
        return False, escape(str(error))
    return True, ""


def as_json(config: dict) -> dict:
    """The values as a JSON client sends them: the API takes the documented types only (hub/strict_json.py);
    the page's form and the command line send text, which the schema parses."""
    options = {option.name: option for option in RUN_CONFIG}
    return {name: options[name].clean(value) for name, value in config.items()}


def stored_configs() -> list[dict]:
    return list(BenchmarkRun.objects.order_by("pk").values_list("config", flat=True))


@pytest.mark.parametrize("config", GOOD, ids=str)
def test_the_api_the_page_and_the_cli_accept_the_same_good_values(
    staff_client, staff_browser, digit_model, small_digits, config
):
    config = CHEAP | config
    assert via_api(staff_client, as_json(config)) == (True, "")
    BenchmarkRun.objects.all().delete()
    assert via_page(staff_browser, config) == (True, "")
    BenchmarkRun.objects.all().delete()
    assert via_cli(config) == (True, "")
    [stored] = stored_configs()
    assert stored == RUN_CONFIG.validate(config)  # text from the form or the command line stored as numbers


@pytest.mark.parametrize(("config", "field"), BAD, ids=str)
def test_the_api_the_page_and_the_cli_refuse_the_same_bad_values_naming_the_field(
    staff_client, staff_browser, digit_model, small_digits, config, field
):
    refused = via_api(staff_client, config)
    assert refused[0] is False and refused[1].startswith(f"{field}: ")
    assert via_page(staff_browser, config) == via_cli(config) == refused
    assert not BenchmarkRun.objects.exists()


def test_the_old_workers_flag_still_sets_num_workers(digit_model, small_digits):
    call_command("benchmark", "demo/digit-net", "--dataset", "digits-small", "--workers", "0", "--threads", "1",
                 stdout=io.StringIO())  # fmt: skip
    assert stored_configs() == [RUN_CONFIG.validate({"num_workers": 0, "threads": 1})]


def test_the_recheck_form_carries_every_run_option_with_its_bounds(staff_browser, digit_model, small_digits):
    html = staff_browser.get("/models/demo/digit-net/").content.decode()
    form = html[html.index('class="recheck"') : html.index("Re-check accuracy")]
    for option in RUN_CONFIG:
        assert f'name="{option.name}"' in form, option.name
    assert re.search(r'<input type="number" name="batch_size" value="64" step="1" min="1" max="4096"', form)
    assert re.search(r'<input type="number" name="threads" step="1" min="1" max="1024"', form)


def test_the_openapi_schema_documents_the_run_config_with_its_bounds(api_client, db):
    schema = api_client.get("/api/schema/?format=json").json()
    config = schema["components"]["schemas"]["RunRequest"]["properties"]["config"]
    assert config["allOf"] == [{"$ref": "#/components/schemas/RunConfig"}]
    documented = schema["components"]["schemas"]["RunConfig"]["properties"]
    assert list(documented) == list(RUN_CONFIG.names)
    assert (
        documented["batch_size"] | {"minimum": 1, "maximum": 4096, "default": 64} == documented["batch_size"]
    )
    assert documented["threads"]["nullable"] is True and "default" not in documented["threads"]
