"""A file (or a byte range of it) as a streamed response body that suits the server the request came through.

Under ASGI (`make run`) Django cannot stream a synchronous iterator: it reads the whole of it into memory first
(with a warning), so a download of a 2 GB weights file would take 2 GB of the web process. Under ASGI the body
is an asynchronous iterator whose reads run in a worker thread; under WSGI a plain one (and a whole file is a
FileResponse, which WSGI servers can hand to sendfile).
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, StreamingHttpResponse

CHUNK = 1 << 20


def is_asgi(request: HttpRequest) -> bool:
    return isinstance(request, ASGIRequest)


def _sync_range(handle: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


async def _async_range(handle: BinaryIO, first: int, length: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, first)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_range(
    request: HttpRequest, handle: BinaryIO, first: int, length: int, **kwargs
) -> StreamingHttpResponse:
    """`length` bytes of `handle` from `first`; the handle is closed when the body ends or the client leaves."""
    chunks = _async_range if is_asgi(request) else _sync_range
    return StreamingHttpResponse(chunks(handle, first, length), **kwargs)


def whole_file(request: HttpRequest, handle: BinaryIO, size: int, **kwargs) -> StreamingHttpResponse:
    if is_asgi(request):
        return file_range(request, handle, 0, size, **kwargs)
    return FileResponse(handle, **kwargs)
