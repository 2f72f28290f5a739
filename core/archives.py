"""Safe extraction of an uploaded ImageFolder zip. Pure Python: no Django.

Every member is checked before a single byte is written: no absolute paths, no `..`, no symlinks or special
files, no two members sharing bytes of the archive (overlapping entries: the "better zip bomb"), limits on
member count, total size and compression ratio (zip bombs). The declared sizes are only a first filter: the
limits are enforced again on the bytes actually inflated, which headers cannot forge. Extraction goes into a
fresh temporary directory beside the destination, renamed into place only when complete.
"""

import os
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MAX_NAME_BYTES = 255  # per path component: the usual file-system limit (ENAMETOOLONG beyond it)
MAX_PATH_BYTES = 1024
CHUNK = 1 << 20  # bytes read and inflated at a time: bounds memory whatever a member claims

# The fixed part of a local file header: signature, versions, flags, method, time, date, CRC, sizes, name and
# extra lengths. The name and extra fields follow it, then the member's compressed bytes.
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


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


@dataclass(frozen=True)
class _Span:
    """Where a member's bytes lie in the archive: its local header, then its compressed data."""

    name: str
    start: int
    data_start: int
    end: int
    local_name: bytes


def _local_span(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Span:
    # The central directory gives the header's offset; the header's own name/extra lengths give the data's.
    fp = archive.fp
    assert fp is not None
    if info.header_offset < 0:
        raise ArchiveError(f"Refused: member {info.filename!r} has a local header before the archive starts.")
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or not header.startswith(_LOCAL_SIGNATURE):
        raise ArchiveError(f"Refused: member {info.filename!r} has no local header at its offset.")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    local_name = fp.read(name_length)
    data_start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return _Span(info.filename, info.header_offset, data_start, data_start + info.compress_size, local_name)


def _check_local_name(info: zipfile.ZipInfo, local_name: bytes) -> None:
    # zipfile.open() checks this; we inflate members ourselves, so keep the check (decoded as zipfile does).
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    if local_name.decode(encoding, errors="replace") != info.orig_filename:
        raise ArchiveError(f"Refused: member {info.filename!r} has another name in its local header.")


def _check_layout(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Refuse members that share bytes: many entries pointing into one deflate stream multiply its output
    without any one entry declaring an unusual ratio (David Fifield's "A better zip bomb")."""
    spans = [_local_span(archive, info) for info in members]
    _check_spans(sorted(spans, key=lambda span: span.start), archive.start_dir)  # start_dir: absolute offset
    # Only now: a shared header also names other members, but "overlap" is the reason worth reporting.
    for info, span in zip(members, spans, strict=True):
        _check_local_name(info, span.local_name)


def _check_spans(spans: list[_Span], central_directory: int) -> None:
    for span in spans:
        if span.end > central_directory:
            raise ArchiveError(f"Refused: member {span.name!r} runs past the end of the archive's file data.")
    for before, after in pairwise(spans):
        if after.start < before.end:
            raise ArchiveError(
                f"Refused: members {before.name!r} and {after.name!r} overlap in the archive (shared data: "
                "a zip bomb)."
            )


def _check_declared_ratio(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    # No compressed bytes cannot honestly inflate to any: treat it as an infinite ratio, not as "unknown".
    if info.file_size > limits.max_ratio * info.compress_size:
        shown = f"{info.file_size / info.compress_size:.0f}x" if info.compress_size else "from nothing"
        raise ArchiveError(f"Refused: member {info.filename!r} expands {shown}.")


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
        _check_declared_ratio(info, limits)
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
    _check_layout(archive, members)
    return files


def _strip_common_root(paths: list[PurePosixPath]) -> int:
    """Zips made by 'compress folder' wrap <split>/<class>/<image> in one more directory; drop it."""
    firsts = {path.parts[0] for path in paths}
    if len(firsts) == 1 and all(len(path.parts) > 3 for path in paths):
        return 1
    return 0


class _Meter:
    """Counts the bytes actually inflated, against the limits: a forged header must not let more through."""

    def __init__(self, limits: ArchiveLimits, compressed_total: int) -> None:
        self.limits = limits
        self.compressed_total = compressed_total  # bounded by the archive's size once overlaps are refused
        self.total = 0

    def add(self, info: zipfile.ZipInfo, member_bytes: int, chunk_bytes: int) -> None:
        self.total += chunk_bytes
        name, limits = info.filename, self.limits
        if member_bytes > info.file_size:
            raise ArchiveError(
                f"Refused: member {name!r} inflates to more than its declared {info.file_size} bytes."
            )
        if self.total > limits.max_total_bytes:
            raise ArchiveError(
                f"Refused: member {name!r} takes the archive over the limit of {limits.max_total_bytes} bytes "
                "uncompressed."
            )
        if member_bytes > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveError(
                f"Refused: member {name!r} expands more than the limit of {limits.max_ratio:g}x."
            )
        if self.total > limits.max_ratio * max(self.compressed_total, 1):
            raise ArchiveError(
                f"Refused: at member {name!r} the archive expands more than the limit of {limits.max_ratio:g}x "
                "overall."
            )


def _read_range(fp: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """The member's own compressed bytes, and no others: the overlap check proved nothing else is in them."""
    position, left = start, length
    while left > 0:
        fp.seek(position)
        raw = fp.read(min(CHUNK, left))
        if not raw:
            raise EOFError("the archive ends inside the member's data")
        position += len(raw)
        left -= len(raw)
        yield raw


def _inflate(raw: Iterator[bytes], name: str) -> Iterator[bytes]:
    # Our own inflater, capped per call: zipfile silently truncates at the declared size, which would hide
    # the lie, and a single unbounded decompress() call could allocate the whole bomb at once.
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
    for data in raw:
        while data and not decompressor.eof:
            out = decompressor.decompress(data, CHUNK)
            data = decompressor.unconsumed_tail
            if out:
                yield out
        if decompressor.eof:
            return
    raise ArchiveError(f"Refused: member {name!r} has a truncated deflate stream.")


def _member_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert archive.fp is not None
        span = _local_span(archive, info)
        raw = _read_range(archive.fp, span.data_start, info.compress_size)
        yield from raw if info.compress_type == zipfile.ZIP_STORED else _inflate(raw, info.filename)
        return
    # bzip2/lzma: zipfile stops at the declared size and checks the CRC; the meter still counts what it gives.
    with archive.open(info) as source:
        while chunk := source.read(CHUNK):
            yield chunk


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, meter: _Meter) -> None:
    written, crc = 0, 0
    with open(target, "xb") as sink:
        for chunk in _member_chunks(archive, info):
            written += len(chunk)
            meter.add(info, written, len(chunk))  # before the write: nothing past a limit reaches the disk
            crc = zlib.crc32(chunk, crc)
            sink.write(chunk)
    if written != info.file_size:
        raise ArchiveError(
            f"Refused: member {info.filename!r} holds {written} bytes, not the declared {info.file_size}."
        )
    if crc != info.CRC:
        raise ArchiveError(f"Refused: member {info.filename!r} fails its CRC check.")


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
        meter = _Meter(limits, sum(info.compress_size for info in files))
        staging = Path(work) / "content"
        for info, path in zip(files, paths, strict=True):
            relative = PurePosixPath(*path.parts[strip:])
            target = staging.joinpath(*relative.parts)
            if not target.resolve().is_relative_to(staging.resolve()):
                raise ArchiveError(f"Refused: member {info.filename!r} escapes the destination.")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_member(archive, info, target, meter)
            except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error) as exc:
                # e.g. a file where a directory is needed ("a" and "a/b"), or a corrupt member.
                raise ArchiveError(
                    f"Refused: member {info.filename!r} cannot be extracted ({exc})."
                ) from None
        os.replace(staging, destination)
    return destination
