"""``mlflow.entities.run``'s import path: Run (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import Run

__all__ = ["Run"]
