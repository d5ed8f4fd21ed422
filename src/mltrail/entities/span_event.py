"""``mlflow.entities.span_event``'s import path: SpanEvent (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import SpanEvent

__all__ = ["SpanEvent"]
