"""Safe extraction of an uploaded ImageFolder zip. Pure Python: no Django.

Every member is checked before a single byte is written: no absolute paths, no `..`, no symlinks or special
files, limits on member count, total size and compression ratio (zip bombs). Extraction goes into a fresh
temporary directory beside the destination, renamed into place only when complete.
"""

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_NAME_BYTES = 255  # per path component: the usual file-system limit (ENAMETOOLONG beyond it)
MAX_PATH_BYTES = 1024


class ArchiveError(ValueError):
    """The archive is refused; the message names the offending member."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 200_000
    max_total_bytes: int = 20_000_000_000
    max_ratio: float = 200.0  # uncompressed/compressed, per member and overall


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename
    if "\\" in name or "\0" in name:
        raise ArchiveError(f"Refused: member {name!r} has a backslash or NUL in its name.")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/") or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"Refused: member {name!r} has an absolute path.")
    if any(part == ".." for part in path.parts):
        raise ArchiveError(f"Refused: member {name!r} escapes the archive with '..'.")
    _check_name_lengths(name, path)
    return path


def _check_name_lengths(name: str, path: PurePosixPath) -> None:
    shown = name if len(name) <= 80 else name[:60] + "..."
    if len(name.encode()) > MAX_PATH_BYTES:
        raise ArchiveError(f"Refused: member {shown!r} has a path longer than {MAX_PATH_BYTES} bytes.")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in path.parts):
        raise ArchiveError(f"Refused: member {shown!r} has a name longer than {MAX_NAME_BYTES} bytes.")


def _check_type(info: zipfile.ZipInfo) -> None:
    # Unix file type bits live in the high word; zips written elsewhere often leave them 0 (a plain file).
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(f"Refused: member {info.filename!r} is a symlink or special file.")


def check_archive(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    """The members to extract (files only), after checking all of them."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise ArchiveError(f"Refused: {len(members)} members is over the limit of {limits.max_members}.")
    total, compressed, files = 0, 0, []
    seen: set[str] = set()
    for info in members:
        path = _member_path(info)
        _check_type(info)
        # Two members with one name would overwrite each other (or fail mid-extraction): refuse up front.
        key = str(path).rstrip("/")
        if key in seen:
            raise ArchiveError(f"Refused: member {info.filename!r} appears more than once.")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise ArchiveError(f"Refused: member {info.filename!r} is encrypted.")
        if info.is_dir():
            continue
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise ArchiveError(
                f"Refused: member {info.filename!r} expands {info.file_size / info.compress_size:.0f}x."
            )
        total += info.file_size
        compressed += info.compress_size
        files.append(info)
    if total > limits.max_total_bytes:
        raise ArchiveError(
            f"Refused: {total} bytes uncompressed is over the limit of {limits.max_total_bytes}."
        )
    if compressed and total / compressed > limits.max_ratio:
        raise ArchiveError(f"Refused: the archive expands {total / compressed:.0f}x overall.")
    if not files:
        raise ArchiveError("Refused: the archive holds no files.")
    return files


def _strip_common_root(paths: list[PurePosixPath]) -> int:
    """Zips made by 'compress folder' wrap <split>/<class>/<image> in one more directory; drop it."""
    firsts = {path.parts[0] for path in paths}
    if len(firsts) == 1 and all(len(path.parts) > 3 for path in paths):
        return 1
    return 0


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: list[int]) -> None:
    # Count real bytes while copying: a forged header must not let more through than the limit.
    with archive.open(info) as source, open(target, "xb") as sink:
        while chunk := source.read(1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ArchiveError("Refused: the archive holds more data than its headers declare.")
            sink.write(chunk)


def extract_zip(zip_path: Path, destination: Path, limits: ArchiveLimits | None = None) -> Path:
    """Extract into `destination` (which must not exist yet); nothing is left behind on failure."""
    limits = limits or ArchiveLimits()
    if destination.exists():
        raise ArchiveError(f"{destination} already exists.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"Not a readable zip file: {exc}") from None
    with archive, tempfile.TemporaryDirectory(dir=destination.parent, prefix=".extract-") as work:
        files = check_archive(archive, limits)
        paths = [_member_path(info) for info in files]
        strip = _strip_common_root(paths)
        budget = [limits.max_total_bytes]
        staging = Path(work) / "content"
        for info, path in zip(files, paths, strict=True):
            relative = PurePosixPath(*path.parts[strip:])
            target = staging.joinpath(*relative.parts)
            if not target.resolve().is_relative_to(staging.resolve()):
                raise ArchiveError(f"Refused: member {info.filename!r} escapes the destination.")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_member(archive, info, target, budget)
            except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
                # e.g. a file where a directory is needed ("a" and "a/b"), or a corrupt member.
                raise ArchiveError(
                    f"Refused: member {info.filename!r} cannot be extracted ({exc})."
                ) from None
        os.replace(staging, destination)
    return destination
