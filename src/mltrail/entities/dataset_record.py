"""Records of an evaluation dataset (MLflow 3's ``DatasetRecord`` and its source).

A record is one evaluation example: ``inputs`` (what the app is called with),
optional ``outputs``, ``expectations`` (ground truth), ``tags`` and a ``source``
(where it came from: a trace, a human, a document or code). Records of one
dataset are unique by their inputs: merging a record with the same inputs
updates the stored one.

``to_dict`` / ``from_dict`` are MLflow's record JSON (what
``GET /api/3.0/mlflow/datasets/{id}/records`` carries, JSON-encoded, in ``records``).

Example::

    source = DatasetRecordSource("trace", {"trace_id": "tr-1"})
    source.source_type == DatasetRecordSourceType.TRACE
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mltrail.exceptions import invalid

# The protobuf name of the zero value; the Python enum (and stored strings) say UNSPECIFIED.
_PROTO_UNSPECIFIED = "SOURCE_TYPE_UNSPECIFIED"


class DatasetRecordSourceType(StrEnum):
    """Where a record came from: ``TRACE``, ``HUMAN``, ``DOCUMENT``, ``CODE`` or ``UNSPECIFIED``."""

    UNSPECIFIED = "UNSPECIFIED"
    TRACE = "TRACE"
    HUMAN = "HUMAN"
    DOCUMENT = "DOCUMENT"
    CODE = "CODE"

    @classmethod
    def parse(cls, value: Any) -> DatasetRecordSourceType:
        """The type named by ``value`` (case-insensitive; the protobuf name and 0-4 too)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(_ORDER):
            return _ORDER[value]
        text = str(value).strip().upper() if isinstance(value, str) else None
        if text == _PROTO_UNSPECIFIED:
            return cls.UNSPECIFIED
        try:
            return cls(text)
        except ValueError:
            raise invalid(
                f"Invalid dataset record source type: {value!r}. Valid source types: {[t.value for t in cls]}"
            ) from None


_ORDER = tuple(DatasetRecordSourceType)


@dataclass
class DatasetRecordSource:
    """The source of a record: its type and free-form ``source_data`` (e.g. ``{"trace_id": ...}``)."""

    source_type: DatasetRecordSourceType | str
    source_data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.source_type = DatasetRecordSourceType.parse(self.source_type)
        if self.source_data is None:
            self.source_data = {}
        elif not isinstance(self.source_data, dict):
            raise invalid(f"Invalid source_data {self.source_data!r}: expected a JSON object")

    @property
    def source_id(self) -> str | None:
        """The id MLflow indexes a record's source by: the trace id, else ``source_data['source_id']``."""
        data = self.source_data or {}
        value = (
            data.get("trace_id")
            if self.source_type == DatasetRecordSourceType.TRACE
            else data.get("source_id")
        )
        return None if value is None else str(value)

    def to_dict(self) -> dict[str, Any]:
        return {"source_type": str(self.source_type), "source_data": dict(self.source_data or {})}

    @classmethod
    def from_dict(cls, data: Any) -> DatasetRecordSource:
        """A source from its dict (``{"source_type": ..., "source_data": {...}}``)."""
        if isinstance(data, DatasetRecordSource):
            return data
        if not isinstance(data, dict) or "source_type" not in data:
            raise invalid(
                f"Invalid record source {data!r}: expected {{'source_type': ..., 'source_data': {{...}}}}"
            )
        extra = set(data) - {"source_type", "source_data"}
        if extra:
            raise invalid(f"Invalid record source: unknown field(s) {sorted(extra)}")
        return cls(data["source_type"], data.get("source_data"))


@dataclass
class DatasetRecord:
    """One evaluation example of a dataset (MLflow's ``DatasetRecord``)."""

    dataset_id: str
    inputs: dict[str, Any]
    dataset_record_id: str
    created_time: int
    last_update_time: int
    outputs: Any = None
    expectations: dict[str, Any] | None = None
    tags: dict[str, str] | None = None
    source: DatasetRecordSource | None = None
    source_id: str | None = None
    source_type: str | None = None
    created_by: str | None = None
    last_updated_by: str | None = None

    def __post_init__(self) -> None:
        if self.tags is None:
            self.tags = {}
        if isinstance(self.source, dict):
            self.source = DatasetRecordSource.from_dict(self.source)
        if self.source is not None:
            if not self.source_id:
                self.source_id = self.source.source_id
            if not self.source_type:
                self.source_type = str(self.source.source_type)
        if self.source_type is not None:
            self.source_type = str(DatasetRecordSourceType.parse(self.source_type))

    def to_dict(self) -> dict[str, Any]:
        """MLflow's record JSON: unset optional fields are left out."""
        out: dict[str, Any] = {
            "dataset_record_id": self.dataset_record_id,
            "dataset_id": self.dataset_id,
            "inputs": self.inputs,
        }
        optional = {
            "expectations": self.expectations,
            "tags": self.tags,
            "source": self.source.to_dict() if self.source is not None else None,
            "source_id": self.source_id,
            "source_type": self.source_type,
            "created_by": self.created_by,
            "last_updated_by": self.last_updated_by,
            "outputs": self.outputs,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out["created_time"] = self.created_time
        out["last_update_time"] = self.last_update_time
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetRecord:
        """A record from MLflow's record JSON."""
        for required in ("dataset_id", "dataset_record_id", "inputs", "created_time", "last_update_time"):
            if required not in data:
                raise invalid(f"Invalid dataset record: '{required}' is required")
        source_type = data.get("source_type")
        return cls(
            dataset_id=data["dataset_id"],
            inputs=data["inputs"],
            dataset_record_id=data["dataset_record_id"],
            created_time=int(data["created_time"]),
            last_update_time=int(data["last_update_time"]),
            outputs=data.get("outputs"),
            expectations=data.get("expectations"),
            tags=data.get("tags"),
            source=DatasetRecordSource.from_dict(data["source"]) if data.get("source") else None,
            source_id=data.get("source_id"),
            source_type=source_type,
            created_by=data.get("created_by"),
            last_updated_by=data.get("last_updated_by"),
        )
