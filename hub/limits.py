"""Limits on a request's size, checked before any view reads it; refusals in the API's error shape.

- A URL (path and query string) over `MAX_URL_BYTES` is a 414. The server reads request lines up to 16 KiB
  (hub/server.py), so this is where a long search or filter is refused, with a sentence saying what to do.
- A body that is not a multipart upload (JSON, forms) over settings.DATA_UPLOAD_MAX_MEMORY_SIZE (5 MB) is a 400
  when its Content-Length says so; the JSON parser stops reading at the same limit (hub/parsers.py) for a
  body sent without one. Uploads have their own, larger limit (DEPOT_MAX_UPLOAD_MB, hub/uploads.py).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

MAX_URL_BYTES = 4096


def body_limit_mb() -> str:
    return f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1_000_000:g} MB"


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _is_upload(request: HttpRequest) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        url_bytes = len(request.get_full_path().encode())
        if url_bytes > MAX_URL_BYTES:
            return JsonResponse(
                {
                    "error": f"The URL is {url_bytes} bytes, over the limit of {MAX_URL_BYTES}: "
                    "send fewer or shorter parameters.",
                    "detail": "uri_too_long",
                },
                status=414,
            )
        if not _is_upload(request) and _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return JsonResponse(
                {
                    "error": f"The request body is over the {body_limit_mb()} limit (files go in a multipart upload).",
                    "detail": "body_too_large",
                },
                status=400,
            )
        return self.get_response(request)
