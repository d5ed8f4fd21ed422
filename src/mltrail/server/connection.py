"""uvicorn's httptools protocol with the bounds it lacks: request time, URL and header sizes.

uvicorn arms no timer until a first response is sent, and httptools bounds
neither the URL nor the headers, so a client could hold a connection (and its
memory) forever by sending a request head slowly, or a partial body and then
nothing. :class:`BoundedHttpToolsProtocol` closes that gap:

* the request head (request line and headers) must arrive within
  ``request_timeout`` seconds of the connection opening or of the request's
  first byte, else the server answers ``408`` and closes;
* while a body is being received, ``request_timeout`` seconds without a byte
  (while the app is ready to read: flow control pauses do not count) close the
  connection, with a ``408`` when no response has started. A slow but moving
  upload is never cut off;
* a URL over :data:`MAX_URL_BYTES` gets ``414``, headers over
  :data:`MAX_HEADER_BYTES` or :data:`MAX_HEADER_COUNT` get ``431``; malformed
  HTTP gets ``400``. Every answer is MLflow's ``{"error_code", "message"}`` JSON.

Per request this costs a few attribute stores and ``loop.time()`` calls; the
deadlines are checked by one timer per connection that wakes every
``request_timeout / 2`` seconds, so a stalled request is dropped between one
and one and a half ``request_timeout`` after it stalls.

Use it as uvicorn's ``http`` class::

    uvicorn.run(app, http=functools.partial(BoundedHttpToolsProtocol, request_timeout=60))
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: Default seconds for a request head to arrive, and for a request body to make progress.
DEFAULT_REQUEST_TIMEOUT = 60.0
#: Longest request target (path and query string) accepted, in bytes: httptools' own
#: ``parse_url`` refuses anything longer, so past it a 414 says why instead of a bare 400.
#: (A filter longer than this fits in a POST search body; registry searches are GETs.)
MAX_URL_BYTES = 65_535
#: Most bytes in all header names and values of one request.
MAX_HEADER_BYTES = 64 * 1024
#: Most header lines in one request.
MAX_HEADER_COUNT = 256

_HEAD, _BODY, _IDLE = "head", "body", "idle"


def error_bytes(status: int, error_code: str, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response with MLflow's error JSON."""
    body = msgspec.json.encode({"error_code": error_code, "message": message})
    head = (
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return STATUS_LINE[status] + head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a request timeout and URL/header size limits (see the module)."""

    def __init__(self, *args: Any, request_timeout: float = DEFAULT_REQUEST_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._phase = _HEAD  # waiting for the first request's head from connection_made on
        self._since = 0.0  # when the phase began (head) or last made progress (body)
        self._url_bytes = 0
        self._header_bytes = 0
        self._header_count = 0
        self._refused = False
        self._watch: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------- connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        if self.request_timeout > 0:
            self._watch = self.loop.call_later(self.request_timeout / 2, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        super().connection_lost(exc)

    # --------------------------------------------------------------- parser
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != _HEAD:  # a later request on a kept-alive connection
            self._phase = _HEAD
            self._since = self.loop.time()
        self._url_bytes = self._header_bytes = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > MAX_URL_BYTES:
            self._refuse(414, f"The request URL is longer than the server's limit of {MAX_URL_BYTES:,} bytes")
            raise ValueError("URL too long")  # stops the parser; data_received then stays quiet
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value)
        if self._header_count > MAX_HEADER_COUNT or self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(
                431,
                f"The request headers exceed the server's limits of {MAX_HEADER_COUNT} headers "
                f"and {MAX_HEADER_BYTES:,} bytes",
            )
            raise ValueError("headers too large")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        self._since = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._since = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        super().on_message_complete()

    def _unsupported_upgrade_warning(self) -> None:
        """An ``Upgrade`` request (WebSocket, h2c) was answered as plain HTTP/1.1, as RFC 9110 allows.

        The parser takes no more requests on this connection, so the answer closes it;
        uvicorn's own warning here would ask for a WebSocket library this server does
        not use (``mltrail server`` runs uvicorn with ``ws="none"``: no route speaks it).
        """
        self.logger.debug("Ignored the Upgrade header of a request from %s", self.client)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # the limit's own answer is already out
            return
        self._refuse(400, f"Malformed HTTP request: {msg}")

    # -------------------------------------------------------------- timeout
    def _check(self) -> None:
        self._watch = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        held_back = self._phase == _BODY and cycle is not None and cycle.waiting_for_100_continue
        if self.flow.read_paused or held_back:
            # Waiting on the app (to drain the buffer, or to ask for the body a client holds
            # back until "100 Continue"), not on the client: the client's clock restarts.
            self._since = now
        stalled = now - self._since > self.request_timeout
        if self._phase == _HEAD and stalled:
            self._refuse(408, f"The request was not received within {self._seconds()} (--request-timeout)")
            return
        if self._phase == _BODY and stalled:
            if cycle is None or not cycle.response_started:
                self._refuse(
                    408, f"The request body stopped arriving for {self._seconds()} (--request-timeout)"
                )
            else:
                self.transport.close()
            return
        self._watch = self.loop.call_later(self.request_timeout / 2, self._check)

    def _seconds(self) -> str:
        t = self.request_timeout
        return f"{t:g} second" if t == 1 else f"{t:g} seconds"

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with MLflow's error JSON and close the connection."""
        self._refused = True
        self.logger.warning("Refused a request from %s: %s", self.client, message)
        self.transport.write(error_bytes(status, "BAD_REQUEST", message))
        self.transport.close()
