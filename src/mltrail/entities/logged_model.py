"""Logged models (MLflow 3): a model stored on its own, linked to the run that produced it.

``to_dict`` is MLflow's REST JSON: ``{"info": {...}, "data": {"params": [...]}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mltrail.exceptions import invalid


class LoggedModelStatus:
    """MLflow's status names (the REST API spells them with the ``LOGGED_MODEL_`` prefix)."""

    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    FAILED = "LOGGED_MODEL_UPLOAD_FAILED"
    UNSPECIFIED = "LOGGED_MODEL_STATUS_UNSPECIFIED"
    ALL = (PENDING, READY, FAILED, UNSPECIFIED)
    # protobuf enum numbers, accepted on input
    _BY_NUMBER = {0: UNSPECIFIED, 1: PENDING, 2: READY, 3: FAILED}

    @classmethod
    def normalize(cls, status: Any) -> str:
        if isinstance(status, int) and status in cls._BY_NUMBER:
            return cls._BY_NUMBER[status]
        text = str(status).upper()
        if not text.startswith("LOGGED_MODEL_"):
            text = "LOGGED_MODEL_" + ("UPLOAD_FAILED" if text == "FAILED" else text)
        if text not in cls.ALL:
            raise invalid(f"Invalid logged model status {status!r}: use PENDING, READY or FAILED")
        return text


@dataclass
class LoggedModel:
    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = LoggedModelStatus.PENDING
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "model_id": self.model_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_uri": self.artifact_location,
            "creation_timestamp_ms": self.creation_timestamp,
            "last_updated_timestamp_ms": self.last_updated_timestamp,
            "status": self.status,
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }
        for key, value in (
            ("model_type", self.model_type),
            ("source_run_id", self.source_run_id),
            ("status_message", self.status_message),
        ):
            if value:
                info[key] = value
        return {"info": info, "data": {"params": [{"key": k, "value": v} for k, v in self.params.items()]}}

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
        )
