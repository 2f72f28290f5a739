"""Sign-in at /admin/login/: throttled per client address, locked out after repeated failures.

- Attempts (any POST of the form) from one address: at most `LOGIN_ATTEMPTS` per `LOGIN_ATTEMPTS_WINDOW` seconds.
- Failures (the form comes back instead of a redirect) within `LOGIN_LOCKOUT_WINDOW` seconds: a username that
  failed `LOGIN_FAILURES_PER_USERNAME` times, or an address that failed `LOGIN_FAILURES_PER_IP` times, is
  refused even with the right password until the oldest failure is that old, or until `manage.py unlock_login`.
  Signing in clears the username's failures, not the address's.
Refusals are a 429 with Retry-After; the counters are the throttles' (hub/hits.py), shared by all web processes.
"""

import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from hub.hits import hits
from hub.proxies import client_address

LOGIN_PATH = "/admin/login/"
_NO_LIMIT = 2**62


def username_key(username: str) -> str:
    return f"login:failed:user:{username.strip().lower()[:150]}"


def address_key(address: str) -> str:
    return f"login:failed:ip:{address}"


def _attempts_key(address: str) -> str:
    return f"login:attempt:ip:{address}"


def _refusal(message: str, wait: float) -> HttpResponse:
    retry_after = str(max(1, math.ceil(wait)))
    response = HttpResponse(
        f"{message} Try again in {retry_after} seconds.", status=429, content_type="text/plain; charset=utf-8"
    )
    response["Retry-After"] = retry_after
    return response


def _lockout(keys: list[tuple[str, int]]) -> float | None:
    """Seconds until the first locked key opens again, or None when none is locked."""
    for key, limit in keys:
        count, wait = hits().count(key, window=settings.LOGIN_LOCKOUT_WINDOW)
        if count >= limit:
            return wait
    return None


def unlock(*, username: str | None = None, address: str | None = None) -> int:
    """Forget the failures of a username and/or an address; how many were forgotten."""
    forgotten = hits().clear(username_key(username)) if username else 0
    return forgotten + (hits().clear(address_key(address)) if address else 0)


class AdminLoginGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != LOGIN_PATH:
            return self.get_response(request)
        address = client_address(request.META, tuple(settings.TRUSTED_PROXIES))
        wait = hits().hit(
            _attempts_key(address), limit=settings.LOGIN_ATTEMPTS, window=settings.LOGIN_ATTEMPTS_WINDOW
        )
        if wait is not None:
            return _refusal("Too many sign-in attempts from this address.", wait)
        username = request.POST.get("username", "")
        locked_for = _lockout(
            [
                (username_key(username), settings.LOGIN_FAILURES_PER_USERNAME),
                (address_key(address), settings.LOGIN_FAILURES_PER_IP),
            ]
        )
        if locked_for is not None:
            return _refusal("Too many failed sign-ins for this account or address.", locked_for)
        response = self.get_response(request)
        self._record(response, username=username, address=address)
        return response

    def _record(self, response: HttpResponse, *, username: str, address: str) -> None:
        if response.status_code in (301, 302, 303):  # signed in: the admin redirects
            hits().clear(username_key(username))
        elif response.status_code == 200:  # the form again, with "enter a correct username and password"
            for key in (username_key(username), address_key(address)):
                hits().hit(key, limit=_NO_LIMIT, window=settings.LOGIN_LOCKOUT_WINDOW)
