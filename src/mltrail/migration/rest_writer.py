"""Write into an MLflow tracking server over its REST API: the destination of ``mltrail export``.

The same writer as for a database (:class:`.writer.SqlDestination`), with what
REST changes: the server picks experiment and run ids (the import state maps
them), metric counts come from the histories, log calls wait for the server, and
artifacts go through the server's artifact proxy.
"""

from __future__ import annotations

import sqlalchemy as sa

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.model_registry import ModelVersion
from mltrail.entities.tracking import ExperimentTag
from mltrail.exceptions import MltrailException
from mltrail.migration.source import ExperimentRecord, RunRecord
from mltrail.migration.writer import SqlDestination
from mltrail.store.rest import RestTrackingStore
from mltrail.store.rest_registry import RestRegistryStore


class RestDestination(SqlDestination):
    """An MLflow (or mltrail) tracking server; the import state lives in a local SQLite file."""

    def __init__(self, url: str, state_engine: sa.Engine) -> None:
        self.url = url.rstrip("/")
        tracking = RestTrackingStore(self.url)
        tracking.offline = None  # an unreachable server is an error here, never a journal
        self.tracking = tracking  # type: ignore[assignment]
        self.registry = RestRegistryStore(self.url)  # type: ignore[assignment]
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

    def run_artifacts(self, run_id: str) -> ArtifactRepository:
        """The run's artifacts, through the server's proxy when its URI is ``mlflow-artifacts:``."""
        return get_artifact_repository(self.tracking.get_run(run_id).info.artifact_uri, tracking_uri=self.url)

    def close(self) -> None:
        """Send what is buffered and close the HTTP sessions."""
        self.tracking.flush()
        for store in (self.tracking, self.registry):
            http = getattr(store, "http", None)
            if http is not None:
                http.close()
