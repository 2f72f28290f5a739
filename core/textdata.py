"""Text classification datasets: TSV, CSV or JSONL files with a text and a label per row, read strictly.

Pure python (no Django import): the text evaluation and notebooks use it directly.

Layout. A dataset is one file or a folder of files, each `.tsv`, `.csv` or `.jsonl`:
- every file has the columns (JSONL: keys) `text` and `label`; other columns are not read and are reported;
- a file with a `split` column puts each row in the split it names; a file without one is the split named by
  its stem (`test.tsv` holds split `test`). A split may come from one file only.
- TSV is tab-separated with no quoting (a text cannot hold a tab or a newline); CSV follows RFC 4180 (quoted
  fields may hold commas, quotes and newlines); JSONL is one JSON object per line, a label a string or an
  integer. The first row of a TSV or CSV file is its header. Labels and split names lose surrounding spaces
  (texts are kept as written).
- Files are UTF-8 (an initial byte-order mark is allowed and dropped). One line may hold at most
  MAX_RECORD_BYTES bytes: a longer one is refused before it is read into memory.
Nothing is skipped silently: a bad byte, a ragged row, a missing label or an empty text fails the read,
naming the file, the line and the problem (every bad row, not only the first); hidden files, folders and
other files in a dataset folder, and unread columns, are listed in `unused` with the reason.

The content hash of a split is sha256 over its examples in order (text and label, length-framed): what the
split holds, not how it is spelled, so the same rows as TSV or JSONL hash alike, and any edit to a text, a
label or the order changes it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
SPLIT_COLUMN = "split"
FORMATS: dict[str, str] = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
# One line (one record) at most 1 MB: far above any sentence or review, far below what a reader should hold
# for one row; a 10 MB line is a broken export (or an attack), not a text to classify.
MAX_RECORD_BYTES = 1_000_000
SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_HASH_VERSION = b"depot-text-v1\0"
_BOM = b"\xef\xbb\xbf"
_MAX_LISTED = 20


class TextDatasetError(ValueError):
    """The file or folder is not a usable text dataset. details lists every problem (file, line, what)."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


@dataclass(frozen=True)
class TextExample:
    text: str
    label: str
    where: str  # "file:line", how a problem with this example is reported


@dataclass(frozen=True)
class TextSplit:
    name: str
    source: str  # the file it was read from
    examples: tuple[TextExample, ...]
    content_hash: str

    @property
    def texts(self) -> list[str]:
        return [example.text for example in self.examples]

    @property
    def labels(self) -> list[str]:
        return [example.label for example in self.examples]


@dataclass(frozen=True)
class TextDataset:
    root: Path
    splits: dict[str, TextSplit]
    class_names: tuple[str, ...]  # every label of every split, sorted (numerically when all are integers)
    unused: tuple[tuple[str, str], ...] = ()  # (path or "path: columns", reason)

    @property
    def split_sizes(self) -> dict[str, int]:
        return {name: len(split.examples) for name, split in self.splits.items()}

    @property
    def split_hashes(self) -> dict[str, str]:
        return {name: split.content_hash for name, split in self.splits.items()}


@dataclass
class _FileRows:
    """What one file holds: rows as (line, text, label, split or None), the columns it did not read."""

    name: str
    rows: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    has_split_column: bool = False
    unread_columns: list[str] = field(default_factory=list)


def _format_list(items: Sequence[str]) -> str:
    shown = "; ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown}; and {more} more" if more > 0 else shown


def _raise_problems(name: str, problems: list[str]) -> None:
    if problems:
        raise TextDatasetError(f"{name}: {len(problems)} problem(s): {_format_list(problems)}", problems)


# ----------------------------------------------------------------------------------------------------
# Lines: bounded, UTF-8 checked


def _raw_lines(path: Path, name: str) -> Iterator[tuple[int, int, bytes]]:
    """(line number, file offset, bytes with the line ending) per line; refuses a line over the limit."""
    with path.open("rb") as handle:
        offset, number = 0, 0
        while raw := handle.readline(MAX_RECORD_BYTES + 3):  # room for "\r\n" and one byte over the limit
            number += 1
            if len(raw.rstrip(b"\r\n")) > MAX_RECORD_BYTES:
                raise TextDatasetError(
                    f"{name}: line {number} (file offset {offset}) is longer than {MAX_RECORD_BYTES:,} bytes, "
                    "the limit on one record (core.textdata.MAX_RECORD_BYTES); nothing was read."
                )
            if number == 1 and raw.startswith(_BOM):
                raw, offset = raw[len(_BOM) :], offset + len(_BOM)
            yield number, offset, raw
            offset += len(raw)


