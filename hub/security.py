"""Who the client is behind proxies, throttling for every public endpoint, and the Content-Security-Policy.

- `client_ip`: X-Forwarded-For is believed only when the direct peer (REMOTE_ADDR) is a configured trusted
  proxy (DEPOT_TRUSTED_PROXIES); otherwise a client could name a fresh address per request and never be limited.
- The DRF throttles below use it, and `PublicThrottleMiddleware` applies the same rates (same scopes, same
  counters, shared by every web process: hub/hits.py) to everything DRF does not throttle itself: pages,
  /plot.svg, the HF download protocol.
- `ContentSecurityPolicyMiddleware`: scripts only from this origin (the pages have no inline script).
"""

import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import throttling

from hub.hits import hits
from hub.proxies import client_address


def client_ip(request: HttpRequest) -> str:
    return client_address(request.META, tuple(getattr(settings, "TRUSTED_PROXIES", ())))


class _SharedCounting:
    """DRF's rates, scopes and keys, counted in the store every web process shares (hub/hits.py) in one atomic
    step: DRF's own read-then-write of the cache lets racing processes past the rate."""

    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self._wait = hits().hit(self.key, limit=self.num_requests, window=self.duration)
        return self._wait is None

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)


class AnonRateThrottle(_SharedCounting, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_SharedCounting, throttling.UserRateThrottle):
    pass


def _too_many(request: HttpRequest, wait: float | None) -> HttpResponse:
    retry_after = str(max(1, math.ceil(wait or 1)))
    message = f"Too many requests: try again in {retry_after} seconds."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": message, "detail": "throttled"}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    return response


def _is_drf_view(view_func: Callable) -> bool:
    # Imported here: rest_framework.views reads the throttle setting that names this module (import cycle).
    from rest_framework.views import APIView

    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class PublicThrottleMiddleware:
    """Throttle the plain Django views with the API's rates; DRF views keep their own (identical) throttles."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs):
        if _is_drf_view(view_func):
            return None
        for throttle in (AnonRateThrottle(), UserRateThrottle()):
            if not throttle.allow_request(request, None):
                return _too_many(request, throttle.wait())
        return None


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Inline style attributes (confusion-matrix shading) and the plot's own <style>; never scripts.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'self'",  # the catalog embeds /plot.svg with <object>
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
