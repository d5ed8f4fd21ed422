"""``mlflow.entities.experiment``'s import path: Experiment (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import Experiment

__all__ = ["Experiment"]
