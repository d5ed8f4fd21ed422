"""``mlflow.entities.trace_data``'s import path: TraceData (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import TraceData

__all__ = ["TraceData"]
