"""Scanning and verifying an ImageFolder split."""

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from core import imagefolder
from core.imagefolder import (
    DatasetError,
    samples_of_classes,
    scan_imagefolder,
    unreadable_images,
    verify_images,
)


def write_image(path: Path, fmt: str = "PNG", value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path, format=fmt)
    return path


@pytest.fixture
def split(tmp_path) -> Path:
    root = tmp_path / "split"
    write_image(root / "cat" / "b.png")
    write_image(root / "cat" / "a.jpg", fmt="JPEG")
    write_image(root / "cat" / "nested" / "c.PNG")
    write_image(root / "ant" / "z.bmp", fmt="BMP")
    (root / "empty").mkdir()
    return root


def test_it_lists_classes_and_samples_in_a_stable_order(split):
    scan = scan_imagefolder(split)

    assert scan.class_names == ("ant", "cat", "empty")
    assert [(scan.relative(path), index) for path, index in scan.samples] == [
        ("ant/z.bmp", 0),
        ("cat/a.jpg", 1),
        ("cat/b.png", 1),
        ("cat/nested/c.PNG", 1),
    ]
    assert scan.class_counts == {"ant": 1, "cat": 3, "empty": 0}
    assert verify_images(scan) == []


def test_it_skips_hidden_files_and_files_beside_the_class_folders(split):
    (split / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (split / ".cache").mkdir()
    (split / "README.txt").write_text("about this data")

    scan = scan_imagefolder(split)

    assert scan.class_names == ("ant", "cat", "empty")
    assert len(scan.samples) == 4
    assert verify_images(scan) == []


def test_it_reports_undecodable_and_non_image_files_by_relative_path(split):
    (split / "cat" / "garbage.png").write_bytes(b"definitely not a png")
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(png, format="PNG")
    (split / "ant" / "truncated.png").write_bytes(png.getvalue()[:-40])  # header fine, pixel data cut
    (split / "cat" / "labels.csv").write_text("a,b\n")

    scan = scan_imagefolder(split)

    assert verify_images(scan) == ["ant/truncated.png", "cat/garbage.png", "cat/labels.csv"]
    assert scan.non_image_files == ("cat/labels.csv",)


class JobInterrupted(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded: an Exception raised wherever the job happens to be."""


def test_an_interruption_during_a_decode_propagates_instead_of_marking_the_image_unreadable(
    split, monkeypatch
):
    def interrupted(path):
        raise JobInterrupted

    monkeypatch.setattr(imagefolder, "decode_image", interrupted)
    scan = scan_imagefolder(split)

    with pytest.raises(JobInterrupted):
        unreadable_images(scan)
    with pytest.raises(JobInterrupted):
        verify_images(scan)


def test_it_refuses_a_path_that_is_not_a_directory(tmp_path):
    (tmp_path / "file.png").write_bytes(b"x")

    with pytest.raises(DatasetError, match="not a directory"):
        scan_imagefolder(tmp_path / "file.png")
    with pytest.raises(DatasetError, match="not a directory"):
        scan_imagefolder(tmp_path / "missing")


def test_it_refuses_a_folder_without_class_folders(tmp_path):
    write_image(tmp_path / "loose.png")

    with pytest.raises(DatasetError, match="no class folders"):
        scan_imagefolder(tmp_path)


def test_it_refuses_class_folders_without_images(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    with pytest.raises(DatasetError, match="no images"):
        scan_imagefolder(tmp_path)


def test_it_refuses_symlinks_that_escape_the_root(tmp_path, split):
    outside = write_image(tmp_path / "outside" / "secret.png")
    os.symlink(outside, split / "cat" / "link.png")

    with pytest.raises(DatasetError, match=r"cat/link\.png.*outside"):
        scan_imagefolder(split)


def test_it_refuses_a_class_folder_linked_from_outside(tmp_path, split):
    write_image(tmp_path / "elsewhere" / "x.png")
    os.symlink(tmp_path / "elsewhere", split / "dog")

    with pytest.raises(DatasetError, match=r"dog.*outside"):
        scan_imagefolder(split)


def test_it_follows_symlinks_inside_the_root_once(split):
    os.symlink(split / "cat" / "b.png", split / "ant" / "b-again.png")
    os.symlink(split / "cat", split / "cat" / "nested" / "loop")

    scan = scan_imagefolder(split)

    assert scan.class_counts == {"ant": 2, "cat": 3, "empty": 0}


def test_it_keeps_the_samples_of_some_classes_labelled_in_the_order_asked(split):
    samples = samples_of_classes(scan_imagefolder(split), ["cat", "ant"])

    assert [(path.relative_to(split.resolve()).as_posix(), label) for path, label in samples] == [
        ("cat/a.jpg", 0),
        ("cat/b.png", 0),
        ("cat/nested/c.PNG", 0),
        ("ant/z.bmp", 1),
    ]
