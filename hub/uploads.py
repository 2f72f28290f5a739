"""Spooling an upload (weights, datasets) to disk under the configured size limit, for the API and the page forms."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile


class UploadTooLarge(ValueError):
    def __init__(self, size: int | None = None):
        limit_mb = settings.MAX_UPLOAD_BYTES / 1_000_000
        shown = f"{size / 1_000_000:.1f} MB" if size is not None else "The upload"
        super().__init__(f"{shown} is over the upload limit of {limit_mb:g} MB (DEPOT_MAX_UPLOAD_MB).")


def declared_length_too_large(content_length: str | None) -> bool:
    """Refuse before reading the body when the client already told us it is too large."""
    try:
        return int(content_length or 0) > settings.MAX_UPLOAD_BYTES + 1_000_000  # multipart overhead
    except ValueError:
        return False


@contextlib.contextmanager
def spooled_upload(upload: UploadedFile) -> Iterator[Path]:
    """The upload as a file on disk, removed afterwards whatever happens."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise UploadTooLarge(upload.size)
    temp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=temp_dir, suffix=".upload") as spool:
        written = 0
        for chunk in upload.chunks():
            written += len(chunk)
            if written > settings.MAX_UPLOAD_BYTES:
                raise UploadTooLarge(written)
            spool.write(chunk)
        spool.flush()
        yield Path(spool.name)
