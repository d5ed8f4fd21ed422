"""``mlflow.entities.lifecycle_stage``'s import path: LifecycleStage (defined in :mod:`mltrail.entities.enums`)."""

from mltrail.entities.enums import LifecycleStage

__all__ = ["LifecycleStage"]
