"""Tracking records: experiments, runs, metrics, params, tags and dataset inputs.

Plain typed records with no I/O. ``to_dict`` gives MLflow's REST JSON shape and
``from_dict`` reads it back, so the server and the REST client share one mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.run_io import LoggedModelInput, RunOutputs


def _json_float(value: float) -> float | str:
    """MLflow's JSON spells non-finite floats as strings ("NaN", "Infinity")."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


_isfinite = math.isfinite


def _parse_float(value: Any) -> float:
    if isinstance(value, str):
        return float(value.replace("Infinity", "inf"))
    return float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@dataclass(slots=True)
class Metric:
    """One metric value at a step and timestamp (milliseconds since the epoch)."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        value = self.value  # one C check on the hot path of long histories
        return {
            "key": self.key,
            "value": value if _isfinite(value) else _json_float(value),
            "timestamp": self.timestamp,
            "step": self.step,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        # Exact-type checks skip the conversions on what JSON answers hold (a run's metrics, histories).
        value, ts, step = d["value"], d.get("timestamp"), d.get("step")
        return cls(
            d["key"],
            value if type(value) is float else _parse_float(value),
            ts if type(ts) is int else int(ts or 0),
            step if type(step) is int else int(step or 0),
        )


@dataclass(slots=True)
class Param:
    """One hyperparameter: logged once, immutable afterwards."""

    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Param:
        value = d.get("value", "")
        return cls(d["key"], value if type(value) is str else str(value))


@dataclass(slots=True)
class RunTag:
    """A run tag: a mutable key/value label."""

    key: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunTag:
        value = d.get("value", "")
        return cls(d["key"], value if type(value) is str else str(value))


@dataclass(slots=True)
class ExperimentTag(RunTag):
    """An experiment tag."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentTag:
        value = d.get("value", "")
        return cls(d["key"], value if type(value) is str else str(value))


@dataclass(slots=True)
class InputTag(RunTag):
    """A tag on a dataset input, e.g. ``mlflow.data.context=training``."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputTag:
        value = d.get("value", "")
        return cls(d["key"], value if type(value) is str else str(value))


@dataclass(slots=True)
class Experiment:
    """A named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "last_update_time": self.last_update_time,
            "creation_time": self.creation_time,
        }
        if self.tags:
            d["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Experiment:
        return cls(
            experiment_id=str(d["experiment_id"]),
            name=d.get("name", ""),
            artifact_location=d.get("artifact_location", ""),
            lifecycle_stage=d.get("lifecycle_stage", "active"),
            tags={t["key"]: t.get("value", "") for t in d.get("tags", [])},
            creation_time=_opt_int(d.get("creation_time")),
            last_update_time=_opt_int(d.get("last_update_time")),
        )


@dataclass(slots=True)
class RunInfo:
    """A run's attributes."""

    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for ``run_id``."""
        return self.run_id

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "run_uuid": self.run_id,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.end_time is not None:
            d["end_time"] = self.end_time
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunInfo:
        get = d.get
        exp, start, end = d["experiment_id"], get("start_time"), get("end_time")
        return cls(
            get("run_id") or d["run_uuid"],
            exp if type(exp) is str else str(exp),
            get("run_name", ""),
            get("user_id", ""),
            get("status", "RUNNING"),
            start if type(start) is int else _opt_int(start),
            end if type(end) is int else _opt_int(end),
            get("artifact_uri", ""),
            get("lifecycle_stage", "active"),
        )


@dataclass(slots=True)
class RunData:
    """A run's latest metrics, params and tags."""

    metric_list: list[Metric] = field(default_factory=list)
    param_list: list[Param] = field(default_factory=list)
    tag_list: list[RunTag] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        return {m.key: m.value for m in self.metric_list}

    @property
    def params(self) -> dict[str, str]:
        return {p.key: p.value for p in self.param_list}

    @property
    def tags(self) -> dict[str, str]:
        return {t.key: t.value for t in self.tag_list}

    @property
    def _metric_objs(self) -> list[Metric]:
        return self.metric_list

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": [m.to_dict() for m in self.metric_list],
            "params": [p.to_dict() for p in self.param_list],
            "tags": [t.to_dict() for t in self.tag_list],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunData:
        metric, param, tag = Metric.from_dict, Param.from_dict, RunTag.from_dict
        return cls(
            [metric(m) for m in d.get("metrics", ())],
            [param(p) for p in d.get("params", ())],
            [tag(t) for t in d.get("tags", ())],
        )


@dataclass(slots=True)
class Dataset:
    """A dataset's identity: name, content digest, where it came from and its schema."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "digest": self.digest, "source_type": self.source_type, "source": self.source}
        if self.schema is not None:
            d["schema"] = self.schema
        if self.profile is not None:
            d["profile"] = self.profile
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dataset:
        return cls(
            name=d["name"],
            digest=d["digest"],
            source_type=d.get("source_type", ""),
            source=d.get("source", ""),
            schema=d.get("schema"),
            profile=d.get("profile"),
        )


@dataclass(slots=True)
class DatasetInput:
    """A dataset used by a run, with tags such as its context (training, eval)."""

    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tags": [t.to_dict() for t in self.tags], "dataset": self.dataset.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInput:
        return cls(
            dataset=Dataset.from_dict(d["dataset"]),
            tags=[InputTag.from_dict(t) for t in d.get("tags", [])],
        )


@dataclass(slots=True)
class RunInputs:
    """What a run consumed: dataset inputs and logged models (``model_inputs``)."""

    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset_inputs": [i.to_dict() for i in self.dataset_inputs]}
        if self.model_inputs:  # left out when empty, as protobuf JSON leaves out an empty list
            out["model_inputs"] = [m.to_dictionary() for m in self.model_inputs]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RunInputs:
        if not d:  # no inputs: the usual answer
            return cls([], [])
        return cls(
            [DatasetInput.from_dict(i) for i in d.get("dataset_inputs", ())],
            [LoggedModelInput.from_dict(m) for m in d.get("model_inputs", ())],
        )


@dataclass(slots=True)
class Run:
    """A run: its info, its data, its inputs and its outputs (logged models it produced)."""

    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dict(self) -> dict[str, Any]:
        out = {"info": self.info.to_dict(), "data": self.data.to_dict(), "inputs": self.inputs.to_dict()}
        if self.outputs.model_outputs:
            out["outputs"] = self.outputs.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        outputs = d.get("outputs")
        return cls(
            RunInfo.from_dict(d["info"]),
            RunData.from_dict(d.get("data") or {}),
            RunInputs.from_dict(d.get("inputs")),
            RunOutputs.from_dict(outputs) if outputs else RunOutputs([]),
        )


class PagedList(list):
    """A page of results with the token for the next page (``None`` at the end)."""

    def __init__(self, items: list[Any] | None = None, token: str | None = None) -> None:
        super().__init__(items or [])
        self.token = token
