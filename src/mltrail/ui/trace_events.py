"""Server-sent events for live traces: a trace page that grows, a traces list that refreshes.

Works like the run page's stream (:mod:`mltrail.ui.events`): the server polls a
cheap probe of the database (one aggregate), so any server process sees spans
another one received (OTLP ``/v1/traces`` or a client's span export). Only when
the probe changes does it read more, and then only the spans that are new or
changed, as their stored JSON text:

``event: trace``
    ``{"trace_info": …, "spans": [span JSON, …]}``; the first event carries every
    span, later ones only what changed. The page merges them by span id.
``event: gone``
    The trace was deleted.
``event: traces``
    (list stream) The experiments' traces changed; the list re-reads its first page.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from mltrail.ui.events import DEFAULT_POLL_SECONDS, KEEPALIVE_SECONDS, MAX_STREAM_SECONDS


def _frame(name: str, data: str) -> str:
    # Stored span JSON never holds a raw newline (json.dumps escapes them), so it fits one data line.
    return f"event: {name}\ndata: {data}\n\n"


async def _changes(probe: Any, poll_seconds: float, max_seconds: float) -> AsyncIterator[Any]:
    """Yield each new probe value (``None`` when the thing is gone), or ``""`` when a keepalive is due."""
    started = last_sent = time.monotonic()
    last = await run_in_threadpool(probe)
    yield last
    while time.monotonic() - started < max_seconds:
        await asyncio.sleep(poll_seconds)
        value = await run_in_threadpool(probe)
        if value == last and value is not None:
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ""
            continue
        last, last_sent = value, time.monotonic()
        yield value
        if value is None:
            return


async def trace_event_stream(store: Any, trace_id: str, poll_seconds: float = DEFAULT_POLL_SECONDS,
                             max_seconds: float = MAX_STREAM_SECONDS) -> AsyncIterator[str]:
    """SSE frames for one trace until ``max_seconds`` pass or the client goes away."""
    yield "retry: 2000\n\n"
    marks: dict[str, Any] = {}
    async for probe in _changes(lambda: store.trace_probe(trace_id), poll_seconds, max_seconds):
        if probe == "":
            yield ": keepalive\n\n"
            continue
        if probe is None:
            yield _frame("gone", json.dumps({"trace_id": trace_id}))
            return
        # The probe was read before these: a write landing in between shows up as a change next time.
        new_marks = await run_in_threadpool(store.span_marks, trace_id)
        changed = [sid for sid, mark in new_marks.items() if marks.get(sid) != mark]
        marks = new_marks
        docs = await run_in_threadpool(store.span_documents, trace_id, changed) if changed else []
        info = await run_in_threadpool(store.get_trace_info, trace_id)
        yield _frame("trace", '{"trace_info":' + info_json(info) + ',"spans":[' + ",".join(docs) + "]}")


async def traces_list_stream(store: Any, experiment_ids: list[str], poll_seconds: float = DEFAULT_POLL_SECONDS,
                             max_seconds: float = MAX_STREAM_SECONDS) -> AsyncIterator[str]:
    """SSE frames telling a traces list that its experiments' traces changed."""
    yield "retry: 2000\n\n"
    async for probe in _changes(lambda: store.experiment_traces_probe(experiment_ids), poll_seconds, max_seconds):
        yield ": keepalive\n\n" if probe == "" else _frame("traces", "{}")


def info_json(info: Any) -> str:
    """A trace info as MLflow's ``TraceInfoV3`` JSON text (assessments included)."""
    return json.dumps(info.to_proto_json(), allow_nan=False, separators=(",", ":"),
                      default=lambda o: o.to_proto_json())
