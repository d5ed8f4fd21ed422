"""``mltrail.client``: where MLflow code imports its client from (``from mlflow.client import MlflowClient``)."""

from mltrail.tracking.client import MlflowClient

__all__ = ["MlflowClient"]
