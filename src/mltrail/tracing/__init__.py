"""LLM tracing: spans and traces on OpenTelemetry's data model, stored in the tracking store.

``import mltrail as mlflow`` gives MLflow's tracing API: ``@mlflow.trace``,
``mlflow.start_span``, ``mlflow.get_trace``, ``mlflow.search_traces``,
``mlflow.get_last_active_trace_id``, ``mlflow.update_current_trace`` and
``mlflow.get_current_active_span``, and assessments (``mlflow.log_feedback``,
``mlflow.log_expectation``, ``get/update/delete_assessment``). Integrations (``mltrail.openai``,
``mltrail.langchain``) build on the same spans.

Example::

    import mltrail as mlflow

    @mlflow.trace
    def add(a, b):
        return a + b

    add(1, 2)
    print(mlflow.get_trace(mlflow.get_last_active_trace_id()).data.spans[0].outputs)  # 3
"""

from __future__ import annotations

from mltrail.entities.prices import get_prices, reset_prices, set_prices
from mltrail.entities.trace import Span, SpanEvent, SpanStatus, SpanStatusCode, SpanType, Trace, TraceInfo
from mltrail.tracing._manager import is_enabled
from mltrail.tracing.assessments import (
    delete_assessment,
    get_assessment,
    log_assessment,
    log_expectation,
    log_feedback,
    override_feedback,
    update_assessment,
)
from mltrail.tracing.chat import set_span_chat_tools
from mltrail.tracing.display import disable_notebook_display, enable_notebook_display
from mltrail.tracing.fluent import (
    delete_trace_tag,
    flush_trace_async_logging,
    get_current_active_span,
    get_last_active_trace_id,
    get_trace,
    get_trace_totals,
    search_sessions,
    search_traces,
    set_trace_tag,
    start_span,
    trace,
    update_current_trace,
)
from mltrail.tracing.span import LiveSpan


def disable() -> None:
    """Stop recording spans in this process (traced code keeps running, untraced)."""
    from mltrail.tracing import _manager

    _manager.set_enabled(False)


def enable() -> None:
    """Record spans again after :func:`disable`."""
    from mltrail.tracing import _manager

    _manager.set_enabled(True)


__all__ = [
    "LiveSpan",
    "Span",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceInfo",
    "delete_assessment",
    "delete_trace_tag",
    "disable",
    "disable_notebook_display",
    "enable",
    "enable_notebook_display",
    "flush_trace_async_logging",
    "get_assessment",
    "get_current_active_span",
    "get_last_active_trace_id",
    "get_prices",
    "get_trace",
    "get_trace_totals",
    "is_enabled",
    "log_assessment",
    "log_expectation",
    "log_feedback",
    "override_feedback",
    "reset_prices",
    "search_sessions",
    "search_traces",
    "set_prices",
    "set_span_chat_tools",
    "set_trace_tag",
    "start_span",
    "trace",
    "update_assessment",
    "update_current_trace",
]
