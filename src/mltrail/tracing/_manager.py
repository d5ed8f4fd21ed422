"""Traces in flight: span creation, the current-span context, and export when a root ends.

* The current span lives in a :class:`contextvars.ContextVar`, so nesting
  follows the call stack in threads and asyncio tasks alike (a new thread
  starts with no current span, as in MLflow; ``contextvars.copy_context()``
  carries it over).
* A trace is created with its root span: its experiment is the active run's
  (else the active experiment), and a trace started inside an active run gets
  metadata ``mlflow.sourceRun``.
* When the root span ends the trace is frozen and handed to
  :class:`~mltrail.tracing.export.TraceExporter`, which stores it in the
  background (flushed at exit, and before ``get_trace``/``search_traces``).
* A new trace is also handed to the exporter's live watch (:func:`live_snapshot`
  tells it how the trace stands): one still running after an interval is sent
  as it stands, root first, and then as it grows (see ``tracing/export.py``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import getpass
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.prices import price_spans
from mltrail.entities.trace import (
    PREVIEW_MAX_CHARS,
    Span,
    SpanAttributeKey,
    Trace,
    TraceData,
    TraceInfo,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
    dump_json,
)
from mltrail.entities.trace_usage import OTEL_SESSION_KEY, OTEL_USER_KEY
from mltrail.tracing import span as _span
from mltrail.tracing.export import get_exporter
from mltrail.tracing.span import LiveSpan, NoOpSpan

_log = logging.getLogger(__name__)
_current: contextvars.ContextVar[LiveSpan | None] = contextvars.ContextVar(
    "mltrail_current_span", default=None
)
_lock = threading.Lock()
_last_trace_id: str | None = None
_thread_last = threading.local()
_enabled = True


@dataclass
class _InFlight:
    """A trace whose root has not ended yet."""

    info: TraceInfo
    tracking_uri: str
    spans: list[LiveSpan] = field(default_factory=list)


_traces: dict[str, _InFlight] = {}


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def is_enabled() -> bool:
    return _enabled


def current_span() -> LiveSpan | None:
    """The span running here, or ``None``. A span that has ended is never current, even if code
    that hops contexts (a callback handler, a generator finished elsewhere) left it set."""
    span = _current.get()
    return None if span is not None and span.is_ended else span


def left_current(span: LiveSpan) -> bool:
    """Whether ``span`` is set as current here, or an ended span (one of its children) was left set."""
    raw = _current.get()
    return raw is span or (raw is not None and raw.is_ended)


def set_current(span: LiveSpan | None) -> contextvars.Token:
    return _current.set(span)


def reset_current(token: contextvars.Token) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (a generator finished elsewhere): just clear
        _current.set(None)


def _new_trace(root_name: str) -> _InFlight:
    """A trace for a new root span, placed in the active run's experiment (or the active one)."""
    from mltrail.tracking import context  # lazy: keeps `import mltrail.tracing` from loading the client

    stack = context.run_stack()
    run = stack[-1] if stack else None
    if run is not None:
        tracking_uri = run._tracking_uri
        experiment_id = run.info.experiment_id
    else:
        client = context.client()
        tracking_uri = client.tracking_uri
        experiment_id = context.experiment_id(client)
    metadata = {TraceMetadataKey.SOURCE_RUN: run.info.run_id} if run is not None else None
    return _InFlight(new_trace_info(root_name, str(experiment_id), metadata=metadata), tracking_uri)


def new_trace_info(
    name: str, experiment_id: str, tags: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None
) -> TraceInfo:
    """The info of a new, in-progress trace: a fresh id, MLflow's standard metadata, the name tag.

    While a model is active (``set_active_model``) the trace is linked to it by
    ``mlflow.modelId``; ``metadata`` given by the caller wins.
    """
    from mltrail.tracking._model_context import TRACE_MODEL_ID_KEY, trace_model_id

    trace_metadata = {
        TraceMetadataKey.SCHEMA_VERSION: "3",
        TraceMetadataKey.USER: _user(),
        TraceMetadataKey.SOURCE_NAME: _source_name(),
        TraceMetadataKey.SOURCE_TYPE: "LOCAL",
    }
    model_id = trace_model_id()
    if model_id:
        trace_metadata[TRACE_MODEL_ID_KEY] = model_id
    trace_metadata.update({str(k): str(v) for k, v in (metadata or {}).items()})
    trace_tags = {TraceTagKey.TRACE_NAME: name, **{str(k): str(v) for k, v in (tags or {}).items()}}
    return TraceInfo(
        trace_id=f"tr-{uuid.uuid4().hex}",
        experiment_id=experiment_id,
        request_time=0,
        state=TraceState.IN_PROGRESS,
        trace_metadata=trace_metadata,
        tags=trace_tags,
    )


