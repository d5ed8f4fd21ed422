"""``mlflow.entities.run_data``'s import path: RunData (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import RunData

__all__ = ["RunData"]
