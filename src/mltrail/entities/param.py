"""``mlflow.entities.param``'s import path: Param (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import Param

__all__ = ["Param"]
