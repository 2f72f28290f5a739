"""The demo's text data: the pinned sdist checked by hash, its rated snippets labelled, split and written as
text datasets the strict reader accepts (built from a stand-in sdist; the real one only when it is cached)."""

import hashlib
import subprocess

import pytest

from core.textdata import read_text_dataset
from demo import text_data
from demo.text_data import (
    MOVIES,
    TextDataError,
    build_text_datasets,
    check_sdist,
    fetch_sdist,
    label_of,
    parse_rated,
    split_indices,
)
from tests.demo.text_sdist import BOUNDARY_ROWS, ground_truth, rated_lines, write_sdist


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sdist(tmp_path):
    return write_sdist(tmp_path / "cache" / text_data.SDIST_FILENAME)


def test_a_file_that_is_not_the_pinned_sdist_is_refused_naming_both_digests(tmp_path, monkeypatch):
    wrong = tmp_path / text_data.SDIST_FILENAME
    wrong.write_bytes(b"not the vaderSentiment sdist")
    digest = sha256_of(wrong)

    with pytest.raises(TextDataError) as caught:
        check_sdist(wrong)
    assert digest in str(caught.value) and text_data.SDIST_SHA256 in str(caught.value)

    # A cached file is checked, never trusted, and a bad one is not silently downloaded over.
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip ran although the file is cached"))
    with pytest.raises(TextDataError, match="not the pinned"):
        fetch_sdist(cache_dir=tmp_path)
    assert wrong.read_bytes() == b"not the vaderSentiment sdist"
    with pytest.raises(TextDataError, match="not the pinned"):
        build_text_datasets(sdist=wrong, root=tmp_path / "datasets")
    assert not (tmp_path / "datasets").exists()


def test_a_failed_download_says_what_pip_said(tmp_path, monkeypatch):
    def pip_fails(command, **kwargs):
        assert command[1:4] == ["-m", "pip", "download"] and "vaderSentiment==3.3.2" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", pip_fails)
    with pytest.raises(TextDataError, match="No matching distribution found"):
        fetch_sdist(cache_dir=tmp_path / "empty")


def test_labels_follow_the_threshold_and_the_neutral_middle_is_left_out():
    assert [label_of(r) for r in (4.0, 0.5, 0.4999, 0.0, -0.4999, -0.5, -4.0)] == [
        "pos", "pos", None, None, None, "neg", "neg",
    ]  # fmt: skip
    labelled = text_data.label_set(
        text_data.OUT_OF_DOMAIN[0],
        parse_rated(ground_truth(BOUNDARY_ROWS), filename="tweets_GroundTruth.txt"),
        seed=0,
    )
    assert labelled.splits == {"test": [("just about fine", "pos"), ("just about bad", "neg")]}
    assert (labelled.rated, labelled.neutral) == (4, 2)


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
@pytest.mark.parametrize("last_newline", [True, False])
def test_lines_end_in_crlf_or_lf_and_no_carriage_return_reaches_a_text(line_end, last_newline):
    rows = rated_lines(5)
    parsed = parse_rated(ground_truth(rows, line_end=line_end, last_newline=last_newline), filename="f.txt")

    assert [(p.id, p.rating, p.text) for p in parsed] == [
        (str(i), rating, text) for i, (rating, text) in enumerate(rows, start=1)
    ]


def test_every_bad_line_is_named_not_skipped():
    data = b"1\t2.0\tfine\r\n2\tlots\tbad rating\r\n3\t9.5\tout of range\r\n4\t1.0\r\n5\t-1\t \r\n6\t1\ta\tb"
    with pytest.raises(TextDataError) as caught:
        parse_rated(data, filename="movieReviewSnippets_GroundTruth.txt")
    message = str(caught.value)
    assert message.startswith("movieReviewSnippets_GroundTruth.txt: 5 bad line(s): line 2: rating 'lots'")
    for expected in (
        "line 3: rating 9.5 outside",
        "line 4: 2 tab-separated",
        "line 5: empty text",
        "line 6: 4",
    ):
        assert expected in message
    with pytest.raises(TextDataError, match="line 2 is not UTF-8"):
        parse_rated(b"1\t1\tok\r\n2\t1\tcaf\xe9", filename="f.txt")


def test_the_split_is_seeded_deterministic_disjoint_and_complete():
    train, test = split_indices(100, test_size=20, seed=0)

    assert (train, test) == split_indices(100, test_size=20, seed=0)
    assert test != split_indices(100, test_size=20, seed=1)[1]
    assert len(test) == 20 and sorted(train + test) == list(range(100)) and test == sorted(test)
    with pytest.raises(TextDataError, match="cannot hold out 100 of 100"):
        split_indices(100, test_size=100, seed=0)


