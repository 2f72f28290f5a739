"""A stand-in for the vaderSentiment sdist, laid out as the real one (an outer tar.gz holding
additional_resources/hutto_ICWSM_2014.tar.gz with the four *_GroundTruth.txt files, CRLF lines), with a few
synthetic snippets: the builder's tests never need the network or the third-party texts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from demo import text_data
from tests.text_models import NEGATIVE, POSITIVE

# Beside clear snippets, every set has nearly neutral ones (left out) and the two boundaries (kept).
BOUNDARY_ROWS = [(0.5, "just about fine"), (-0.5, "just about bad"), (0.4999, "almost fine"), (-0.3, "meh")]


def rated_lines(count: int, *, offset: int = 0) -> list[tuple[float, str]]:
    """count clear snippets (alternating pos and neg, their words from the tiny test tokenizer's vocabulary)."""
    rows = []
    for i in range(offset, offset + count):
        positive = i % 2 == 0
        words = POSITIVE if positive else NEGATIVE
        text = f"a {words[i % len(words)]} film , {words[(i * 3) % len(words)]} acting number {i}"
        rows.append(((2.0 + (i % 3) / 3) * (1 if positive else -1), text))
    return rows


def ground_truth(
    rows: list[tuple[float, str]], *, line_end: str = "\r\n", last_newline: bool = False
) -> bytes:
    body = line_end.join(f"{i}\t{rating}\t{text}" for i, (rating, text) in enumerate(rows, start=1))
    return (body + (line_end if last_newline else "")).encode("utf-8")


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_sdist(
    path: Path, *, files: dict[str, bytes] | None = None, movies: int = 60, others: int = 12
) -> Path:
    """The stand-in sdist at path; files (by source key) replace the generated ground-truth files."""
    counts = {"movies": movies, "tweets": others, "amazon": others, "nyt": others}
    contents = {
        source.key: ground_truth(rated_lines(counts[source.key], offset=100 * n) + BOUNDARY_ROWS)
        for n, source in enumerate(text_data.SOURCES)
    }
    contents.update(files or {})
    inner = _tar_gz(
        {f"{text_data.INNER_FOLDER}/{s.filename}": contents[s.key] for s in text_data.SOURCES}
        | {f"{text_data.INNER_FOLDER}/_README_.txt": b"the VADER data\r\n"}
    )
    outer = _tar_gz({text_data.INNER_ARCHIVE: inner, "vaderSentiment-3.3.2/setup.py": b"# not run\n"})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(outer)
    return path
