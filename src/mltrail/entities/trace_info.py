"""``mlflow.entities.trace_info``'s import path: TraceInfo (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import TraceInfo

__all__ = ["TraceInfo"]
