"""``mlflow.entities.file_info``'s import path: FileInfo (defined in :mod:`mltrail.entities.files`)."""

from mltrail.entities.files import FileInfo

__all__ = ["FileInfo"]
