"""Spans started and ended by id (``MlflowClient.start_trace``/``start_span``/``end_span``/``end_trace``).

The fluent API nests spans through the current-span context; this explicit
API names the trace and parent instead, so spans can start and end in
different call stacks (callbacks, threads). Both share the in-flight traces
of :mod:`mltrail.tracing._manager`: a client span may be a child of a fluent
span, and a trace is exported the same way when its root span ends.
"""

from __future__ import annotations

import uuid
from typing import Any

from mltrail.entities.trace import (
    SpanStatus,
    SpanStatusCode,
    TraceInfo,
)
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.tracing import _manager
from mltrail.tracing.span import LiveSpan, NoOpSpan


def _span_not_found(trace_id: str, span_id: str) -> MltrailException:
    return MltrailException(
        f"Span with ID '{span_id}' not found in the active trace '{trace_id}' "
        "(it was never started, or its trace has already ended)",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


def _start(span: LiveSpan, inputs: Any, attributes: dict[str, Any] | None) -> LiveSpan:
    if inputs is not None:
        span.set_inputs(inputs)
    if attributes:
        span.set_attributes(attributes)
    return span


def start_root(
    tracking_uri: str,
    experiment_id: str,
    name: str,
    span_type: str | None,
    inputs: Any = None,
    attributes: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    start_time_ns: int | None = None,
) -> LiveSpan:
    """Start a new trace in ``experiment_id`` of ``tracking_uri`` and return its root span."""
    if not _manager.is_enabled():
        return NoOpSpan()
    info = _manager.new_trace_info(name, str(experiment_id), tags=tags, metadata=metadata)
    span = LiveSpan(info.trace_id, uuid.uuid4().hex[:16], None, name, span_type, start_time_ns)
    _manager.begin_trace(info, tracking_uri, span)
    return _start(span, inputs, attributes)


def find_span(trace_id: str, span_id: str) -> LiveSpan | None:
    """A span of a trace still in flight, or ``None``."""
    spans = _manager.in_flight_spans(trace_id) or []
    return next((s for s in spans if s.span_id == span_id), None)


def start_child(
    name: str,
    trace_id: str,
    parent_id: str,
    span_type: str | None = None,
    inputs: Any = None,
    attributes: dict[str, Any] | None = None,
    start_time_ns: int | None = None,
) -> LiveSpan:
    """Start a span under ``parent_id`` of the in-flight trace ``trace_id``."""
    if not trace_id:  # the parent is a NoOpSpan (tracing disabled): the child records nothing either
        return NoOpSpan()
    if not parent_id:
        raise invalid(
            "start_span() needs an explicit parent_id: start a new trace and its root span "
            "with MlflowClient().start_trace()"
        )
    parent = find_span(trace_id, parent_id)
    if parent is None:
        raise MltrailException(
            f"Parent span with ID '{parent_id}' not found in the active trace '{trace_id}'",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    span = LiveSpan(trace_id, uuid.uuid4().hex[:16], parent_id, name, span_type, start_time_ns)
    if not _manager.add_span(span):  # the root ended between the lookup and now
        raise _span_not_found(trace_id, parent_id)
    return _start(span, inputs, attributes)


def end_span(
    trace_id: str,
    span_id: str,
    outputs: Any = None,
    attributes: dict[str, Any] | None = None,
    status: SpanStatus | str = "OK",
    end_time_ns: int | None = None,
) -> None:
    """End one span of an in-flight trace (``RESOURCE_DOES_NOT_EXIST`` if there is no such span)."""
    if not trace_id:
        return
    span = find_span(trace_id, span_id)
    if span is None:
        raise _span_not_found(trace_id, span_id)
    span.end(outputs=outputs, attributes=attributes, status=status, end_time_ns=end_time_ns)


def root_of(trace_id: str) -> LiveSpan | None:
    """The root span of a trace still in flight, or ``None``."""
    spans = _manager.in_flight_spans(trace_id) or []
    return next((s for s in spans if s.parent_id is None), None)


def end_root(
    root: LiveSpan,
    outputs: Any = None,
    attributes: dict[str, Any] | None = None,
    status: SpanStatus | str = "OK",
    end_time_ns: int | None = None,
) -> None:
    """End a trace: spans still open end UNSET (as MLflow does), then the root, which exports the trace."""
    for span in _manager.in_flight_spans(root.trace_id) or []:
        if span is not root and not span.is_ended:
            span.end(status=SpanStatus(SpanStatusCode.UNSET, "Ended with its trace"), end_time_ns=end_time_ns)
    root.end(outputs=outputs, attributes=attributes, status=status, end_time_ns=end_time_ns)


def set_in_flight_tag(trace_id: str, key: str, value: str) -> bool:
    """Set a tag on a trace still in flight; False when it is not in flight."""
    return _manager.update_trace(trace_id, tags={key: value})


def delete_in_flight_tag(trace_id: str, key: str) -> bool:
    """Remove a tag from a trace still in flight; False when it is not in flight.

    Raises ``RESOURCE_DOES_NOT_EXIST`` when the trace is in flight without that tag.
    """

    def drop(info: TraceInfo) -> None:
        if key not in info.tags:
            raise MltrailException(
                f"Tag with key '{key}' not found in trace with ID '{trace_id}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        del info.tags[key]

    return _manager.edit_in_flight_info(trace_id, drop)


def add_in_flight_assessment(trace_id: str, assessment: Any) -> bool:
    """Attach an assessment to a trace still in flight (stored with it); False when it is not in flight."""
    return _manager.edit_in_flight_info(trace_id, lambda info: info.assessments.append(assessment))
