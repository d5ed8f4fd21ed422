"""``mlflow.entities.experiment_tag``'s import path: ExperimentTag (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import ExperimentTag

__all__ = ["ExperimentTag"]
