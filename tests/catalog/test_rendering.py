"""catalog.rendering's formatting, and the pages that show it: GMACs, sizes, drops, counts, config values."""

import pytest

from catalog import services
from catalog.rendering import drop_class, format_gmacs, format_megabytes, format_value, render_card


@pytest.mark.parametrize(
    ("gmacs", "text"),
    [(1370.2, "1,370"), (12345.6, "12,346"), (100.0, "100"), (11.53, "11.5"), (1.814, "1.81"), (0.05, "0.05"),
     (0.004, "< 0.01"), (0.0, "0"), (None, "—")],
)  # fmt: skip
def test_gmacs_read_as_written_by_hand_never_in_e_notation(gmacs, text):
    assert format_gmacs(gmacs) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(4_939_800_000, "4.94 GB"), (999_600_000_000, "1,000 GB"), (999_600_000, "1,000 MB"), (102_200_000, "102 MB"),
     (46_800_000, "46.8 MB"), (4_800_000, "4.8 MB"), (50_000, "50.0 kB"), (None, "—")],
)  # fmt: skip
def test_sizes_use_gigabytes_past_a_thousand_megabytes(size, text):
    assert format_megabytes(size) == text


@pytest.mark.parametrize(
    ("drop", "css"), [(-12.5, "drop-worse"), (3.2, "drop-better"), (0.0, "drop-none"), (None, "drop-none")]
)
def test_a_drop_is_coloured_by_its_sign(drop, css):
    assert drop_class(drop) == css


@pytest.mark.parametrize(
    ("value", "text"),
    [(["test"], "test"), (["train", "test"], "train, test"), ({"threads": None}, "threads: default"),
     ({"a": 1, "b": [2, 3]}, "a: 1, b: 2, 3"), (True, "yes"), ([], "none"), (7, "7")],
)  # fmt: skip
def test_values_are_text_not_python_reprs(value, text):
    assert format_value(value) == text


def test_the_model_page_formats_gmacs_and_an_estimated_size(client, make_model):
    make_model(name="huge", num_params=1_234_950_000, gmacs=1370.2, input_size=[3, 448, 448])

    html = client.get("/models/demo/huge/").content.decode()

    assert "1,370 at 3\u00d7448\u00d7448" in html and "e+03" not in html
    assert "≈4.94 GB" in html


def test_the_catalog_row_formats_gmacs(client, make_model):
    make_model(name="huge", gmacs=1370.2)

    assert '<td class="num" data-label="GMACs">1,370</td>' in client.get("/").content.decode()


def test_the_whole_catalog_says_all_and_a_filtered_one_says_of(client, make_model):
    for index in range(3):
        make_model(name=f"m-{index}", domain="vision" if index else "nlp")

    assert "All 3 models" in client.get("/").content.decode()
    assert "2 of 3 models" in client.get("/?domain=vision").content.decode()


def test_a_drop_on_the_model_page_is_red_when_worse_and_green_when_better(client, make_model):
    model = make_model(name="rated")
    for dataset, value in (("imagenet-1k", 80.0), ("imagenet-real", 85.5), ("imagenet-sketch", 30.0)):
        services.claim_record(model=model, dataset=dataset, split="validation", metric="top1", value=value,
                              source="results-table")  # fmt: skip

    html = client.get("/models/demo/rated/").content.decode()

    assert '<span class="drop-better">+5.50 pt</span>' in html
    assert '<span class="drop-worse">-50.00 pt</span>' in html
    assert 'class="drop-better">+5.5</text>' in html and 'class="drop-worse">-50.0</text>' in html


def test_a_card_sits_under_the_page_heading_and_its_tables_scroll_in_their_own_box():
    html = render_card("# Title\n\n## Usage\n\n###### Deep\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>" not in html and "<h2>Title</h2>" in html and "<h3>Usage</h3>" in html
    assert "<h6>Deep</h6>" in html  # the deepest level stays the deepest
    assert html.count('<div class="table-scroll" role="region"') == 1 and html.count("</table></div>") == 1
    assert render_card("<h1 onclick=x>raw</h1><table style=x></table>").count("<h2>raw</h2>") == 1
