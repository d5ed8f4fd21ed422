"""``mlflow.entities.dataset_input``'s import path: DatasetInput (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import DatasetInput

__all__ = ["DatasetInput"]
