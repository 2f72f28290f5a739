"""timm's published results tables, shipped in core/data/timm-results/. Pure Python: no Django.

Six accuracy tables (one per test set, timm's results-table format, read by core.claims_csv) and two
inference-speed tables (one row per architecture). Every number may be quoted with a thousands separator
("1,014.45"). The files are unchanged copies from timm's repository at TIMM_RESULTS_COMMIT (SOURCE.md).
"""

from dataclasses import dataclass
from pathlib import Path

from core.claims_csv import ClaimRow, ClaimsCsvError, number_cell, parse_claims_csv, read_rows

DATA_DIR = Path(__file__).resolve().parent / "data" / "timm-results"
TIMM_RESULTS_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"
TIMM_REPOSITORY = "https://github.com/huggingface/pytorch-image-models"


def source_url(filename: str) -> str:
    """Where the file lives in timm's repository, pinned to the commit the copy was taken at."""
    return f"{TIMM_REPOSITORY}/blob/{TIMM_RESULTS_COMMIT}/results/{filename}"


@dataclass(frozen=True)
class TestSet:
    dataset: str  # the name timm and the Hugging Face Hub use
    split: str
    label: str
    filename: str


# ImageNet-1k first: it is the headline claim and the baseline the other sets' drops are measured from.
TEST_SETS = (
    TestSet("imagenet-1k", "validation", "ImageNet-1k", "results-imagenet.csv"),
    TestSet("imagenet-real", "validation", "ImageNet-ReaL", "results-imagenet-real.csv"),
    TestSet("imagenetv2-matched-frequency", "test", "ImageNetV2", "results-imagenetv2-matched-frequency.csv"),
    TestSet("imagenet-sketch", "test", "ImageNet-Sketch", "results-sketch.csv"),
    TestSet("imagenet-a", "test", "ImageNet-A", "results-imagenet-a.csv"),
    TestSet("imagenet-r", "test", "ImageNet-R", "results-imagenet-r.csv"),
)


@dataclass(frozen=True)
class SpeedTable:
    filename: str
    device: str
    hardware: str
    precision: str
    torch_version: str


SPEED_TABLES = (
    SpeedTable(
        "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv",
        "cpu",
        "Intel Core i7-12700H",
        "fp32",
        "2.4.0",
    ),
    SpeedTable("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "cuda", "NVIDIA RTX 5090", "amp", "2.9.1"),
)

SPEED_REQUIRED_COLUMNS = ("model", "infer_samples_per_sec", "infer_batch_size", "infer_img_size")


@dataclass(frozen=True)
class SpeedRow:
    line: int
    architecture: str
    samples_per_sec: float
    step_time_ms: float | None
    batch_size: int
    img_size: int
    param_count_millions: float | None
    gmacs: float | None


def parse_speed_csv(text: str) -> list[SpeedRow]:
    """timm's benchmark-infer-*.csv: one row per architecture. Raises ClaimsCsvError naming row and column."""
    return read_rows(text, required=SPEED_REQUIRED_COLUMNS, parse_row=_speed_row)


def _required(record: dict, column: str, *, line: int) -> float:
    value = number_cell(record.get(column) or "", line=line, column=column)
    if value is None:
        raise ClaimsCsvError(f"line {line}: column {column!r} is empty")
    if value < 0:
        raise ClaimsCsvError(f"line {line}: column {column!r} must not be negative, got {record[column]!r}")
    return value


def _whole(record: dict, column: str, *, line: int) -> int:
    value = _required(record, column, line=line)
    if value != int(value) or value < 1:
        raise ClaimsCsvError(
            f"line {line}: column {column!r} must be a positive integer, got {record[column]!r}"
        )
    return int(value)


def _speed_row(record: dict, line: int) -> SpeedRow:
    architecture = (record.get("model") or "").strip()
    if not architecture:
        raise ClaimsCsvError(f"line {line}: column 'model' is empty")
    return SpeedRow(
        line=line,
        architecture=architecture,
        samples_per_sec=_required(record, "infer_samples_per_sec", line=line),
        step_time_ms=number_cell(record.get("infer_step_time") or "", line=line, column="infer_step_time"),
        batch_size=_whole(record, "infer_batch_size", line=line),
        img_size=_whole(record, "infer_img_size", line=line),
        param_count_millions=number_cell(record.get("param_count") or "", line=line, column="param_count"),
        gmacs=number_cell(record.get("infer_gmacs") or "", line=line, column="infer_gmacs"),
    )


def read_test_set(test_set: TestSet, data_dir: Path = DATA_DIR) -> list[ClaimRow]:
    path = data_dir / test_set.filename
    try:
        return parse_claims_csv(path.read_text(encoding="utf-8"))
    except ClaimsCsvError as error:
        raise ClaimsCsvError(f"{path.name}: {error}") from None


def read_speed_table(table: SpeedTable, data_dir: Path = DATA_DIR) -> list[SpeedRow]:
    path = data_dir / table.filename
    try:
        return parse_speed_csv(path.read_text(encoding="utf-8"))
    except ClaimsCsvError as error:
        raise ClaimsCsvError(f"{path.name}: {error}") from None