def begin_trace(info: TraceInfo, tracking_uri: str, root: LiveSpan) -> None:
    """Put a trace in flight with its root span (it is exported to ``tracking_uri`` when the root ends)."""
    flight = _InFlight(info, tracking_uri, [root])
    with _lock:
        _traces[info.trace_id] = flight
    _watch(flight)


def _watch(flight: _InFlight) -> None:
    """Hand a new trace to the live export, which sends it as it stands if it is still running later."""
    trace_id = flight.info.trace_id
    get_exporter().submit_start(
        flight.tracking_uri, flight.info.experiment_id, trace_id, functools.partial(live_snapshot, trace_id)
    )


def live_snapshot(trace_id: str) -> tuple[TraceInfo, Span] | None:
    """A running trace as it stands: a copy of its info (``IN_PROGRESS``, timed from its root) and its root span.

    None when the trace is no longer in flight. Called from the export thread while the traced code
    may still change the root: a copy that meets a concurrent change is taken again.
    """
    with _lock:
        flight = _traces.get(trace_id)
        if flight is None or not flight.spans:
            return None
        info = dataclasses.replace(
            flight.info,
            state=TraceState.IN_PROGRESS,
            trace_metadata=dict(flight.info.trace_metadata),
            tags=dict(flight.info.tags),
            assessments=[],
        )
        live_root = flight.spans[0]
    for _attempt in range(3):
        try:
            root = live_root.to_span()
            break
        except RuntimeError:  # the traced code changed the root's attributes while they were copied
            continue
    else:
        return None
    if root.end_time_ns is None:
        root = dataclasses.replace(root, status_code="UNSET", status_message="")
    info.request_time = root.start_time_ns // 1_000_000
    info.execution_duration = None
    if info.request_preview is None:
        info.request_preview = _truncate(root.raw_attributes.get(SpanAttributeKey.INPUTS))
    return info, root


def in_flight_spans(trace_id: str) -> list[LiveSpan] | None:
    """A copy of the spans of a trace still in flight, or None when it is not in flight."""
    with _lock:
        flight = _traces.get(trace_id)
        return list(flight.spans) if flight is not None else None


def add_span(span: LiveSpan) -> bool:
    """Add ``span`` to its trace if that is still in flight; False when it is not."""
    with _lock:
        flight = _traces.get(span.trace_id)
        if flight is None:
            return False
        flight.spans.append(span)
    return True


def edit_in_flight_info(trace_id: str, edit: Callable[[TraceInfo], None]) -> bool:
    """Run ``edit`` on the info of a trace still in flight, under the lock; False when it is not in flight."""
    with _lock:
        flight = _traces.get(trace_id)
        if flight is None:
            return False
        edit(flight.info)
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _source_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.basename(path) if path else "<console>"


def start_span(
    name: str,
    span_type: str | None = None,
    parent: LiveSpan | None = None,
    inputs: Any = None,
    attributes: dict[str, Any] | None = None,
    use_current_parent: bool = True,
) -> LiveSpan:
    """Create and start a span without making it current (callback-style integrations use this).

    The parent is ``parent``, else the current span (``use_current_parent``),
    else the span starts a new trace.
    """
    if not _enabled:
        return NoOpSpan()
    if parent is None and use_current_parent:
        parent = _current.get()
    if isinstance(parent, NoOpSpan):
        parent = None
    span_id = uuid.uuid4().hex[:16]
    with _lock:
        flight = _traces.get(parent.trace_id) if parent is not None else None
    if flight is None:
        try:
            flight = _new_trace(name)
        except Exception as err:  # tracing must never break the traced program
            _log.warning("Not tracing %r: cannot resolve where its trace goes (%s)", name, err)
            return NoOpSpan()
        span = LiveSpan(flight.info.trace_id, span_id, None, name, span_type)
        with _lock:
            _traces[flight.info.trace_id] = flight
            flight.spans.append(span)
        _watch(flight)
    else:
        span = LiveSpan(flight.info.trace_id, span_id, parent.span_id, name, span_type)
        with _lock:
            flight.spans.append(span)
    if inputs is not None:
        span.set_inputs(inputs)
    if attributes:
        span.set_attributes(attributes)
    return span


