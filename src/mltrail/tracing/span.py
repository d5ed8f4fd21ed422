"""``LiveSpan``: a span while it runs (what ``mltrail.start_span`` yields).

Attribute values are kept as Python values while the span runs and are
JSON-encoded once, when the span is frozen into an
:class:`~mltrail.entities.trace.Span` at the end of its trace.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from mltrail.entities.trace import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    dump_json,
)


def _no_hook(span: LiveSpan) -> None:
    """Until the trace manager registers itself, ending a span records nothing more."""


# What ending a span triggers (the export of its trace when it is a root). The trace manager
# sets it when imported: it imports this module, so this module does not import it.
_end_hook: Callable[[LiveSpan], None] = _no_hook


def set_end_hook(hook: Callable[[LiveSpan], None]) -> None:
    """Called once by :mod:`mltrail.tracing._manager` with its ``span_ended``."""
    global _end_hook
    _end_hook = hook


class LiveSpan:
    """A running span. End it with :meth:`end` (``start_span``/``@trace`` do that for you).

    Example::

        with mltrail.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": q})
            docs = search(q)
            span.set_outputs(docs)
            span.set_attribute("k", 3)
    """

    def __init__(self, trace_id: str, span_id: str, parent_id: str | None, name: str,
                 span_type: str | None = SpanType.UNKNOWN, start_time_ns: int | None = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.start_time_ns = start_time_ns if start_time_ns is not None else time.time_ns()
        self.end_time_ns: int | None = None
        self._status = SpanStatus(SpanStatusCode.OK, "")
        self._status_set = False
        self._attributes: dict[str, Any] = {
            SpanAttributeKey.REQUEST_ID: trace_id,
            SpanAttributeKey.SPAN_TYPE: span_type or SpanType.UNKNOWN,
        }
        self.events: list[SpanEvent] = []

    # -- MLflow's accessors
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def span_type(self) -> str:
        return self._attributes.get(SpanAttributeKey.SPAN_TYPE, SpanType.UNKNOWN)

    @property
    def inputs(self) -> Any:
        return self._attributes.get(SpanAttributeKey.INPUTS)

    @property
    def outputs(self) -> Any:
        return self._attributes.get(SpanAttributeKey.OUTPUTS)

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self._attributes)

    @property
    def status(self) -> SpanStatus:
        return self._status

    @property
    def is_ended(self) -> bool:
        return self.end_time_ns is not None

    def get_attribute(self, key: str) -> Any:
        return self._attributes.get(key)

    # -- setters
    def set_inputs(self, inputs: Any) -> None:
        self._attributes[SpanAttributeKey.INPUTS] = inputs

    def set_outputs(self, outputs: Any) -> None:
        self._attributes[SpanAttributeKey.OUTPUTS] = outputs

    def set_attribute(self, key: str, value: Any) -> None:
        self._attributes[str(key)] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for key, value in (attributes or {}).items():
            self.set_attribute(key, value)

    def set_span_type(self, span_type: str) -> None:
        self._attributes[SpanAttributeKey.SPAN_TYPE] = span_type

    def set_status(self, status: SpanStatus | str, description: str = "") -> None:
        """``"OK"``, ``"ERROR"`` or a :class:`SpanStatus`."""
        if isinstance(status, SpanStatus):
            self._status = status
        else:
            code = str(status).upper().removeprefix("STATUS_CODE_")
            self._status = SpanStatus(code if code in ("OK", "ERROR", "UNSET") else "UNSET", description)
        self._status_set = True

    def add_event(self, event: SpanEvent | str, attributes: dict[str, Any] | None = None) -> None:
        if isinstance(event, str):
            event = SpanEvent(event, time.time_ns(), dict(attributes or {}))
        self.events.append(event)

    def record_exception(self, exc: BaseException) -> None:
        """Add OpenTelemetry's ``exception`` event and mark the span ERROR."""
        self.add_event(SpanEvent("exception", time.time_ns(), {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        }))
        self.set_status(SpanStatus(SpanStatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

    def end(self, outputs: Any = None, attributes: dict[str, Any] | None = None,
            status: SpanStatus | str | None = None, end_time_ns: int | None = None) -> None:
        """Finish the span (a second call does nothing); the trace is exported when its root ends."""
        if self.end_time_ns is not None:
            return
        if outputs is not None:
            self.set_outputs(outputs)
        if attributes:
            self.set_attributes(attributes)
        if status is not None:
            self.set_status(status)
        self.end_time_ns = end_time_ns if end_time_ns is not None else time.time_ns()
        _end_hook(self)

    def to_span(self) -> Span:
        """The finished, immutable span (attribute values JSON-encoded)."""
        return Span(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_id=self.parent_id,
            name=self.name,
            start_time_ns=self.start_time_ns,
            end_time_ns=self.end_time_ns,
            status_code=self._status.status_code,
            status_message=self._status.description,
            raw_attributes={k: dump_json(v) for k, v in self._attributes.items()},
            events=list(self.events),
        )

    def __repr__(self) -> str:
        return f"LiveSpan(name={self.name!r}, span_type={self.span_type!r}, span_id={self.span_id!r})"


class NoOpSpan(LiveSpan):
    """What tracing functions yield while tracing is disabled: accepts every call, records nothing."""

    def __init__(self) -> None:
        super().__init__("", "", None, "", SpanType.UNKNOWN, 0)

    def end(self, *args: Any, **kwargs: Any) -> None:
        self.end_time_ns = self.end_time_ns or 1
