"""``mlflow.entities.logged_model_status``'s import path: LoggedModelStatus (defined in :mod:`mltrail.entities.logged_model`)."""

from mltrail.entities.logged_model import LoggedModelStatus

__all__ = ["LoggedModelStatus"]
