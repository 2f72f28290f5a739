"""Error pages: JSON {"error", "detail"} on the API and the Hugging Face download paths, HTML elsewhere.

These answer what Django refuses before a view runs (a bad Host header, a body over the limit: 400; a CSRF
failure: 403) as well as 404 and 500. None of them may call request.get_host(): for a bad Host it raises again.
"""

import re

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views import defaults

# /<namespace>/<name>/resolve/<revision>/<filename>: huggingface_hub reads its errors as JSON.
_HF_RESOLVE = re.compile(r"^/[^/]+/[^/]+/resolve/")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or bool(_HF_RESOLVE.match(request.path))


def _bad_request_message(exception: Exception | None) -> tuple[str, str]:
    if isinstance(exception, DisallowedHost):
        return "The Host header names a host this server does not serve (DEPOT_ALLOWED_HOSTS).", "bad_host"
    if isinstance(exception, RequestDataTooBig):
        return "The request body is over the size limit.", "body_too_large"
    return "Bad request.", "bad_request"


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        error, detail = _bad_request_message(exception)
        return JsonResponse({"error": error, "detail": detail}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": "Permission denied.", "detail": "permission_denied"}, status=403)
    return defaults.permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: an unsafe method without a valid CSRF token (a browser session's form or script)."""
    if _wants_json(request):
        return JsonResponse({"error": f"CSRF check failed: {reason}", "detail": "csrf_failed"}, status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


def _public_message(exception: Exception | None) -> str:
    """The view's own sentence ("No model a/b."), never the resolver's: that one lists every URL pattern."""
    if isinstance(exception, Resolver404) or not isinstance(exception, Http404):
        return "Not found."
    message = str(exception)
    return message if message and len(message) < 300 else "Not found."


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _public_message(exception)
    if _wants_json(request):
        return JsonResponse({"error": message, "detail": request.path[:300]}, status=404)
    return render(request, "404.html", {"message": message}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": "Internal server error.", "detail": None}, status=500)
    return render(request, "500.html", status=500)
