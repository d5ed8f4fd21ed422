"""``mlflow.entities.view_type``'s import path: ViewType (defined in :mod:`mltrail.entities.enums`)."""

from mltrail.entities.enums import ViewType

__all__ = ["ViewType"]
