"""Hand-written zip structures that zipfile would never write: overlapping members and lying sizes."""

import random
import struct
import zlib
from dataclasses import dataclass

LOCAL = struct.Struct("<4sHHHHHIIIHH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
END = struct.Struct("<4sHHHHIIH")


@dataclass(frozen=True)
class Entry:
    name: str
    offset: int  # of the member's local header
    crc: int
    compress_size: int
    file_size: int
    method: int = 8


def local_header(name: str, crc: int, compress_size: int, file_size: int, method: int = 8) -> bytes:
    encoded = name.encode()
    return (
        LOCAL.pack(b"PK\x03\x04", 20, 0, method, 0, 0, crc, compress_size, file_size, len(encoded), 0)
        + encoded
    )


def central_directory(body: bytes, entries: list[Entry]) -> bytes:
    """`body` (the local headers and data) followed by a central directory listing `entries`."""
    central = b""
    for entry in entries:
        encoded = entry.name.encode()
        fields = (
            entry.method,
            0,
            0,
            entry.crc,
            entry.compress_size,
            entry.file_size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
        )
        central += CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, *fields, entry.offset) + encoded
    count = len(entries)
    return body + central + END.pack(b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)


def kernel_payload(size: int = 1_000_000) -> bytes:
    """Zeros with some noise: about 150:1 deflated, under the default 200:1 so declared ratios look honest."""
    noise = random.Random(0).randbytes(size // 150)
    return noise + b"\0" * (size - len(noise))


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def stored_block(quoted: bytes) -> bytes:
    """A non-final stored deflate block header: the next len(quoted) bytes are copied to the output as is."""
    return b"\x00" + struct.pack("<HH", len(quoted), len(quoted) ^ 0xFFFF)


def overlapping_zip(count: int, payload: bytes, *, prefix: str = "test/a/") -> bytes:
    """Fifield's layout: member i's deflate stream quotes member i+1's local header in a stored block, then
    runs on into member i+1's data, so every member inflates the one shared kernel. Built back to front
    because each local header holds sizes and a CRC that cover the headers after it."""
    kernel = deflate(payload)
    names = [f"{prefix}{i}.png" for i in range(count)]
    tail, output = kernel, payload  # member i's compressed data and what it inflates to
    headers: list[bytes] = []
    entries: list[Entry] = []
    for name in reversed(names):
        header = local_header(name, zlib.crc32(output), len(tail), len(output))
        entries.append(Entry(name, 0, zlib.crc32(output), len(tail), len(output)))
        headers.append(header)
        tail, output = stored_block(header) + header + tail, header + output
    headers.reverse()
    entries.reverse()
    body, offset = b"", 0
    for index, (header, entry) in enumerate(zip(headers, entries, strict=True)):
        entries[index] = Entry(entry.name, offset, entry.crc, entry.compress_size, entry.file_size)
        piece = header + (stored_block(headers[index + 1]) if index + 1 < count else b"")
        body += piece
        offset += len(piece)
    return central_directory(body + kernel, entries)


def same_header_zip(count: int, payload: bytes, *, prefix: str = "test/a/") -> bytes:
    """The simplest overlap: every central-directory entry points at the one local header and stream."""
    kernel = deflate(payload)
    crc = zlib.crc32(payload)
    body = local_header(f"{prefix}0.png", crc, len(kernel), len(payload)) + kernel
    entries = [Entry(f"{prefix}{i}.png", 0, crc, len(kernel), len(payload)) for i in range(count)]
    return central_directory(body, entries)


def lying_size_zip(
    name: str, payload: bytes, declared: int, *, others: dict[str, bytes] | None = None
) -> bytes:
    """Honest members `others`, then `name` whose headers declare `declared` bytes but which inflates to
    all of `payload` (the CRC is the honest one: only the size lies)."""
    body, entries = b"", []
    for member, data in [*(others or {}).items(), (name, payload)]:
        stream, crc = deflate(data), zlib.crc32(data)
        size = declared if member == name else len(data)
        entries.append(Entry(member, len(body), crc, len(stream), size))
        body += local_header(member, crc, len(stream), size) + stream
    return central_directory(body, entries)
