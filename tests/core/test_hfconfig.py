"""The model card served at README.md: YAML front matter, then the card's own text."""

import enum
from types import SimpleNamespace

import pytest
import yaml

from core.hfconfig import card_bytes, front_matter, strip_front_matter


def _model(**fields) -> SimpleNamespace:
    values = {
        "library": "timm",
        "task": "image-classification",
        "license": "apache-2.0",
        "tag_list": ["timm", "image-classification"],
        "card": "",
        "model_id": "demo/tiny",
        "pretrained_on": "",
        "fine_tuned_on": "",
        "base_model": "",
    } | fields
    return SimpleNamespace(**values)


def _front_matter_of(card: bytes) -> dict:
    text = card.decode()
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def test_plain_values_read_as_written_by_hand():
    assert card_bytes(_model(card="# Tiny\n\nA small model.\n")) == (
        b"---\n"
        b"library_name: timm\n"
        b"pipeline_tag: image-classification\n"
        b"license: apache-2.0\n"
        b"tags:\n"
        b"- timm\n"
        b"- image-classification\n"
        b"---\n"
        b"\n"
        b"# Tiny\n\nA small model.\n"
    )


class _Library(enum.StrEnum):
    """Like a Django TextChoices member: a str subclass yaml.safe_dump refuses, whose str() is its value."""

    TIMM = "timm"


def test_a_choices_member_is_written_as_its_value():
    card = card_bytes(_model(library=_Library.TIMM, tag_list=[_Library.TIMM]))

    assert _front_matter_of(card)["library_name"] == "timm"
    assert _front_matter_of(card)["tags"] == ["timm"]


@pytest.mark.parametrize(
    "value",
    ["other: see LICENSE", "two\nlines", "- not a list item", "yes", "1.0", "#hash", "'quoted'", "é ünïcode"],
)
def test_a_value_that_needs_quoting_round_trips(value):
    card = card_bytes(_model(license=value, tag_list=[value, "plain"]))

    assert _front_matter_of(card) == {
        "library_name": "timm",
        "pipeline_tag": "image-classification",
        "license": value,
        "tags": [value, "plain"],
    }


def test_empty_license_and_tags_are_left_out_and_the_title_stands_in_for_a_missing_card():
    card = card_bytes(_model(license="", tag_list=[]))

    assert _front_matter_of(card) == {"library_name": "timm", "pipeline_tag": "image-classification"}
    assert card.decode().endswith("---\n\n# demo/tiny\n")


def test_the_cards_own_front_matter_is_replaced_not_repeated():
    card = card_bytes(_model(card="---\nlicense: mit\n---\n# Mine\n"))

    assert _front_matter_of(card)["license"] == "apache-2.0"
    assert strip_front_matter(card.decode()) == "# Mine\n"


def test_a_long_value_stays_on_one_line():
    long_value = "word " * 40 + "end"

    block = front_matter({"license": long_value})

    assert block.count("\n") == 3  # ---, the value, ---
    assert yaml.safe_load(block.strip("-\n")) == {"license": long_value}


def test_servable_model_args_keep_only_allowed_well_formed_entries():
    from core.model_args import servable

    assert servable({"drop_rate": 0.2, "drop_path_rate": 2.0, "cache_dir": "/tmp", "x" * 100: 1}) == {
        "drop_rate": 0.2
    }
    assert servable(["drop_rate"]) == {}
