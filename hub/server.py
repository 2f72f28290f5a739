"""The web server's HTTP layer: gunicorn's worker processes each run uvicorn's event loop over hub.asgi.

An event loop reads request heads and bodies for thousands of sockets at once, so slow clients no longer hold a
worker (with sync workers, four connections sending a header line every 5 s stalled every other request).
uvicorn only times out an idle keep-alive connection, after a response; it has no limit on how long a client
may take to send a request. `DepotH11Protocol` adds both, so a connection cannot be held open forever:

- the request head (request line and headers) must be complete within `DEPOT_HTTP_HEADER_TIMEOUT` seconds of
  the connection opening or the previous response ending;
- while a body is being sent, `DEPOT_HTTP_BODY_TIMEOUT` seconds may pass between two pieces of it (an upload
  of gigabytes takes long, but a client that stops sending is cut off).

Either way the client gets a 408 in the API's error shape and the connection is closed. A body larger than
any upload may be (DEPOT_MAX_UPLOAD_MB and 1 MB of multipart framing) is a 413 as soon as it gets there, also
when it is sent without a Content-Length: Django's ASGI handler would otherwise spool all of it to disk.
A request line longer than `MAX_REQUEST_LINE_BYTES` is a 414 before h11 reads further; any other malformed or
oversized head is a 400 in the same shape (uvicorn's own answer is plain text).
"""

import asyncio
import json
import logging
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

logger = logging.getLogger("uvicorn.error")


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        seconds = float(value) if value else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from exc
    if seconds <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


HEADER_TIMEOUT = _seconds("DEPOT_HTTP_HEADER_TIMEOUT", 10)
BODY_TIMEOUT = _seconds("DEPOT_HTTP_BODY_TIMEOUT", 30)
# The longest request line (method, URL, version) read at all; Django answers 414 for shorter URLs that are
# still too long (hub.limits), so this only stops a client that never ends its line.
MAX_REQUEST_LINE_BYTES = 16 * 1024
# The whole request head; h11's default is 16 KiB.
MAX_HEAD_BYTES = 32 * 1024


def body_limit() -> int:
    """The largest request body worth reading: the upload limit and room for multipart framing."""
    from django.conf import settings  # configured by hub.asgi before the first connection

    return settings.MAX_UPLOAD_BYTES + 1_000_000


def error_bytes(status: int, reason: str, error: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection: the API's error shape, written raw because
    h11 cannot answer before it has read a request."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class DepotH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head and an idle limit for the body."""

    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._follow_request_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._request_line_too_long(data):
            self._refuse(414, "URI Too Long", "The request line is too long.", "uri_too_long")
            return
        if self._body_too_large(data):
            self._abandon_request()
            self._refuse(
                413, "Content Too Large", "The request body is over the upload limit.", "body_too_large"
            )
            return
        super().data_received(data)
        self._follow_request_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request_state()  # the next request's head is now due (or already here, pipelined)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", "Invalid HTTP request.", msg)

    # --- timers -----------------------------------------------------------------------------------------

    def _follow_request_state(self) -> None:
        """Arm the timer that fits what the client owes now: a head, more body, or nothing."""
        if self.transport is None or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._body_bytes = 0
            if self._head_timer is None:  # a deadline for the whole head, not reset by each byte
                self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)
            return
        self._cancel(head=True)
        self._cancel(head=False)
        if state is h11.SEND_BODY:  # idle limit: restarted by every piece of body
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def _cancel(self, *, head: bool) -> None:
        timer = self._head_timer if head else self._body_timer
        if timer is not None:
            timer.cancel()
        if head:
            self._head_timer = None
        else:
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel(head=True)
        self._cancel(head=False)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._refuse(
            408, "Request Timeout", f"The request head took more than {self.header_timeout:g} s.", "timeout"
        )

    def _abandon_request(self) -> None:
        if self.cycle is not None and not self.cycle.response_started:
            # The application is waiting for the rest of the body: it sees a disconnect and answers nothing.
            self.cycle.disconnected = True
            self.cycle.message_event.set()

    def _body_too_large(self, data: bytes) -> bool:
        if self.conn.their_state is not h11.SEND_BODY:
            return False
        self._body_bytes += len(data)  # framing included: a bound, not an exact size
        return self._body_bytes > body_limit()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        self._abandon_request()
        self._refuse(
            408, "Request Timeout", f"No part of the body arrived for {self.body_timeout:g} s.", "timeout"
        )

    # --- refusals -----------------------------------------------------------------------------------------

    def _request_line_too_long(self, data: bytes) -> bool:
        if self.conn.their_state is not h11.IDLE:
            return False
        pending = self.conn.trailing_data[0]
        return b"\n" not in pending + data and len(pending) + len(data) > MAX_REQUEST_LINE_BYTES

    def _refuse(self, status: int, reason: str, error: str, detail: str) -> None:
        self._cancel_timers()
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        logger.info('%s - "refused" %d %s', client, status, error)
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(error_bytes(status, reason, error, detail))
        self.transport.close()


class DepotUvicornWorker(UvicornWorker):
    """gunicorn's worker for hub.asgi: the h11 protocol above on the plain asyncio loop."""

    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": DepotH11Protocol,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        # No lifespan events: Django does not implement them, and "auto" would log a warning per worker.
        "lifespan": "off",
        "server_header": False,  # no version banner
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Which process served a request: uvicorn's access lines carry no pid (the handlers are gunicorn's).
        for handler in logging.getLogger("uvicorn.access").handlers:
            handler.setFormatter(logging.Formatter("[%(process)d] %(message)s"))
