"""``mlflow.entities.logged_model_output``'s import path: LoggedModelOutput (defined in :mod:`mltrail.entities.logged_model`)."""

from mltrail.entities.logged_model import LoggedModelOutput

__all__ = ["LoggedModelOutput"]
