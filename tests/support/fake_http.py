"""What the loopback fakes of hosted APIs share: a threaded HTTP server on a free port.

Each fake (OpenAI, Anthropic, an MLflow deployments server) subclasses
:class:`FakeHTTPServer` with its own request handler and state on the server
object; this base runs it in a daemon thread and stops it cleanly.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler that answers JSON; ``extra_headers`` go on every answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def extra_headers(self) -> dict[str, str]:
        return {}

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.extra_headers().items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeHTTPServer:
    """Start with ``with Fake() as s`` (or ``start()``/``stop()``); ``s.root_url`` is ``http://127.0.0.1:<port>``."""

    thread_name = "fake-http"

    def __init__(
        self, server_class: type[ThreadingHTTPServer], handler: type[BaseHTTPRequestHandler]
    ) -> None:
        server_class.daemon_threads = True
        self._server: Any = server_class(("127.0.0.1", 0), handler)
        self._server.requests = []
        # serve_forever checks for shutdown() every poll_interval: the default 0.5 s made every
        # test that stops a fake wait up to half a second for nothing.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=self.thread_name,
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request the fake accepted so far (its shape is the subclass's)."""
        return self._server.requests

    def set_responder(self, responder: Any) -> None:
        self._server.responder = responder

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
