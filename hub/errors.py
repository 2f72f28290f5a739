"""Error pages: JSON {"error", "detail"} under /api/, HTML elsewhere."""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


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
