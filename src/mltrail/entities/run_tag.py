"""``mlflow.entities.run_tag``'s import path: RunTag (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import RunTag

__all__ = ["RunTag"]
