"""``mlflow.entities.dataset``'s import path: Dataset (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import Dataset

__all__ = ["Dataset"]
