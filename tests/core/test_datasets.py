import json
from pathlib import Path

import pytest
from PIL import Image

from core.datasets import (
    DIGIT_CLASS_NAMES,
    MANIFEST_NAME,
    SPLITS,
    build_digits_imagefolder,
    dataset_content_hash,
)
from core.imagefolder import DatasetError, samples_of_classes, scan_imagefolder

DIGITS_TOTAL = 1797
# dataset_content_hash of the seed-0, 32 px build. Registered datasets and benchmark runs store this value, so a
# change must be deliberate. The PNG bytes come from Pillow's zlib: a Pillow upgrade may move it (then the
# manifest is rebuilt and this constant updated, knowingly).
DIGITS_SEED0_HASH = "8cb9b8aca90fad96927005db10fcd39ec312ddf50186440ef38b9c3853687efd"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One shared build for the read-only tests (a build takes about a second)."""
    return build_digits_imagefolder(tmp_path_factory.mktemp("shared") / "digits", seed=0)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.png"))


def test_it_builds_byte_identical_files_for_the_same_seed(built, tmp_path):
    again = build_digits_imagefolder(tmp_path / "digits", seed=0)

    assert again.content_hash == built.content_hash
    assert dataset_content_hash(again.root) == built.content_hash
    assert [p.relative_to(again.root) for p in _files(again.root)] == [
        p.relative_to(built.root) for p in _files(built.root)
    ]


def test_it_gives_another_split_for_another_seed(built, tmp_path):
    other = build_digits_imagefolder(tmp_path / "digits", seed=1)

    assert other.content_hash != built.content_hash
    assert other.split_sizes == built.split_sizes  # the same stratified proportions, other images


def test_it_splits_every_class_60_20_20(built):
    manifest = json.loads((built.root / MANIFEST_NAME).read_text())

    assert sum(built.split_sizes.values()) == DIGITS_TOTAL
    for name in DIGIT_CLASS_NAMES:
        per_split = {split: manifest["counts"][split][name] for split in SPLITS}
        total = sum(per_split.values())
        assert per_split["val"] == round(total * 0.2)
        assert per_split["test"] == round(total * 0.2)
        assert per_split["train"] == total - per_split["val"] - per_split["test"]
        for split in SPLITS:
            assert len(list((built.root / split / name).glob("*.png"))) == per_split[split]


def test_it_puts_each_source_image_in_exactly_one_split(built):
    names = [p.name for p in _files(built.root)]

    assert len(names) == len(set(names)) == DIGITS_TOTAL


def test_it_writes_rgb_pngs_at_the_requested_size(built, tmp_path):
    with Image.open(_files(built.root)[0]) as image:
        assert (image.mode, image.size) == ("RGB", (32, 32))

    small = build_digits_imagefolder(tmp_path / "digits16", image_size=16)
    with Image.open(_files(small.root)[0]) as image:
        assert image.size == (16, 16)


def test_it_records_what_it_built_in_the_manifest(built):
    manifest = json.loads((built.root / MANIFEST_NAME).read_text())

    assert manifest["seed"] == 0
    assert manifest["image_size"] == 32
    assert manifest["content_hash"] == built.content_hash
    assert manifest["class_names"] == list(DIGIT_CLASS_NAMES)
    assert {split: sum(c.values()) for split, c in manifest["counts"].items()} == built.split_sizes


def test_it_does_not_rewrite_a_complete_build(tmp_path):
    first = build_digits_imagefolder(tmp_path / "digits")
    stamps = {p: p.stat().st_mtime_ns for p in _files(first.root)}
    manifest_stamp = (first.root / MANIFEST_NAME).stat().st_mtime_ns

    second = build_digits_imagefolder(tmp_path / "digits")

    assert second == first
    assert {p: p.stat().st_mtime_ns for p in _files(second.root)} == stamps
    assert (second.root / MANIFEST_NAME).stat().st_mtime_ns == manifest_stamp


def test_it_rebuilds_a_damaged_build(tmp_path):
    first = build_digits_imagefolder(tmp_path / "digits")
    _files(first.root)[0].unlink()

    second = build_digits_imagefolder(tmp_path / "digits")

    assert second.content_hash == first.content_hash
    assert dataset_content_hash(second.root) == first.content_hash


def test_it_rebuilds_when_the_parameters_change(tmp_path):
    build_digits_imagefolder(tmp_path / "digits", seed=0)

    rebuilt = build_digits_imagefolder(tmp_path / "digits", seed=3)

    assert json.loads((rebuilt.root / MANIFEST_NAME).read_text())["seed"] == 3
    assert dataset_content_hash(rebuilt.root) == rebuilt.content_hash


def test_it_leaves_no_temporary_folders_behind(tmp_path):
    build_digits_imagefolder(tmp_path / "digits", seed=0)
    build_digits_imagefolder(tmp_path / "digits", seed=1)  # replaces the first build

    assert [p.name for p in tmp_path.iterdir()] == ["digits"]


def test_it_refuses_to_overwrite_a_folder_that_is_not_a_digits_build(tmp_path):
    root = tmp_path / "precious"
    root.mkdir()
    (root / "notes.txt").write_text("mine")

    with pytest.raises(FileExistsError):
        build_digits_imagefolder(root)
    assert (root / "notes.txt").read_text() == "mine"


def test_it_hashes_paths_and_bytes_but_not_the_manifest(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.png").write_bytes(b"one")
    (root / "a" / "y.png").write_bytes(b"two")
    original = dataset_content_hash(root)

    (root / MANIFEST_NAME).write_text("{}")
    assert dataset_content_hash(root) == original

    (root / "a" / "y.png").write_bytes(b"TWO")
    assert dataset_content_hash(root) != original

    (root / "a" / "y.png").write_bytes(b"two")
    (root / "a" / "y.png").rename(root / "a" / "z.png")
    assert dataset_content_hash(root) != original


def test_it_does_not_confuse_bytes_moved_between_files(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for root, (x, y) in ((one, (b"ab", b"c")), (two, (b"a", b"bc"))):
        root.mkdir()
        (root / "x").write_bytes(x)
        (root / "y").write_bytes(y)

    assert dataset_content_hash(one) != dataset_content_hash(two)


def test_the_digits_content_hash_keeps_its_value(built):
    assert built.content_hash == dataset_content_hash(built.root) == DIGITS_SEED0_HASH


@pytest.mark.parametrize("split", SPLITS)
def test_a_split_reads_as_its_pngs_in_class_then_file_name_order(built, split):
    scan = scan_imagefolder(built.root / split)

    assert scan.class_names == DIGIT_CLASS_NAMES
    assert [(scan.relative(path), index) for path, index in scan.samples] == [
        (f"{name}/{path.name}", index)
        for index, name in enumerate(DIGIT_CLASS_NAMES)
        for path in sorted((built.root / split / name).glob("*.png"))
    ]


def test_it_lists_a_split_restricted_to_some_classes(built):
    samples = samples_of_classes(scan_imagefolder(built.root / "test"), ["3", "4"])

    assert {index for _, index in samples} == {0, 1}
    assert all(path.parent.name == ("3", "4")[index] for path, index in samples)
    assert len(samples) == sum(
        json.loads((built.root / MANIFEST_NAME).read_text())["counts"]["test"][n] for n in ("3", "4")
    )


def test_it_refuses_a_class_the_split_does_not_have(built):
    with pytest.raises(DatasetError, match="'ten'"):
        samples_of_classes(scan_imagefolder(built.root / "train"), ["0", "ten"])
