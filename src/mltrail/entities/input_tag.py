"""``mlflow.entities.input_tag``'s import path: InputTag (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import InputTag

__all__ = ["InputTag"]
