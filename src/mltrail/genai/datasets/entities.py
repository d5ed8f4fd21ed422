"""``EvaluationDatasetVersion``: an immutable version of a managed dataset (MLflow 3.17's class).

In MLflow only Databricks (Unity Catalog) datasets have listed versions; a dataset in
the tracking store is identified by its content ``digest`` instead, and
``get_dataset(version=...)`` / ``list_versions()`` raise ``NotImplementedError`` as in
MLflow. The class is here so code that imports or builds it runs unchanged.

Example::

    EvaluationDatasetVersion(version=3, created_by="ana", operation="MERGE")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


def _when(value: datetime) -> str:
    text = value.isoformat(sep=" ", timespec="seconds")
    return text.removesuffix("+00:00") + " UTC" if value.utcoffset() == timedelta(0) else text


@dataclass(frozen=True)
class EvaluationDatasetVersion:
    """One version of a dataset: its number, when and by whom it was made, and the operation."""

    version: int
    created_at: datetime | None = None
    created_by: str | None = None
    operation: str | None = None

    def __repr__(self) -> str:
        created_at = repr(_when(self.created_at)) if self.created_at is not None else None
        return (
            f"{type(self).__name__}(version={self.version!r}, created_at={created_at}, "
            f"created_by={self.created_by!r}, operation={self.operation!r})"
        )
