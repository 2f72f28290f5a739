"""Reading text datasets: the three formats, splits, the content hash, and hostile files refused by name."""

import json
import re
from pathlib import Path

import pytest

from core import textdata
from core.textdata import TextDatasetError, read_text_dataset, read_text_file, read_text_split

ROWS = [("a fine film", "pos"), ("dull, and too long", "neg"), ('she said "wow"', "pos")]


def write_tsv(path: Path, rows, header="text\tlabel") -> Path:
    path.write_text(header + "\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows, header="text,label") -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(","))
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_it_reads_per_split_files_in_each_format_to_the_same_examples_and_hash(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_tsv(folder / "train.tsv", ROWS[:2])
    write_csv(folder / "val.csv", ROWS)
    write_jsonl(folder / "test.jsonl", [{"text": t, "label": label} for t, label in ROWS])

    dataset = read_text_dataset(folder)

    assert dataset.split_sizes == {"test": 3, "train": 2, "val": 3}
    assert dataset.splits["val"].texts == [t for t, _ in ROWS]
    assert dataset.splits["test"].labels == ["pos", "neg", "pos"]
    assert dataset.class_names == ("neg", "pos")
    # The hash is over what the split holds: the same rows as CSV and JSONL hash alike.
    assert dataset.split_hashes["val"] == dataset.split_hashes["test"] != dataset.split_hashes["train"]
    assert dataset.splits["test"].examples[1].where == "test.jsonl:2"


def test_it_reads_a_split_column_and_reports_unread_columns_and_stray_files(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_csv(
        folder / "all.csv",
        [("one", "a", "train", "x"), ("two", "b", "test", "y"), ("three", "a", "test", "z")],
        header="text,label,split,source",
    )
    (folder / "notes.txt").write_text("not data", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "extra").mkdir()

    dataset = read_text_dataset(folder)

    assert dataset.split_sizes == {"test": 2, "train": 1}
    assert dataset.splits["test"].texts == ["two", "three"]
    assert dict(dataset.unused) == {
        ".DS_Store": "hidden",
        "all.csv": "columns not read: source",
        "extra": "a folder: a text dataset's files sit directly in its root",
        "notes.txt": "not a .tsv, .csv, .jsonl file",
    }


def test_the_hash_follows_every_text_label_and_order_change(tmp_path):
    base = textdata.split_content_hash([textdata.TextExample(t, label, "") for t, label in ROWS])
    changed = [
        [("a fine film!", "pos"), *ROWS[1:]],
        [("a fine film", "neg"), *ROWS[1:]],
        [ROWS[1], ROWS[0], ROWS[2]],
        # Length framing: moving characters between text and label is another dataset.
        [("a fine fil", "mpos"), *ROWS[1:]],
    ]
    for rows in changed:
        assert textdata.split_content_hash([textdata.TextExample(t, lab, "") for t, lab in rows]) != base


def test_integer_labels_sort_as_numbers(tmp_path):
    rows = [(f"text {i}", str(i)) for i in (10, 2, 0, 1, 9)]
    dataset = read_text_dataset(write_tsv(tmp_path / "test.tsv", rows))

    assert dataset.class_names == ("0", "1", "2", "9", "10")


def test_a_bad_byte_is_named_by_line_and_offset(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_bytes(b"text\tlabel\ngood\tpos\nbad \xff byte\tneg\nalso \xc3( bad\tpos\n")

    with pytest.raises(TextDatasetError) as caught:
        read_text_file(path)

    message = str(caught.value)
    assert "not UTF-8" in message
    assert "line 3, byte 5 (file offset 24): bytes ff" in message
    assert "line 4, byte 6 (file offset 40): bytes c3" in message
    assert len(caught.value.details) == 2


def test_a_byte_order_mark_is_dropped_not_read_into_the_header(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\nhello,pos\n")

    assert read_text_split(path, "test").texts == ["hello"]


def test_missing_labels_empty_texts_and_ragged_rows_are_each_named(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text(
        "text\tlabel\nfine\tpos\nno label here\t\n\tneg\n   \tneg\ntoo\tmany\tfields\nshort\n\nok\tneg\n",
        encoding="utf-8",
    )

    with pytest.raises(TextDatasetError) as caught:
        read_text_file(path)

    assert caught.value.details == [
        "line 3: missing label",
        "line 4: empty text",
        "line 5: empty text",
        "line 6: 3 field(s), the header has 2",
        "line 7: 1 field(s), the header has 2",
        "line 8: empty line",
    ]
    assert str(caught.value).startswith("test.tsv: 6 problem(s): line 3: missing label; line 4: empty text")


def test_csv_rows_are_named_by_their_first_line_even_after_a_quoted_newline(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text('text,label\n"two\nlines",pos\n"x",\nok,neg,extra\n', encoding="utf-8")

    with pytest.raises(TextDatasetError) as caught:
        read_text_file(path)

    assert caught.value.details == ["line 4: missing label", "line 5: 3 field(s), the header has 2"]


def test_jsonl_records_without_labels_or_with_wrong_types_are_named(tmp_path):
    path = write_jsonl(
        tmp_path / "test.jsonl",
        [{"text": "ok", "label": 1}, {"text": "no label"}, {"text": 3, "label": "a"}, [1, 2],
         {"text": "x", "label": True}, {"text": "y", "label": None}],
    )  # fmt: skip
    with path.open("a", encoding="utf-8") as handle:  # past Python's 4,300-digit limit on int()
        handle.write('{"text": "z", "label": ' + "9" * 5000 + "}\n")

    with pytest.raises(TextDatasetError) as caught:
        read_text_file(path)

    assert caught.value.details == [
        "line 2: missing label",
        "line 3: text is a int, not a string",
        "line 4: a JSON list, not an object",
        "line 5: label True is not a string or an integer",
        "line 6: missing label",
        "line 7: not JSON (Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits; "
        "use sys.set_int_max_str_digits() to increase the limit)",
    ]


def test_a_ten_megabyte_line_is_refused_by_the_documented_limit_without_reading_it(tmp_path):
    path = tmp_path / "test.tsv"
    with path.open("wb") as handle:
        handle.write(b"text\tlabel\nshort\tpos\n")
        handle.write(b"x" * 10_000_000 + b"\tneg\n")

    with pytest.raises(TextDatasetError) as caught:
        read_text_dataset(path)

    assert str(caught.value) == (
        f"test.tsv: line 3 (file offset 21) is longer than {textdata.MAX_RECORD_BYTES:,} bytes, the limit on "
        "one record (core.textdata.MAX_RECORD_BYTES); nothing was read."
    )


def test_a_line_exactly_at_the_limit_is_read(tmp_path):
    text = "y" * (textdata.MAX_RECORD_BYTES - len("\tpos"))
    path = write_tsv(tmp_path / "test.tsv", [(text, "pos")])

    assert read_text_split(path, "test").texts == [text]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "test.tsv is empty"),
        ("words\tlabel\nx\ty\n", "no 'text' column"),
        ("text\tlabel\n", "test.tsv has a header but no rows"),
        ("text\ttext\tlabel\nx\tx\ty\n", r"repeats the column\(s\) text"),
    ],
)
def test_headers_and_empty_files_are_refused(tmp_path, content, expected):
    path = tmp_path / "test.tsv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(TextDatasetError, match=expected):
        read_text_dataset(path)


def test_a_split_from_two_files_and_a_file_named_like_no_split_are_refused(tmp_path):
    folder = tmp_path / "twice"
    folder.mkdir()
    write_tsv(folder / "test.tsv", ROWS)
    write_csv(folder / "more.csv", [("x", "pos", "test")], header="text,label,split")
    with pytest.raises(
        TextDatasetError, match=re.escape("split 'test' comes from both more.csv and test.tsv")
    ):
        read_text_dataset(folder)

    odd = write_tsv(tmp_path / "my data!.tsv", ROWS)
    with pytest.raises(TextDatasetError, match="'my data!' is not a split name"):
        read_text_dataset(odd)


def test_a_missing_split_and_an_empty_folder_are_named(tmp_path):
    path = write_tsv(tmp_path / "test.tsv", ROWS)
    with pytest.raises(TextDatasetError, match=r"has no split 'val'; it has \['test'\]"):
        read_text_split(path, "val")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TextDatasetError, match=re.escape("empty holds no .tsv, .csv, .jsonl file")):
        read_text_dataset(empty)


def test_a_long_csv_text_within_the_limit_is_read_and_a_quoted_field_past_it_is_refused(tmp_path):
    long_text = (
        "word " * 100_000
    )  # 500,000 characters: over csv's default field limit, within the record limit
    path = write_csv(tmp_path / "test.csv", [(long_text, "pos")])
    assert read_text_split(path, "test").texts == [long_text]

    # A quoted field spanning many short lines: each line is within the limit, the field is not.
    spanning = tmp_path / "spanning" / "test.csv"
    spanning.parent.mkdir()
    spanning.write_text('text,label\n"' + "x" * 1000 + "\n" + ("y" * 1000 + "\n") * 1100 + '",pos\n')
    # 1,001 characters a line: the field passes 1,000,000 on the 1,000th line of the field, line 1,001 of the file.
    with pytest.raises(TextDatasetError, match=r"line 1001: not valid CSV \(field larger than field limit"):
        read_text_dataset(spanning.parent)
