"""UI routes of the trace page: one trace with all its spans, and live trace streams.

``GET /ajax-api/mltrail/traces/{trace_id}``
    The trace's info and every span as MLflow's span JSON (``traces.json``'s
    shape), in one answer. Spans are sent as the database stores them: the
    server joins stored strings instead of decoding and re-encoding each span,
    so a 10,000-span trace costs one read. ``Server-Timing: app;dur=`` says how
    long the server took.
``GET /ajax-api/mltrail/traces/{trace_id}/events``
    A ``text/event-stream`` of the trace while it grows (see :mod:`mltrail.ui.trace_events`).
``GET /ajax-api/mltrail/experiments/traces/events?experiment_ids=1,2``
    A stream telling the traces list when the experiments' traces changed.
``GET /ajax-api/mltrail/experiments/traces/totals?experiment_ids=1&filter=``
    Trace count, tokens and cost summed over the traces matching a filter
    (``trace.run_id = '…'`` for a run's totals).
``GET /ajax-api/mltrail/experiments/traces/sessions?experiment_ids=1&filter=&max_results=&page_token=``
    The experiments' sessions (``mlflow.trace.session``), most recent first, each with its
    turn count, tokens, cost and user.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mltrail.exceptions import MltrailException, invalid
from mltrail.ui import trace_events
from mltrail.ui.assets import SECURITY_HEADERS
from mltrail.ui.events import poll_seconds
from mltrail.ui.sqlaccess import experiment_ids
from mltrail.ui.trace_events import info_json

_TRACE_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
_STREAM_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _trace_store(request: Request) -> Any:
    """The app's trace store (``create_app`` builds it; opening it opens the tracking store first)."""
    return request.app.state.trace_store.get()


def _trace_id(request: Request) -> str:
    trace_id = str(request.path_params.get("trace_id") or "")
    if not _TRACE_ID.match(trace_id):
        raise invalid(f"Invalid trace id {trace_id!r}")
    return trace_id


def _error(exc: MltrailException) -> Response:
    body = json.dumps(exc.to_dict())
    return Response(body, status_code=exc.get_http_status_code(), media_type="application/json",
                    headers=SECURITY_HEADERS)


def trace_body(info: Any, span_docs: list[str]) -> str:
    """``{"trace_info": …, "spans": [<stored span JSON>, …]}`` built by joining, not re-encoding."""
    return '{"trace_info":' + info_json(info) + ',"spans":[' + ",".join(span_docs) + "]}"


async def trace_with_spans(request: Request) -> Response:
    """``GET /ajax-api/mltrail/traces/{trace_id}``: a trace and all its spans in one answer."""
    started = time.perf_counter()
    try:
        trace_id = _trace_id(request)

        def load() -> str:
            store = _trace_store(request)
            info = store.get_trace_info(trace_id)  # RESOURCE_DOES_NOT_EXIST for an unknown trace
            return trace_body(info, store.span_documents(trace_id))

        body = await run_in_threadpool(load)
    except MltrailException as exc:
        return _error(exc)
    took = (time.perf_counter() - started) * 1000
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Server-Timing": f"app;dur={took:.1f}"}
    return Response(body, media_type="application/json", headers=headers)


async def trace_events_route(request: Request) -> Response:
    """``GET /ajax-api/mltrail/traces/{trace_id}/events``: the trace as it grows."""
    try:
        trace_id = _trace_id(request)
        store = await run_in_threadpool(_trace_store, request)
        await run_in_threadpool(store.get_trace_info, trace_id)
    except MltrailException as exc:
        return _error(exc)
    stream = trace_events.trace_event_stream(store, trace_id, poll_seconds=poll_seconds(request.app.state))
    return StreamingResponse(stream, media_type="text/event-stream", headers=_STREAM_HEADERS)


async def experiment_traces_events(request: Request) -> Response:
    """``GET /ajax-api/mltrail/experiments/traces/events?experiment_ids=``: the traces list's change signal."""
    try:
        ids = experiment_ids(request)
        store = await run_in_threadpool(_trace_store, request)
    except MltrailException as exc:
        return _error(exc)
    stream = trace_events.traces_list_stream(store, ids, poll_seconds=poll_seconds(request.app.state))
    return StreamingResponse(stream, media_type="text/event-stream", headers=_STREAM_HEADERS)


def _json(payload: Any, started: float) -> Response:
    took = (time.perf_counter() - started) * 1000
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Server-Timing": f"app;dur={took:.1f}"}
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json", headers=headers)


def _max_results(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("max_results")
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"Invalid max_results {raw!r}: expected an integer") from None


async def experiment_trace_totals(request: Request) -> Response:
    """``GET /ajax-api/mltrail/experiments/traces/totals``: count, tokens and cost of matching traces."""
    started = time.perf_counter()
    try:
        ids = experiment_ids(request)
        filter_string = request.query_params.get("filter") or None
        store = await run_in_threadpool(_trace_store, request)
        totals = await run_in_threadpool(store.trace_totals, ids, filter_string)
    except MltrailException as exc:
        return _error(exc)
    return _json({"totals": totals}, started)


async def experiment_sessions(request: Request) -> Response:
    """``GET /ajax-api/mltrail/experiments/traces/sessions``: sessions, most recent first, with their totals."""
    started = time.perf_counter()
    try:
        ids = experiment_ids(request)
        filter_string = request.query_params.get("filter") or None
        max_results = _max_results(request)
        token = request.query_params.get("page_token") or None
        store = await run_in_threadpool(_trace_store, request)
        sessions, next_token = await run_in_threadpool(store.session_summaries, ids, filter_string, max_results,
                                                       token)
    except MltrailException as exc:
        return _error(exc)
    return _json({"sessions": sessions, "next_page_token": next_token}, started)
