"""The ranking config through the API, the rankings page form and `manage.py rank_models`: one schema
(core/transfer/options.py RANKING_CONFIG) decides, so each refuses the same bad values with the same message
naming the option."""

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from core.transfer.options import RANKING_CONFIG
from evaluation.models import TransferRanking

API = "/api/v1/transfer-rankings/"
CREATE = "/transfer-rankings/new/"

BAD = [
    ({"batch_size": 0}, "batch_size", "must be between 1 and 4096, got 0"),
    ({"batch_size": 4097}, "batch_size", "must be between 1 and 4096, got 4097"),
    ({"seed": -1}, "seed", "must be between 0 and 2147483647, got -1"),
    ({"threads": 257}, "threads", "must be between 1 and 256, got 257"),
    ({"baseline": "maybe"}, "baseline", "must be true or false"),
    ({"baseline_epochs": "many"}, "baseline_epochs", "must be an integer"),
    ({"baseline_epochs": 201}, "baseline_epochs", "must be between 1 and 200, got 201"),
]


def test_every_option_has_a_bad_case_here():
    assert {field for _, field, _ in BAD} == set(RANKING_CONFIG.names)


def via_api(staff_client, config: dict) -> str:
    body = {"dataset": "digits-small", "split": "test", "candidates": ["demo/digit-net"], "config": config}
    response = staff_client.post(API, body, format="json")
    assert response.status_code == 400, response.content[:300]
    [(field, [message])] = response.json()["detail"].items()
    return f"{field}: {message}"


def via_cli(config: dict) -> str:
    flags = []
    for key, value in config.items():
        if key == "baseline":  # a boolean flag on the command line: --baseline / --no-baseline take no value
            continue
        flags += ["--" + key.replace("_", "-"), str(value)]
    with pytest.raises(CommandError) as refused:
        call_command(
            "rank_models", "--dataset", "digits-small", "--split", "test", "--candidates", "demo/digit-net",
            *flags, stdout=StringIO(),
        )  # fmt: skip
    return str(refused.value)


@pytest.mark.parametrize(("config", "field", "message"), BAD, ids=str)
def test_the_api_and_the_cli_refuse_the_same_bad_values_naming_the_option(
    staff_client, digit_model, small_digits, config, field, message
):
    assert via_api(staff_client, config) == f"{field}: {message}"
    if field != "baseline":
        assert via_cli(config) == f"{field}: {message}"
    assert not TransferRanking.objects.exists()


def test_the_page_form_refuses_baseline_epochs_with_the_schema_message(staff_user, digit_model, small_digits):
    browser = Client()
    browser.force_login(staff_user)
    response = browser.post(
        CREATE,
        {"dataset": "digits-small", "split": "test", "candidates": "demo/digit-net", "baseline_epochs": "0"},
    )
    assert response.status_code == 400
    assert "must be between 1 and 200, got 0" in response.content.decode()
    assert not TransferRanking.objects.exists()


def test_good_values_are_stored_and_their_text_parses_alike(staff_client, digit_model, small_digits):
    config = {"batch_size": 32, "seed": 7, "threads": 1, "baseline": False, "baseline_epochs": 3}
    body = {"dataset": "digits-small", "split": "test", "candidates": ["demo/digit-net"], "config": config}
    response = staff_client.post(API, body, format="json")
    assert response.status_code == 202, response.content[:300]
    stored = TransferRanking.objects.get().config
    assert stored == config
    # The page's form and the CLI send text, which the one schema parses to the same values (the API's JSON takes
    # the documented types only: hub/strict_json.py).
    as_text = {"batch_size": "32", "seed": "7", "threads": "1", "baseline": "false", "baseline_epochs": "3"}
    assert RANKING_CONFIG.validate(as_text) == stored


def test_the_cli_offers_every_option_as_a_flag():
    from evaluation.management.commands.rank_models import Command

    parser = Command().create_parser("manage.py", "rank_models")
    flags = set(itertools.chain.from_iterable(action.option_strings for action in parser._actions))
    assert {
        "--batch-size",
        "--seed",
        "--threads",
        "--baseline",
        "--no-baseline",
        "--baseline-epochs",
    } <= flags


def test_the_openapi_schema_documents_the_ranking_config_with_its_bounds(api_client, db):
    schema = api_client.get("/api/schema/?format=json").json()
    documented = schema["components"]["schemas"]["RankingConfig"]["properties"]
    assert list(documented) == list(RANKING_CONFIG.names)
    assert (
        documented["baseline_epochs"] | {"minimum": 1, "maximum": 200, "default": 15}
        == documented["baseline_epochs"]
    )
