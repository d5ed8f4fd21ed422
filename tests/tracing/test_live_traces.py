"""Live traces: an SDK trace still running is stored as it grows, seen over REST and the trace page's SSE.

Once a trace has run for ``MLTRAIL_TRACE_LIVE_INTERVAL_MS`` the SDK sends its
start (info ``IN_PROGRESS`` with its metadata, the running root span), then the
spans that ended and changed metadata at that interval (``start_trace`` and
``log_spans``, OTLP on ``/v1/traces``); the server's event stream pushes each
change; the whole trace replaces it at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import mltrail
from mltrail.tracing.export import flush_trace_async_logging, get_exporter
from support.live_server import start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("live-traces"), env={"MLTRAIL_UI_POLL_SECONDS": "0.1"})
    yield srv
    stop_server(srv)


@pytest.fixture
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


def _wait_for(read: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _trace(http: httpx.Client, trace_id: str) -> dict | None:
    res = http.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id})
    return res.json()["trace"] if res.status_code == 200 else None


def _events(lines: Iterator[str]) -> Iterator[dict]:
    """The ``trace`` events of an SSE stream, decoded."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and name == "trace":
            yield json.loads(line[len("data: ") :])


def test_a_running_sdk_trace_grows_over_rest_and_the_event_stream(server, http, monkeypatch):
    monkeypatch.setenv("MLTRAIL_TRACE_LIVE_INTERVAL_MS", "50")
    mltrail.set_tracking_uri(server.url)
    exp = mltrail.set_experiment("live-traces").experiment_id

    with mltrail.start_span("agent") as root:
        trace_id = root.trace_id
        root.set_inputs({"question": "live?"})
        mltrail.update_current_trace(session_id="chat-live", user="ana")
        # The start arrives on its own: the running root (no end yet) and the metadata set so far.
        trace = _wait_for(lambda: (t := _trace(http, trace_id)) and t["spans"] and t, "the running trace")
        info = trace["trace_info"]
        assert info["state"] == "IN_PROGRESS"
        assert info["trace_metadata"]["mlflow.trace.session"] == "chat-live"
        assert info["trace_metadata"]["mlflow.trace.user"] == "ana"
        assert info["tags"]["mlflow.traceName"] == "agent"
        assert json.loads(info["request_preview"]) == {"question": "live?"}
        assert [s["name"] for s in trace["spans"]] == ["agent"]
        assert "end_time_unix_nano" not in trace["spans"][0]
        with mltrail.start_span("step-1") as step:
            step.set_inputs({"q": "first"})
        trace = _wait_for(
            lambda: (t := _trace(http, trace_id)) and len(t["spans"]) == 2 and t, "step-1 over REST"
        )
        assert sorted(s["name"] for s in trace["spans"]) == ["agent", "step-1"]
        body = {
            "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
            "filter": "trace.session = 'chat-live'",
        }
        listed = http.post("/api/3.0/mlflow/traces/search", json=body).json()["traces"]
        assert [(t["trace_id"], t["state"]) for t in listed] == [(trace_id, "IN_PROGRESS")]

        with http.stream("GET", f"/ajax-api/mltrail/traces/{trace_id}/events") as stream:
            events = _events(stream.iter_lines())
            first = next(events)
            assert first["trace_info"]["state"] == "IN_PROGRESS"
            assert sorted(s["name"] for s in first["spans"]) == ["agent", "step-1"]
            with mltrail.start_span("step-2"):
                pass
            second = next(events)  # pushed by the server: only what changed
            assert [s["name"] for s in second["spans"]] == ["step-2"]
            assert second["trace_info"]["state"] == "IN_PROGRESS"
            mltrail.update_current_trace(tags={"stage": "late"})
            third = next(events)  # a tag set later reaches the page too
            assert third["trace_info"]["tags"]["stage"] == "late"

    flush_trace_async_logging()
    done = _trace(http, trace_id)
    assert done["trace_info"]["state"] == "OK"
    assert sorted(s["name"] for s in done["spans"]) == ["agent", "step-1", "step-2"]
    assert next(s for s in done["spans"] if s["name"] == "agent")["end_time_unix_nano"]
    assert done["trace_info"]["tags"]["mlflow.traceName"] == "agent"


def test_a_short_trace_is_stored_once_with_no_live_export(server, http, monkeypatch):
    monkeypatch.setenv("MLTRAIL_TRACE_LIVE_INTERVAL_MS", "60000")
    mltrail.set_tracking_uri(server.url)
    mltrail.set_experiment("live-traces-short")
    with mltrail.start_span("quick") as root:
        with mltrail.start_span("inner"):
            pass
        assert root.trace_id in get_exporter()._pending  # waiting for its interval, not sent
    assert root.trace_id not in get_exporter()._pending  # the whole trace carries the span
    flush_trace_async_logging()
    assert sorted(s["name"] for s in _trace(http, root.trace_id)["spans"]) == ["inner", "quick"]
