"""Zip extraction refuses path escapes, symlinks and bombs before writing anything."""

import io
import stat
import zipfile
from pathlib import Path

import pytest

from core.archives import ArchiveError, ArchiveLimits, extract_zip


def make_zip(
    path: Path, members: dict[str, bytes], *, symlink: str | None = None, compression=zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_it_extracts_an_imagefolder_and_strips_a_wrapping_folder(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {"mydata/test/cat/1.png": b"a", "mydata/test/dog/2.png": b"b"})
    destination = extract_zip(archive, tmp_path / "out")
    assert sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file()) == [
        "test/cat/1.png",
        "test/dog/2.png",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.png", "escapes the archive with '..'"),
        ("test/../../evil.png", "escapes the archive with '..'"),
        ("/etc/evil.png", "absolute path"),
        ("C:/evil.png", "absolute path"),
        ("test\\..\\evil.png", "backslash"),
    ],
)
def test_it_refuses_path_escapes_and_writes_nothing(tmp_path, name, message):
    archive = make_zip(tmp_path / "d.zip", {"test/a/1.png": b"x", name: b"evil"})
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["d.zip"]


def test_it_refuses_symlinks(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {"test/a/1.png": b"x"}, symlink="test/a/link.png")
    with pytest.raises(ArchiveError, match="symlink"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_it_refuses_a_zip_bomb(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {"test/a/1.png": b"\0" * 5_000_000})
    with pytest.raises(ArchiveError, match="expands"):
        extract_zip(archive, tmp_path / "out")


def test_it_enforces_member_count_and_total_size(tmp_path):
    archive = make_zip(
        tmp_path / "d.zip", {f"test/a/{i}.png": bytes([i]) for i in range(5)}, compression=zipfile.ZIP_STORED
    )
    with pytest.raises(ArchiveError, match="5 members is over the limit of 4"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_members=4))
    with pytest.raises(ArchiveError, match="over the limit of 3"):
        extract_zip(archive, tmp_path / "out2", ArchiveLimits(max_total_bytes=3))


def test_it_refuses_what_is_not_a_zip(tmp_path):
    path = tmp_path / "d.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="Not a readable zip file"):
        extract_zip(path, tmp_path / "out")


def test_an_empty_archive_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    path = tmp_path / "d.zip"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError, match="no files"):
        extract_zip(path, tmp_path / "out")
