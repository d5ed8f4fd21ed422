"""``mlflow.entities.run_inputs``'s import path: RunInputs (defined in :mod:`mltrail.entities.tracking`)."""

from mltrail.entities.tracking import RunInputs

__all__ = ["RunInputs"]
