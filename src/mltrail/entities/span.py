"""``mlflow.entities.span``'s import path: Span, SpanType (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import Span, SpanType

__all__ = ["Span", "SpanType"]
