"""The CSV row reader the claims and the timm speed tables share."""

import pytest

from core.claims_csv import ClaimsCsvError, read_rows


def _pair(record: dict, line: int) -> tuple[int, str | None]:
    return line, record["model"]


def test_it_ignores_a_bom_and_spaces_around_column_names_and_numbers_lines_from_the_header():
    text = "\ufeff model , top1\nresnet,1\nvit,2\n"

    assert read_rows(text, required=("model", "top1"), parse_row=_pair) == [(2, "resnet"), (3, "vit")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,top1\nx,1\n", r"missing column\(s\) model; header was \['name', 'top1'\]"),
        ("model,top1\n", "no rows"),
    ],
)
def test_a_missing_column_or_no_rows_is_refused(text, message):
    with pytest.raises(ClaimsCsvError, match=message):
        read_rows(text, required=("model", "top1"), parse_row=_pair)