def update_trace(
    trace_id: str, tags: dict[str, str] | None = None, metadata: dict[str, str] | None = None, **fields: Any
) -> bool:
    """Change a trace still in flight; False when it is not in flight."""

    def edit(info: TraceInfo) -> None:
        info.tags.update({str(k): str(v) for k, v in (tags or {}).items()})
        info.trace_metadata.update({str(k): str(v) for k, v in (metadata or {}).items()})
        for key, value in fields.items():
            if value is not None:
                setattr(info, key, value)

    return edit_in_flight_info(trace_id, edit)


def _truncate(text: str | None) -> str | None:
    return None if text is None else text[:PREVIEW_MAX_CHARS]


def _usage_and_cost(info: TraceInfo, frozen: list[Span]) -> None:
    """Price each LLM span and total the trace's tokens and cost into its metadata (MLflow's keys).

    Best effort, as in MLflow: a bad price file must never lose the trace.
    Session and user given as OpenTelemetry attributes (``session.id`` /
    ``user.id``) on a span become the trace's session and user.
    """
    try:
        usage, cost = price_spans(frozen)
    except Exception as err:  # a broken MLTRAIL_PRICES_FILE is reported, never fatal
        _log.warning("Could not total token usage/cost of trace %s: %s", info.trace_id, err)
        return
    if usage:
        info.trace_metadata[TraceMetadataKey.TOKEN_USAGE] = json.dumps(usage)
    if cost:
        info.trace_metadata[TraceMetadataKey.COST] = json.dumps(cost)
    for key, otel_key in (
        (TraceMetadataKey.TRACE_SESSION, OTEL_SESSION_KEY),
        (TraceMetadataKey.TRACE_USER, OTEL_USER_KEY),
    ):
        if key not in info.trace_metadata:
            value = next((s.get_attribute(otel_key) for s in frozen if s.raw_attributes.get(otel_key)), None)
            if value not in (None, ""):
                info.trace_metadata[key] = str(value)


def span_ended(span: LiveSpan) -> None:
    """Called by ``LiveSpan.end``: a root's end freezes the trace and queues it for export."""
    global _last_trace_id
    if isinstance(span, NoOpSpan):
        return
    if span.parent_id is not None:
        _child_ended(span)
        return
    with _lock:
        flight = _traces.pop(span.trace_id, None)
    if flight is None:
        return
    info = flight.info
    info.request_time = span.start_time_ns // 1_000_000
    info.execution_duration = max(
        0, ((span.end_time_ns or span.start_time_ns) - span.start_time_ns) // 1_000_000
    )
    if info.state == TraceState.IN_PROGRESS:
        info.state = TraceState.ERROR if span.status.status_code == "ERROR" else TraceState.OK
    frozen = [s.to_span() for s in flight.spans]
    root = frozen[0]
    request = root.raw_attributes.get(SpanAttributeKey.INPUTS)
    response = root.raw_attributes.get(SpanAttributeKey.OUTPUTS)
    if info.request_preview is None:
        info.request_preview = _truncate(request)
    if info.response_preview is None:
        info.response_preview = _truncate(response)
    info.trace_metadata.setdefault(TraceMetadataKey.INPUTS, _truncate(request) or "")
    info.trace_metadata.setdefault(TraceMetadataKey.OUTPUTS, _truncate(response) or "")
    _usage_and_cost(info, frozen)
    info.trace_metadata["mlflow.trace.sizeBytes"] = str(len(dump_json([s.to_dict() for s in frozen])))
    trace = Trace(info, TraceData(frozen))
    _last_trace_id = info.trace_id
    _thread_last.trace_id = info.trace_id
    get_exporter().submit(flight.tracking_uri, trace)


def _child_ended(span: LiveSpan) -> None:
    """A span inside a running trace ended: queue it for the trace's live export (see tracing/export.py)."""
    get_exporter().submit_span(span)


_span.set_end_hook(span_ended)


def last_trace_id(thread_local: bool = False) -> str | None:
    if thread_local:
        return getattr(_thread_last, "trace_id", None)
    return _last_trace_id


def reset_last_trace_id() -> None:
    global _last_trace_id
    _last_trace_id = None
    _thread_last.trace_id = None
