"""``mlflow.entities.trace_state``'s import path: TraceState (defined in :mod:`mltrail.entities.trace`)."""

from mltrail.entities.trace import TraceState

__all__ = ["TraceState"]
