"""Live traces go to mltrail servers only: another MLflow server gets each trace whole, once.

A loopback server speaks the tracking server's wire protocol for the calls a trace
makes (``GET /version``, ``POST /v1/traces``, ``POST /api/3.0/mlflow/traces``) and
records them. Answering ``/version`` as a real MLflow server does (the body ``3.17.2``,
no ``X-Mltrail-Version`` header), nothing of a running trace is sent before it ends;
with the header (as ``mltrail server`` answers), the running trace is sent early.
tests/tracing/test_live_traces.py runs the live path against a real ``mltrail server``
(which it reaches only because that server's ``/version`` carries the header).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mltrail
from mltrail.protocol.meta import SERVER_HEADER
from mltrail.tracing.export import flush_trace_async_logging

WRITES = ("/v1/traces", "/api/3.0/mlflow/traces")


class TrackingServerDouble:
    """Records each request as ``(time, method, path)``; ``/version`` carries the marker when ``mltrail``."""

    def __init__(self, mltrail_marker: bool) -> None:
        self.calls: list[tuple[float, str, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                double.calls.append((time.monotonic(), "GET", self.path))
                if self.path == "/version":
                    self._answer(
                        b"3.17.2", "text/plain", {SERVER_HEADER: "0.1.0"} if mltrail_marker else None
                    )
                else:
                    self._answer(b"{}", "application/json")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                double.calls.append((time.monotonic(), "POST", self.path))
                if self.path == "/api/3.0/mlflow/traces":  # StartTraceV3: the stored info comes back
                    info = json.loads(raw)["trace"]["trace_info"]
                    self._answer(json.dumps({"trace": {"trace_info": info}}).encode(), "application/json")
                else:
                    self._answer(b"{}", "application/json")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def writes(self, before: float | None = None) -> list[str]:
        return [p for t, m, p in self.calls if m == "POST" and p in WRITES and (before is None or t < before)]


@pytest.fixture
def double(request) -> Iterator[TrackingServerDouble]:
    server = TrackingServerDouble(mltrail_marker=request.param)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _run_trace_until(double: TrackingServerDouble, monkeypatch, seen: Callable[[], bool]) -> float:
    """A trace against ``double`` that runs until ``seen()`` (at most 10 s) and a few intervals more.

    Returns when it ended. The exporter may be asleep for one default interval (1 s)
    before it sees the 50 ms one, hence waiting for a sign rather than a fixed time.
    """
    monkeypatch.setenv("MLTRAIL_TRACE_LIVE_INTERVAL_MS", "50")
    mltrail.set_tracking_uri(double.url)
    with mltrail.start_span("slow-agent") as span:
        span.set_inputs({"q": "live?"})
        deadline = time.monotonic() + 10
        while not seen() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # four more intervals
        ended = time.monotonic()
    flush_trace_async_logging()
    return ended


@pytest.mark.parametrize("double", [False], indirect=True, ids=["mlflow-server"])
def test_no_early_write_to_a_server_without_the_marker(double: TrackingServerDouble, monkeypatch) -> None:
    asked = lambda: any(p == "/version" for _t, _m, p in double.calls)  # noqa: E731
    ended = _run_trace_until(double, monkeypatch, asked)
    assert asked()  # the exporter looked at the running trace and asked what the server is ...
    assert double.writes(before=ended) == []  # ... and sent nothing while the trace ran
    assert sorted(double.writes()) == sorted(WRITES)  # then the whole trace, once
    assert [p for _t, m, p in double.calls if m == "GET"] == ["/version"]  # asked once


@pytest.mark.parametrize("double", [True], indirect=True, ids=["mltrail-server"])
def test_early_write_to_a_server_with_the_marker(double: TrackingServerDouble, monkeypatch) -> None:
    ended = _run_trace_until(double, monkeypatch, lambda: bool(double.writes()))
    assert set(double.writes(before=ended)) == set(WRITES)  # the running trace was sent early
    assert [p for _t, m, p in double.calls if m == "GET"] == ["/version"]