def test_the_built_datasets_read_strictly_and_a_second_build_keeps_them(sdist, tmp_path):
    built = build_text_datasets(
        sdist=sdist, root=tmp_path / "datasets", seed=0, test_size=20, expected_sha256=sha256_of(sdist)
    )

    movies = read_text_dataset(built.folder(MOVIES))
    assert movies.split_sizes == {
        "test": 20,
        "train": 42,
    }  # 60 clear + 2 boundary snippets, 2 neutral left out
    assert movies.class_names == ("neg", "pos") and movies.unused == ()
    assert all("\r" not in text for split in movies.splits.values() for text in split.texts)
    assert built.sets["movies"].splits["test"] == list(
        zip(movies.splits["test"].texts, movies.splits["test"].labels, strict=True)
    )
    for source in text_data.OUT_OF_DOMAIN:
        assert read_text_dataset(built.folder(source)).split_sizes == {"test": 14}

    test_file = built.folder(MOVIES) / "test.tsv"
    written = test_file.stat().st_mtime_ns
    again = build_text_datasets(
        sdist=sdist, root=tmp_path / "datasets", seed=0, test_size=20, expected_sha256=sha256_of(sdist)
    )
    assert again.sets == built.sets and test_file.stat().st_mtime_ns == written
    text_data.marker_path(built.folder(MOVIES)).unlink()  # as after a build stopped before its marker
    build_text_datasets(
        sdist=sdist, root=tmp_path / "datasets", seed=0, test_size=20, expected_sha256=sha256_of(sdist)
    )
    assert text_data.marker_path(built.folder(MOVIES)).read_text() == built.marker
    reseeded = build_text_datasets(
        sdist=sdist, root=tmp_path / "datasets", seed=1, test_size=20, expected_sha256=sha256_of(sdist)
    )
    assert reseeded.sets["movies"].splits["test"] != built.sets["movies"].splits["test"]
    assert read_text_dataset(built.folder(MOVIES)).splits["test"].texts == [
        t for t, _ in reseeded.sets["movies"].splits["test"]
    ]


def test_an_archive_without_a_ground_truth_file_is_refused(tmp_path):
    sdist = write_sdist(tmp_path / "x.tar.gz")
    # Rebuilt without the tweets file: the builder names the member it could not find.
    import io
    import tarfile

    with tarfile.open(sdist) as outer:
        inner = outer.extractfile(text_data.INNER_ARCHIVE).read()
    kept = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(inner)) as source, tarfile.open(fileobj=kept, mode="w:gz") as target:
        for member in source.getmembers():
            if "tweets" not in member.name:
                target.addfile(member, source.extractfile(member))
    broken = io.BytesIO()
    with tarfile.open(fileobj=broken, mode="w:gz") as outer:
        info = tarfile.TarInfo(text_data.INNER_ARCHIVE)
        info.size = len(kept.getvalue())
        outer.addfile(info, io.BytesIO(kept.getvalue()))
    sdist.write_bytes(broken.getvalue())

    with pytest.raises(
        TextDataError, match=r"hutto_ICWSM_2014\.tar\.gz has no hutto_ICWSM_2014/tweets_GroundTruth\.txt"
    ):
        text_data.read_rated_files(sdist)


def test_the_real_sdist_builds_the_issues_split_when_it_is_cached(tmp_path):
    cached = text_data.DEFAULT_CACHE / text_data.SDIST_FILENAME
    if not cached.is_file():
        pytest.skip(f"{cached} is not downloaded (`make prepare` fetches it)")

    built = build_text_datasets(sdist=cached, root=tmp_path / "datasets", seed=0)

    sizes = {key: labelled.split_sizes for key, labelled in built.sets.items()}
    assert sizes == {
        "movies": {"train": 8_072, "test": 2_000}, "tweets": {"test": 3_432}, "amazon": {"test": 2_985},
        "nyt": {"test": 2_970},
    }  # fmt: skip
    assert {key: labelled.rated for key, labelled in built.sets.items()} == {
        "movies": 10_605, "tweets": 4_200, "amazon": 3_708, "nyt": 5_190,
    }  # fmt: skip
    assert read_text_dataset(built.folder(MOVIES)).split_sizes == {"test": 2_000, "train": 8_072}
