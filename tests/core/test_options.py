"""core/options.py: one schema parses, bounds and names every refusal; the two schemas match their dataclasses."""

import argparse
import dataclasses

import pytest

from core.harness import HarnessConfig, HarnessError
from core.options import Option, OptionError, Schema
from core.run_config import RUN_CONFIG
from core.starter.builder import TargetConfig
from core.starter.options import BUNDLE_OPTIONS

SCHEMA = Schema(
    name="config",
    options=(
        Option("count", "int", default=3, minimum=1, maximum=10, help="How many."),
        Option("rate", "float", default=0.5, minimum=0.0, exclusive_minimum=True, maximum=1.0),
        Option("share", "float", minimum=0.0, maximum=1.0, hint="a probability between 0 and 1"),
        Option("verbose", "bool", default=False),
        Option("mode", "choice", default="fast", choices=("fast", "slow")),
        Option("device", "str", default="cpu", pattern=r"cpu|cuda(:\d)?", hint="cpu, cuda or cuda:<index>"),
        Option("names", "list"),
    ),
)


def refusal(raw: dict) -> OptionError:
    with pytest.raises(OptionError) as caught:
        SCHEMA.validate(raw)
    return caught.value


def test_it_fills_the_defaults_and_reads_text_as_forms_and_query_strings_send_it():
    assert SCHEMA.validate({}) == {
        "count": 3, "rate": 0.5, "share": None, "verbose": False, "mode": "fast", "device": "cpu", "names": None,
    }  # fmt: skip
    given = {
        "count": " 7 ", "rate": "1e-3", "share": "1", "verbose": "yes", "mode": " slow ", "device": "cuda:1",
        "names": "cat, dog\nfox",
    }  # fmt: skip
    assert SCHEMA.validate(given) == {
        "count": 7, "rate": 0.001, "share": 1.0, "verbose": True, "mode": "slow", "device": "cuda:1",
        "names": ("cat", "dog", "fox"),
    }  # fmt: skip
    assert SCHEMA.validate({"count": 4.0, "names": [" a ", "b"], "verbose": False})["names"] == ("a", "b")


@pytest.mark.parametrize("blank", [None, ""])
def test_a_blank_value_takes_the_default(blank):
    assert SCHEMA.validate({"count": blank, "mode": blank})["count"] == 3


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"count": 0}, "count", "must be between 1 and 10, got 0"),
        ({"count": "11"}, "count", "must be between 1 and 10, got 11"),
        ({"count": 1.5}, "count", "must be an integer"),
        ({"count": True}, "count", "must be an integer, not a boolean"),
        ({"count": "many"}, "count", "must be an integer"),
        ({"rate": 0}, "rate", "must be greater than 0 and at most 1, got 0"),
        ({"rate": "nan"}, "rate", "must be a finite number"),
        ({"rate": "fast"}, "rate", "must be a number"),
        ({"rate": False}, "rate", "must be a number, not a boolean"),
        ({"share": -0.5}, "share", "must be a probability between 0 and 1, got -0.5"),
        ({"verbose": "maybe"}, "verbose", "must be true or false"),
        ({"mode": "warp"}, "mode", "must be one of fast, slow, got 'warp'"),
        ({"mode": 3}, "mode", "must be a string"),
        ({"device": "tpu"}, "device", "must be cpu, cuda or cuda:<index>, got 'tpu'"),
        ({"names": ["a", 3]}, "names", "must be a list of strings"),
        (
            {"gpus": 8},
            "gpus",
            "unknown field; known fields: count, rate, share, verbose, mode, device, names",
        ),
    ],
)
def test_it_refuses_a_bad_value_naming_the_field(raw, field, message):
    error = refusal(raw)
    assert (error.field, error.message) == (field, message)
    assert str(error) == f"{field}: {message}"


def test_it_refuses_what_is_not_an_object_naming_the_schema():
    with pytest.raises(OptionError) as caught:
        SCHEMA.validate(["count", 3])
    assert caught.value.field == "config"


def test_check_takes_typed_values_only():
    SCHEMA.check(SCHEMA.validate({"names": "a,b"}))
    with pytest.raises(OptionError, match="count: must be an integer"):
        SCHEMA.check({**SCHEMA.defaults(), "count": "5"})
    with pytest.raises(OptionError, match="names: must be a tuple of strings"):
        SCHEMA.check({**SCHEMA.defaults(), "names": ["a"]})


def test_a_schema_that_refuses_its_own_default_or_mixes_kinds_is_a_programming_error():
    with pytest.raises(OptionError, match="count: must be between 1 and 10, got 0"):
        Option("count", "int", default=0, minimum=1, maximum=10)
    with pytest.raises(ValueError, match="choices go with kind 'choice'"):
        Option("mode", "str", choices=("a", "b"))
    with pytest.raises(ValueError, match="repeat"):
        Schema(name="x", options=(Option("a", "int"), Option("a", "int")))


def test_the_cli_flags_are_generated_and_read_back_for_validate():
    parser = argparse.ArgumentParser()
    SCHEMA.add_arguments(parser, aliases={"count": ("--n",)})
    parsed = parser.parse_args(["--n", "4", "--rate", "0.25", "--no-verbose", "--names", "a,b"])
    assert SCHEMA.arguments(parsed) == {"count": "4", "rate": "0.25", "verbose": False, "names": "a,b"}
    assert SCHEMA.validate(SCHEMA.arguments(parsed))["count"] == 4
    assert SCHEMA.arguments(parser.parse_args([])) == {}  # nothing given: the defaults, decided by validate
    help_text = parser.format_help()
    assert "How many; between 1 and 10; default 3" in " ".join(help_text.split())
    assert "{fast,slow}" in help_text


def test_the_bundle_options_are_the_target_configs_fields_with_the_same_defaults():
    fields = dataclasses.fields(TargetConfig)
    assert BUNDLE_OPTIONS.names == tuple(field.name for field in fields)
    defaults = {field.name: field.default for field in fields if field.default is not dataclasses.MISSING}
    schema_defaults = BUNDLE_OPTIONS.defaults()
    assert defaults.pop("class_names") == () and schema_defaults.pop("class_names") is None  # none given
    assert defaults == {name: value for name, value in schema_defaults.items() if name != "num_classes"}


def test_the_run_config_is_what_the_harness_config_takes_with_the_same_defaults():
    harness_defaults = {field.name: field.default for field in dataclasses.fields(HarnessConfig)}
    assert {name: harness_defaults[name] for name in RUN_CONFIG.names} == RUN_CONFIG.defaults()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"batch_size": 0}, "batch_size: must be between 1 and 4096, got 0"),
        ({"num_workers": -1}, "num_workers: must be between 0 and 64, got -1"),
        ({"threads": 0}, "threads: must be between 1 and 1024, got 0"),
        ({"seed": "1"}, "seed: must be an integer"),
    ],
)
def test_the_harness_refuses_a_config_with_the_schemas_message(values, message):
    with pytest.raises(HarnessError) as caught:
        HarnessConfig(**values)
    assert str(caught.value) == message
