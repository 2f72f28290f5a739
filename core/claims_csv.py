"""Parse accuracy claims in timm's results-table CSV format. Pure Python: no Django.

Format: `model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation`, as in timm's
results/results-imagenet.csv. param_count is in millions and may be quoted with a thousands separator
("1,013.01"). Extra columns are ignored; missing required ones are an error.
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

REQUIRED_COLUMNS = ("model", "top1")


class ClaimsCsvError(ValueError):
    """The CSV cannot be read as a whole; the message names the row and column."""


@dataclass(frozen=True)
class ClaimRow:
    line: int
    model: str
    top1: float
    top5: float | None
    img_size: int | None
    param_count_millions: float | None
    crop_pct: float | None
    interpolation: str


def number_cell(raw: str, *, line: int, column: str) -> float | None:
    """A number as timm writes it: maybe quoted with a thousands separator ("1,014.45"); "" is None."""
    text = raw.strip().replace(",", "")
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ClaimsCsvError(f"line {line}: column {column!r} is not a number: {raw!r}") from None


def _percentage(raw: str, *, line: int, column: str) -> float | None:
    value = number_cell(raw, line=line, column=column)
    if value is not None and not 0 <= value <= 100:
        raise ClaimsCsvError(f"line {line}: column {column!r} must be a percentage 0-100, got {raw!r}")
    return value


Row = TypeVar("Row")


def read_rows(
    text: str, *, required: Sequence[str], parse_row: Callable[[dict[str, str | None], int], Row]
) -> list[Row]:
    """Every data row of a CSV with a header, parsed by parse_row(record, line): a leading BOM and spaces
    around column names are ignored; a missing required column or a CSV without rows is a ClaimsCsvError."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in required if column not in header]
    if missing:
        raise ClaimsCsvError(f"missing column(s) {', '.join(missing)}; header was {header}")
    reader.fieldnames = header
    rows = [parse_row(record, line) for line, record in enumerate(reader, start=2)]
    if not rows:
        raise ClaimsCsvError("the CSV has a header but no rows")
    return rows


def parse_claims_csv(text: str) -> list[ClaimRow]:
    return read_rows(text, required=REQUIRED_COLUMNS, parse_row=_parse_row)


def _parse_row(record: dict[str, str | None], line: int) -> ClaimRow:
    def cell(column: str) -> str:
        return (record.get(column) or "").strip()

    model = cell("model")
    if not model:
        raise ClaimsCsvError(f"line {line}: column 'model' is empty")
    top1 = _percentage(cell("top1"), line=line, column="top1")
    if top1 is None:
        raise ClaimsCsvError(f"line {line}: column 'top1' is empty")
    img_size = number_cell(cell("img_size"), line=line, column="img_size")
    if img_size is not None and (img_size <= 0 or img_size != int(img_size)):
        raise ClaimsCsvError(
            f"line {line}: column 'img_size' must be a positive integer, got {cell('img_size')!r}"
        )
    return ClaimRow(
        line=line,
        model=model,
        top1=top1,
        top5=_percentage(cell("top5"), line=line, column="top5"),
        img_size=None if img_size is None else int(img_size),
        param_count_millions=number_cell(cell("param_count"), line=line, column="param_count"),
        crop_pct=number_cell(cell("crop_pct"), line=line, column="crop_pct"),
        interpolation=cell("interpolation"),
    )
