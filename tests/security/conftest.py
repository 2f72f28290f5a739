"""Helpers for the hostile-input suite: the README's error shape and 'nothing was written' checks."""

from pathlib import Path

import pytest
from django.conf import settings


def assert_error_shape(response, status: int, *, mentions: str | None = None) -> dict:
    """A clear refusal: the expected 4xx and {"error": one sentence, "detail": ...}."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"], body
    if mentions:
        assert mentions.lower() in (body["error"] + str(body["detail"])).lower(), body
    return body


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in Path(root).rglob("*") if path.is_file()) if Path(root).exists() else []


@pytest.fixture
def nothing_stored():
    """Call after a refusal: no file in media storage and none left in the upload spool directory."""

    def check() -> None:
        assert files_under(settings.MEDIA_ROOT) == []
        assert [p for p in files_under(settings.FILE_UPLOAD_TEMP_DIR) if p.suffix == ".upload"] == []

    return check