def _decoded_lines(path: Path, name: str) -> list[tuple[int, str]]:
    """Every line decoded as UTF-8; every bad byte sequence is named by line and offset before any parsing."""
    lines, problems = [], []
    for number, offset, raw in _raw_lines(path, name):
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.end].hex(" ")
            problems.append(
                f"line {number}, byte {error.start + 1} (file offset {offset + error.start}): "
                f"bytes {bad} are not UTF-8 ({error.reason})"
            )
    if problems:
        raise TextDatasetError(f"{name} is not UTF-8: {_format_list(problems)}", problems)
    return lines


# ----------------------------------------------------------------------------------------------------
# Rows per format


def _check_header(name: str, header: list[str]) -> dict[str, int]:
    columns = [column.strip() for column in header]
    duplicates = sorted({column for column in columns if columns.count(column) > 1})
    if duplicates:
        raise TextDatasetError(f"{name}: the header repeats the column(s) {', '.join(duplicates)}")
    missing = [column for column in (TEXT_COLUMN, LABEL_COLUMN) if column not in columns]
    if missing:
        raise TextDatasetError(
            f"{name}: the header {columns} has no {' and no '.join(repr(c) for c in missing)} column "
            f"(the first row must name the columns; {TEXT_COLUMN!r} and {LABEL_COLUMN!r} are required)"
        )
    return {column: index for index, column in enumerate(columns)}


def _row_problems(text: object, label: object, split: object, has_split: bool) -> list[str]:
    problems = []
    if not isinstance(text, str):
        problems.append("missing text" if text is None else f"text is a {type(text).__name__}, not a string")
    elif not text.strip():
        problems.append("empty text")
    if label is None or (isinstance(label, str) and not label.strip()):
        problems.append("missing label")
    elif isinstance(label, bool) or not isinstance(label, str | int):
        problems.append(f"label {label!r} is not a string or an integer")
    if has_split and (not isinstance(split, str) or not SPLIT_NAME.match(split.strip())):
        problems.append(f"split {split!r} is not a split name (letters, digits, '.', '_', '-')")
    return problems


def _add_row(rows: _FileRows, problems: list[str], line: int, values: tuple[object, object, object]) -> None:
    text, label, split = values
    found = _row_problems(text, label, split, rows.has_split_column)
    if found:
        problems.append(f"line {line}: {', '.join(found)}")
        return
    rows.rows.append((line, text, str(label).strip(), split.strip() if rows.has_split_column else None))


def _table_rows(name: str, records: Iterator[tuple[int, list[str]]]) -> _FileRows:
    """Rows of a TSV or CSV file from (line, fields) records, the first being the header."""
    first = next(records, None)
    if first is None:
        raise TextDatasetError(
            f"{name} is empty (expected a header row naming {TEXT_COLUMN!r} and {LABEL_COLUMN!r})"
        )
    index = _check_header(name, first[1])
    rows = _FileRows(name=name, has_split_column=SPLIT_COLUMN in index)
    rows.unread_columns = [c for c in index if c not in (TEXT_COLUMN, LABEL_COLUMN, SPLIT_COLUMN)]
    problems: list[str] = []
    for line, fields in records:
        if fields == [] or fields == [""]:
            problems.append(f"line {line}: empty line")
        elif len(fields) != len(index):
            problems.append(f"line {line}: {len(fields)} field(s), the header has {len(index)}")
        else:
            split = fields[index[SPLIT_COLUMN]] if rows.has_split_column else None
            _add_row(rows, problems, line, (fields[index[TEXT_COLUMN]], fields[index[LABEL_COLUMN]], split))
    _raise_problems(name, problems)
    return rows


