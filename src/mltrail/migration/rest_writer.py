"""Write into an MLflow tracking server over its REST API: the destination of ``mltrail export``.

The same writer as for a database (:class:`.writer.SqlDestination`), with what
REST changes: the server picks experiment and run ids (the import state maps
them), metric counts come from the histories, log calls wait for the server, and
artifacts go through the server's artifact proxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import sqlalchemy as sa

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.assessment import Assessment
from mltrail.entities.logged_model import LoggedModelStatus
from mltrail.entities.model_registry import ModelVersion
from mltrail.entities.trace import Trace
from mltrail.entities.tracking import ExperimentTag, Metric
from mltrail.exceptions import MltrailException
from mltrail.migration.source import ExperimentRecord, LoggedModelRecord, RunRecord
from mltrail.migration.writer import _METRICS_PER_BATCH, SqlDestination, _chunks
from mltrail.store.rest import RestTrackingStore
from mltrail.store.rest_logged_models import RestLoggedModelStore
from mltrail.store.rest_registry import RestRegistryStore
from mltrail.store.rest_traces import RestTraceStore


class RestDestination(SqlDestination):
    """An MLflow (or mltrail) tracking server; the import state lives in a local SQLite file."""

    def __init__(self, url: str, state_engine: sa.Engine) -> None:
        self.url = url.rstrip("/")
        tracking = RestTrackingStore(self.url)
        tracking.offline = None  # an unreachable server is an error here, never a journal
        self.tracking = tracking  # type: ignore[assignment]
        self.registry = RestRegistryStore(self.url)  # type: ignore[assignment]
        self.traces = RestTraceStore(self.url)
        self.logged_models = RestLoggedModelStore(self.url)
        self.engine = state_engine

    def _create_experiment(self, rec: ExperimentRecord) -> str:
        return self.tracking.create_experiment(
            rec.name, tags=[ExperimentTag(k, v) for k, v in rec.tags.items()]
        )

    def run_exists(self, run_id: str) -> str | None:
        """The experiment id of a run on the server, or ``None``."""
        try:
            return str(self.tracking.get_run(run_id).info.experiment_id)
        except MltrailException:
            return None

    def create_run(self, rec: RunRecord, dest_exp: str, run_id: str | None) -> str:
        """Create the run; the server chooses its id."""
        run = self.tracking.create_run(dest_exp, rec.user_id, rec.start_time, [], rec.name or None)
        return run.info.run_id

    def _is_deleted(self, run_id: str) -> bool:
        try:
            return self.tracking.get_run(run_id).info.lifecycle_stage == "deleted"
        except MltrailException:
            return False

    def _version_extras(self, mv: ModelVersion) -> dict[str, str | None]:
        return {}  # MLflow's REST API sets the version's user itself

    def key_counts(self, run_id: str) -> dict[str, int]:
        """Per metric key, the length of the run's history on the server."""
        run = self.tracking.get_run(run_id)
        return {m.key: len(self.tracking.get_metric_history(run_id, m.key)) for m in run.data.metric_list}

    def model_metrics(self, model_id: str, run_id: str, metrics: Sequence[Metric]) -> int:
        """A logged model's values as MLflow's REST API takes them: metrics of the run that logged
        them, each carrying the model's id (and dataset). The server keeps one copy of a value sent
        twice, in the run's history (where the run's import already put it) and the model's."""
        items = [replace(m, model_id=model_id, run_id=run_id) for m in metrics]
        before = self.model_metric_count(model_id)
        for chunk in _chunks(items, _METRICS_PER_BATCH):
            self.tracking.log_batch(run_id, metrics=chunk)
        return self.model_metric_count(model_id) - before

    def model_metric_count(self, model_id: str) -> int:
        """How many metric values the server shows for a logged model."""
        return len(self.logged_models.get_logged_model(model_id).metrics or [])

    def run_artifacts(self, run_id: str) -> ArtifactRepository:
        """The run's artifacts, through the server's proxy when its URI is ``mlflow-artifacts:``."""
        return get_artifact_repository(self.tracking.get_run(run_id).info.artifact_uri, tracking_uri=self.url)

    # ---------------------------------------------------------- logged models
    def create_logged_model(
        self, rec: LoggedModelRecord, dest_exp: str, run_id: str | None, keep_id: bool
    ) -> str:
        """Create the model (the server picks its id) and finalize it to the source's status."""
        m = rec.model
        created = self.logged_models.create_logged_model(
            dest_exp, m.name, run_id, m.tags, m.params, m.model_type
        )
        if m.status != LoggedModelStatus.PENDING:
            self.logged_models.finalize_logged_model(created.model_id, m.status)
        return created.model_id

    def model_artifacts(self, model_id: str) -> ArtifactRepository:
        """A logged model's files on the server, through its proxy when the location is ``mlflow-artifacts:``."""
        return get_artifact_repository(self.logged_model(model_id).artifact_location, tracking_uri=self.url)

    # ----------------------------------------------------------------- traces
    def write_trace(self, trace: Trace, exists: bool = True) -> int:
        """Spans (OTLP), the trace's info (``StartTraceV3``), then each assessment the server lacks
        (its answer lists the ones it has, so ``exists`` is not needed).

        The server gives assessments new ids: one is taken as there when it has the same name and
        creation time; an ``overrides`` link follows the new ids."""
        info = trace.info
        self.traces.log_spans(info.experiment_id, trace.data.spans)
        stored = self.traces.start_trace(replace(info, assessments=[]))
        have = {(a.name, a.create_time_ms): a.assessment_id for a in stored.assessments}
        new_ids: dict[str | None, str | None] = {}
        added = 0
        for item in info.assessments:
            a = Assessment.from_proto_json(item.to_proto_json() if isinstance(item, Assessment) else item)
            key = (a.name, a.create_time_ms)
            if key in have:
                new_ids[a.assessment_id] = have[key]
                continue
            old_id = a.assessment_id
            body = {k: v for k, v in a.items() if k not in ("assessment_id", "overrides")}
            if a.overrides and new_ids.get(a.overrides):
                body["overrides"] = new_ids[a.overrides]
            body["trace_id"] = info.trace_id
            created = self.traces.create_assessment(Assessment.from_proto_json(body))
            new_ids[old_id] = created.assessment_id
            have[key] = created.assessment_id
            added += 1
        return added

    def close(self) -> None:
        """Send what is buffered and close the HTTP sessions."""
        self.tracking.flush()
        for store in (self.tracking, self.registry):
            http = getattr(store, "http", None)
            if http is not None:
                http.close()
