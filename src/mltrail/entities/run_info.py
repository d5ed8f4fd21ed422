"""``mlflow.entities.run_info``'s import path: RunInfo (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import RunInfo

__all__ = ["RunInfo"]