def _tsv_records(lines: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    for number, line in lines:
        yield number, line.rstrip("\r\n").split("\t")


def _csv_records(name: str, lines: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    # csv's own field limit (131,072 characters) would refuse texts the record limit allows; a quoted field
    # spanning lines is bounded by it too, so no record grows past MAX_RECORD_BYTES characters.
    if csv.field_size_limit() != MAX_RECORD_BYTES:
        csv.field_size_limit(MAX_RECORD_BYTES)
    reader = csv.reader((line for _, line in lines), strict=True)
    first_line = 1
    try:
        for fields in reader:
            yield first_line, fields
            first_line = reader.line_num + 1
    except csv.Error as error:
        raise TextDatasetError(f"{name}: line {reader.line_num}: not valid CSV ({error})") from None


def _jsonl_rows(name: str, lines: list[tuple[int, str]]) -> _FileRows:
    rows = _FileRows(name=name)
    problems: list[str] = []
    unread: set[str] = set()
    for number, line in lines:
        if not line.strip():
            problems.append(f"line {number}: empty line")
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:  # ValueError: also an integer past 4,300 digits
            problems.append(f"line {number}: not JSON ({error})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: a JSON {type(record).__name__}, not an object")
            continue
        if number == lines[0][0]:  # the first record decides whether the file carries splits
            rows.has_split_column = SPLIT_COLUMN in record
        unread.update(key for key in record if key not in (TEXT_COLUMN, LABEL_COLUMN, SPLIT_COLUMN))
        if rows.has_split_column != (SPLIT_COLUMN in record):
            problems.append(f"line {number}: {SPLIT_COLUMN!r} present in some records and not in others")
            continue
        _add_row(
            rows,
            problems,
            number,
            (record.get(TEXT_COLUMN), record.get(LABEL_COLUMN), record.get(SPLIT_COLUMN)),
        )
    _raise_problems(name, problems)
    if not lines:
        raise TextDatasetError(f"{name} is empty (expected one JSON object per line)")
    rows.unread_columns = sorted(unread)
    return rows


def read_text_file(path: Path, *, name: str | None = None) -> _FileRows:
    """Every row of one TSV, CSV or JSONL file, or TextDatasetError naming every bad line."""
    path = Path(path)
    name = name or path.name
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise TextDatasetError(f"{name}: not a text dataset file (expected {', '.join(FORMATS)})")
    lines = _decoded_lines(path, name)
    if kind == "jsonl":
        rows = _jsonl_rows(name, lines)
    elif kind == "tsv":
        rows = _table_rows(name, _tsv_records(lines))
    else:
        rows = _table_rows(name, _csv_records(name, lines))
    if not rows.rows:
        raise TextDatasetError(f"{name} has a header but no rows")
    return rows


# ----------------------------------------------------------------------------------------------------
# Splits and the dataset


def split_content_hash(examples: Sequence[TextExample]) -> str:
    """sha256 over the examples in order, each text and label framed by its UTF-8 length."""
    digest = hashlib.sha256(_HASH_VERSION)
    for example in examples:
        for value in (example.text, example.label):
            data = value.encode("utf-8")
            digest.update(str(len(data)).encode("ascii") + b"\0" + data + b"\0")
    return digest.hexdigest()


def _label_order(labels: set[str]) -> tuple[str, ...]:
    # "10" after "9", not after "1", when every label is an integer (class indices written as numbers).
    if labels and all(label.isdigit() and str(int(label)) == label for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


def _files_of(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    if root.is_file():
        return [root], []
    if not root.is_dir():
        raise TextDatasetError(f"{root} is neither a file nor a directory")
    files, unused = [], []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            unused.append((path.name, "hidden"))
        elif path.is_dir():
            unused.append((path.name, "a folder: a text dataset's files sit directly in its root"))
        elif path.suffix.lower() not in FORMATS:
            unused.append((path.name, f"not a {', '.join(FORMATS)} file"))
        else:
            files.append(path)
    if not files:
        raise TextDatasetError(f"{root.name} holds no {', '.join(FORMATS)} file")
    return files, unused


def _split_rows(rows: _FileRows, path: Path) -> dict[str, list[TextExample]]:
    if not rows.has_split_column and not SPLIT_NAME.match(path.stem):
        raise TextDatasetError(
            f"{rows.name}: without a {SPLIT_COLUMN!r} column the file's stem names its split, and "
            f"{path.stem!r} is not a split name (letters, digits, '.', '_', '-'; at most 32)"
        )
    splits: dict[str, list[TextExample]] = {}
    for line, text, label, split in rows.rows:
        splits.setdefault(split or path.stem, []).append(TextExample(text, label, f"{rows.name}:{line}"))
    return splits


def read_text_dataset(root: Path) -> TextDataset:
    """Read a text dataset (a file, or a folder of files) strictly; TextDatasetError names every problem."""
    root = Path(root)
    files, unused = _files_of(root)
    examples: dict[str, list[TextExample]] = {}
    sources: dict[str, str] = {}
    for path in files:
        rows = read_text_file(path)
        if rows.unread_columns:
            unused.append((path.name, f"columns not read: {', '.join(rows.unread_columns)}"))
        for split, items in _split_rows(rows, path).items():
            if split in sources:
                raise TextDatasetError(f"split {split!r} comes from both {sources[split]} and {path.name}")
            sources[split], examples[split] = path.name, items
    splits = {
        name: TextSplit(name, sources[name], tuple(items), split_content_hash(items))
        for name, items in sorted(examples.items())
    }
    labels = {example.label for split in splits.values() for example in split.examples}
    return TextDataset(root=root, splits=splits, class_names=_label_order(labels), unused=tuple(unused))


def read_text_split(root: Path, split: str) -> TextSplit:
    """One split of a text dataset (the whole dataset is read: a split may share a file with others)."""
    dataset = read_text_dataset(root)
    if split not in dataset.splits:
        raise TextDatasetError(f"{Path(root).name} has no split {split!r}; it has {sorted(dataset.splits)}")
    return dataset.splits[split]
