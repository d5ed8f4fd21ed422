"""``mlflow.entities.source_type``'s import path: SourceType (defined in :mod:`mltrail.entities.enums`)."""

from mltrail.entities.enums import SourceType

__all__ = ["SourceType"]
