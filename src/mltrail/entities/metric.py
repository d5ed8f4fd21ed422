"""``mlflow.entities.metric``'s import path: Metric (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import Metric

__all__ = ["Metric"]
