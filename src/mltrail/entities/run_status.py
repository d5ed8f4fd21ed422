"""``mlflow.entities.run_status``'s import path: RunStatus (defined in :mod:`mltrail.entities.enums`)."""

from mltrail.entities.enums import RunStatus

__all__ = ["RunStatus"]
