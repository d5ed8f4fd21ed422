"""``mlflow.entities.span_status``'s import path: SpanStatus, SpanStatusCode (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import SpanStatus, SpanStatusCode

__all__ = ["SpanStatus", "SpanStatusCode"]
