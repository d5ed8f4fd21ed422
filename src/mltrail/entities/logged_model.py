"""Logged models (MLflow 3): a model stored on its own, linked to the run that produced it.

``to_dict`` is MLflow's REST JSON: ``{"info": {...}, "data": {"params": [...], "metrics": [...]}}``.
The status is MLflow's ``LoggedModelStatus`` (``READY``, ``PENDING``, …); the wire
and the database spell it with the protobuf names (``LOGGED_MODEL_READY``).

Example::

    model = LoggedModel.from_dict(response["model"])
    model.status == LoggedModelStatus.READY  # also == "READY", as in MLflow
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from mltrail.entities.run_io import LoggedModelOutput  # noqa: F401  (its import path before run_io)
from mltrail.entities.tracking import Metric, _json_float, _parse_float
from mltrail.exceptions import invalid


class LoggedModelStatus(StrEnum):
    """MLflow's status of a logged model; a ``str`` enum, so ``status == "READY"`` holds."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    @classmethod
    def normalize(cls, status: Any) -> LoggedModelStatus:
        """The status named by ``status``: the enum, ``"READY"``, ``"LOGGED_MODEL_READY"`` or 0-3.

        Raises ``INVALID_PARAMETER_VALUE`` for anything else.
        """
        if isinstance(status, cls):
            return status
        if isinstance(status, int) and not isinstance(status, bool):
            return cls.from_int(status)
        text = str(status).strip().upper()
        found = _BY_NAME.get(text)
        if found is None:
            raise invalid(
                f"Invalid logged model status {status!r}: use PENDING, READY or FAILED "
                "(or the LOGGED_MODEL_* names of MLflow's REST API)"
            )
        return found

    @staticmethod
    def is_finalized(status: Any) -> bool:
        """READY and FAILED are final: no further status change is expected."""
        return LoggedModelStatus.normalize(status) in (LoggedModelStatus.READY, LoggedModelStatus.FAILED)

    def to_proto(self) -> str:
        """The REST/protobuf name (``LOGGED_MODEL_READY``), which is also what the database stores."""
        return _PROTO_NAMES[self]

    @classmethod
    def from_proto(cls, value: Any) -> LoggedModelStatus:
        return cls.normalize(value)

    def to_int(self) -> int:
        return _NUMBERS[self]

    @classmethod
    def from_int(cls, number: int) -> LoggedModelStatus:
        for status, n in _NUMBERS.items():
            if n == number:
                return status
        raise invalid(f"Invalid logged model status {number!r}: use 0 to 3")


_PROTO_NAMES = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_NUMBERS = {
    LoggedModelStatus.UNSPECIFIED: 0,
    LoggedModelStatus.PENDING: 1,
    LoggedModelStatus.READY: 2,
    LoggedModelStatus.FAILED: 3,
}
_BY_NAME = {
    **{s.value: s for s in LoggedModelStatus},
    **{name: s for s, name in _PROTO_NAMES.items()},
    "UPLOAD_FAILED": LoggedModelStatus.FAILED,
}


def _metric_json(m: Metric) -> dict[str, Any]:
    """A model metric as MLflow's ``Metric`` JSON, with its run, model and dataset."""
    d: dict[str, Any] = {
        "key": m.key,
        "value": _json_float(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    for key in ("dataset_name", "dataset_digest", "model_id", "run_id"):
        value = getattr(m, key)
        if value:
            d[key] = value
    return d


def _metric_from_json(d: dict[str, Any]) -> Metric:
    return Metric(
        key=d["key"],
        value=_parse_float(d.get("value", 0.0)),
        timestamp=int(d.get("timestamp") or 0),
        step=int(d.get("step") or 0),
        dataset_name=d.get("dataset_name") or None,
        dataset_digest=d.get("dataset_digest") or None,
        run_id=d.get("run_id") or None,
        model_id=d.get("model_id") or None,
    )


@dataclass
class LoggedModel:
    """A logged model: MLflow's ``mlflow.entities.LoggedModel`` fields (``model_uri`` is ``models:/<id>``)."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] | None = None

    def __post_init__(self) -> None:
        self.status = LoggedModelStatus.normalize(self.status)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's ``LoggedModel.to_dictionary()``: every field, the status as its number."""
        d = {f.name: getattr(self, f.name) for f in fields(LoggedModel)}
        d["status"] = self.status.to_int()
        return d

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_uri": self.artifact_location,
            "creation_timestamp_ms": self.creation_timestamp,
            "last_updated_timestamp_ms": self.last_updated_timestamp,
            "status": self.status.to_proto(),
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }
        for key, value in (
            ("model_type", self.model_type),
            ("source_run_id", self.source_run_id),
            ("status_message", self.status_message),
        ):
            if value:
                info[key] = value
        data: dict[str, Any] = {"params": [{"key": k, "value": v} for k, v in self.params.items()]}
        if self.metrics:
            data["metrics"] = [_metric_json(m) for m in self.metrics]
        return {"info": info, "data": data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoggedModel:
        info, data = d.get("info", {}), d.get("data", {})
        return cls(
            model_id=info["model_id"],
            experiment_id=str(info.get("experiment_id", "")),
            name=info.get("name", ""),
            artifact_location=info.get("artifact_uri", ""),
            creation_timestamp=int(info.get("creation_timestamp_ms") or 0),
            last_updated_timestamp=int(info.get("last_updated_timestamp_ms") or 0),
            status=LoggedModelStatus.normalize(info.get("status", LoggedModelStatus.PENDING)),
            model_type=info.get("model_type") or None,
            source_run_id=info.get("source_run_id") or None,
            status_message=info.get("status_message") or None,
            tags={t["key"]: t.get("value", "") for t in info.get("tags") or []},
            params={p["key"]: p.get("value", "") for p in data.get("params") or []},
            metrics=[_metric_from_json(m) for m in data.get("metrics") or []],
        )
