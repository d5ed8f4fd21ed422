"""What an import reads from an MLflow store: plain records and the :class:`Source` interface.

Every reader (an MLflow database, an ``mlruns`` folder) yields the same records,
so the writer and the verification do not care where the data came from.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.logged_model import LoggedModel
from mltrail.entities.model_registry import ModelVersion, RegisteredModel
from mltrail.entities.trace import Span, Trace, TraceData
from mltrail.entities.tracking import DatasetInput, Metric
from mltrail.exceptions import MltrailException

#: What reading a trace's ``traces.json`` may raise: a missing or unreadable file, bad JSON.
SPAN_READ_ERRORS = (MltrailException, OSError, ValueError, KeyError, TypeError)


@dataclass
class ExperimentRecord:
    """An experiment as the source stores it (``experiment_id`` is the source's id)."""

    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunRecord:
    """A run with everything but its metric history (read separately, it can be large)."""

    run_id: str
    experiment_id: str
    name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[DatasetInput] = field(default_factory=list)
    #: How many metric points the run has; -1 when the source only knows after reading them.
    metric_points: int = 0
    #: What stands for the metric history in the marker when the count is unknown (a REST source).
    metric_signature: str | None = None
    #: The run's metric keys, for sources that read histories key by key.
    metric_keys: list[str] = field(default_factory=list)

    def marker(self) -> str:
        """What changes when the run does: compared with the marker of the last import."""
        points = self.metric_signature or self.metric_points
        return (
            f"{self.status}|{self.end_time}|{self.lifecycle_stage}|{points}|"
            f"{len(self.params)}|{len(self.tags)}|{len(self.inputs)}"
        )


@dataclass
class LoggedModelRecord:
    """A logged model (MLflow 3) with whether the source keeps it only in the trash."""

    model: LoggedModel
    deleted: bool = False

    def marker(self) -> str:
        """What changes when the model does (status, tags, params, metric values)."""
        m = self.model
        values = f"|{len(m.metrics)}" if m.metrics else ""  # as before for a model without any
        return f"{m.status}|{self.deleted}|{len(m.tags)}|{len(m.params)}{values}"


def trace_marker(trace: Trace) -> str:
    """What changes when a trace does: state, spans, tags, metadata and assessments."""
    info = trace.info
    return (
        f"{info.state}|{len(trace.data.spans)}|{len(info.tags)}|{len(info.trace_metadata)}|"
        f"{len(info.assessments)}"
    )


def artifact_spans(repo: ArtifactRepository) -> list[Span]:
    """The spans a trace keeps in its artifact folder (``traces.json``; MLflow 2's span JSON too).

    Raises one of :data:`SPAN_READ_ERRORS` when the file is missing or unreadable.
    """
    return TraceData.from_dict(json.loads(repo.read_bytes("traces.json"))).spans


@dataclass
class Skipped:
    """Something the import did not bring, with why: listed at the end, never dropped silently."""

    kind: str
    ident: str
    reason: str


class Source(ABC):
    """An MLflow store to import from."""

    #: A stable identity of the source (its URI), recorded in the destination's import state.
    identity: str

    @abstractmethod
    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment, active and deleted."""

    @abstractmethod
    def runs(self, experiment_id: str) -> Iterator[RunRecord]:
        """The runs of one experiment, active and deleted, oldest first."""

    @abstractmethod
    def metrics(self, run: RunRecord) -> list[Metric]:
        """The run's full metric history, in logging order."""

    @abstractmethod
    def registered_models(self) -> list[RegisteredModel]:
        """Registered models (prompts included) with their tags and aliases."""

    @abstractmethod
    def model_versions(self, name: str) -> list[ModelVersion]:
        """A registered model's versions, by version number, with stage, tags and run id."""

    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's logged models (MLflow 3), oldest first; none for a source without them."""
        return []

    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces with spans and assessments, oldest first; none by default."""
        return iter(())

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces :meth:`traces` yields (requested since ``since_ms``), for the progress total."""
        return 0

    def model_artifact_repository(self, model: LoggedModel) -> ArtifactRepository | None:
        """The repository holding a logged model's files, if any."""
        return get_artifact_repository(model.artifact_location) if model.artifact_location else None

    def artifact_uri(self, run: RunRecord) -> str | None:
        """Where the run's artifacts can be read (a local path or a repository URI), if anywhere."""
        return run.artifact_uri

    def artifact_repository(self, run: RunRecord) -> ArtifactRepository | None:
        """The repository holding the run's artifacts, if any."""
        uri = self.artifact_uri(run)
        return get_artifact_repository(uri) if uri else None

    def unsupported(self) -> list[Skipped]:
        """Entities in the source that this import does not bring (counted, with the reason)."""
        return []

    def close(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Release connections."""


def is_deleted_version(version: ModelVersion) -> bool:
    """Whether MLflow keeps this version only as a deleted placeholder (stage ``Deleted_Internal``)."""
    return version.current_stage == "Deleted_Internal"
