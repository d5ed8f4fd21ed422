"""Write imported records into a mltrail database through its SQL stores, keeping ids where free.

Experiments keep their id when no experiment holds it (an experiment of the
same name is reused), runs keep their 32-hex id, model versions keep their
number when the versions before it came along. Everything else goes through the
stores' public methods, so the destination's validation and indexes apply.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

import sqlalchemy as sa

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.logged_model import LoggedModel, LoggedModelStatus
from mltrail.entities.model_registry import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag
from mltrail.entities.trace import Trace
from mltrail.entities.tracking import ExperimentTag, Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.migration.source import ExperimentRecord, LoggedModelRecord, RunRecord
from mltrail.store.logged_models import LoggedModelStore
from mltrail.store.sql import schema
from mltrail.store.sql._metrics import write_model_metrics
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from mltrail.store.traces import TraceStore
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

_METRICS_PER_BATCH = 1000
_PARAMS_TAGS_PER_BATCH = 100
_MAX_INT32 = 2**31 - 1


def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqlDestination:
    """A mltrail database (SQLite, PostgreSQL, MySQL) receiving an import."""

    def __init__(self, tracking: SqlTrackingStore, registry: SqlRegistryStore) -> None:
        self.tracking = tracking
        self.registry = registry
        self.engine: sa.Engine = tracking.engine
        uri = tracking.engine.url.render_as_string(hide_password=False)
        self.traces: TraceStore = SqlTraceStore(uri)
        self.logged_models: LoggedModelStore = SqlLoggedModelStore(uri)

    # ------------------------------------------------------------ experiments
    def experiment(self, rec: ExperimentRecord) -> str:
        """The destination id for a source experiment: same name reused, else its id if free."""
        found = self.tracking.get_experiment_by_name(rec.name)
        if found is not None:
            dest_id = found.experiment_id
            if found.lifecycle_stage != "active":
                self.tracking.restore_experiment(dest_id)
        else:
            dest_id = self._create_experiment(rec)
        for key, value in rec.tags.items():
            self.tracking.set_experiment_tag(dest_id, ExperimentTag(key, value))
        return dest_id

    def _create_experiment(self, rec: ExperimentRecord) -> str:
        tags = [ExperimentTag(k, v) for k, v in rec.tags.items()]
        exp_id = int(rec.experiment_id) if rec.experiment_id.isdigit() else -1
        # MLflow's FileStore ids are 64-bit random numbers: kept on SQLite, too wide elsewhere.
        if exp_id < 0 or (exp_id > _MAX_INT32 and self.tracking.dialect != "sqlite"):
            return self.tracking.create_experiment(rec.name, tags=tags)
        e = schema.experiments

        def create(conn: sa.Connection) -> bool:
            if conn.execute(sa.select(e.c.experiment_id).where(e.c.experiment_id == exp_id)).first():
                return False
            conn.execute(
                sa.insert(e).values(
                    experiment_id=exp_id,
                    name=rec.name,
                    artifact_location=f"{self.tracking.artifact_root_uri}/{exp_id}",
                    lifecycle_stage="active",
                    creation_time=rec.creation_time,
                    last_update_time=rec.last_update_time,
                )
            )
            if conn.dialect.name == "postgresql":  # an explicit id does not move the sequence on
                conn.execute(
                    sa.text(
                        "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                        "(SELECT MAX(experiment_id) FROM experiments))"
                    )
                )
            return True

        if self.tracking.db.write(create):
            return str(exp_id)
        return self.tracking.create_experiment(rec.name, tags=tags)

    def finish_experiment(self, dest_id: str, rec: ExperimentRecord) -> None:
        """Delete the experiment again when it is deleted in the source (after its runs came)."""
        if rec.lifecycle_stage == "deleted":
            self.tracking.delete_experiment(dest_id)

    # ------------------------------------------------------------------- runs
    def run_exists(self, run_id: str) -> str | None:
        """The experiment id of a destination run, or ``None``."""
        r = schema.runs.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r.experiment_id).where(r.run_uuid == run_id)).first()
        return None if row is None else str(row[0])

    def create_run(self, rec: RunRecord, dest_exp: str, run_id: str | None) -> str:
        """Create the run (RUNNING) with the source's name, user and start time."""
        run = self.tracking.create_run(
            dest_exp, rec.user_id, rec.start_time, [], rec.name or None, run_id=run_id
        )
        return run.info.run_id

    def write_run(self, rec: RunRecord, run_id: str, metrics: list[Metric]) -> int:
        """Params, tags, inputs, the metric points not there yet, then status/end time. Points written."""
        restore = self._is_deleted(run_id)
        if restore:
            self.tracking.restore_run(run_id)
        params = [Param(k, v) for k, v in rec.params.items()]
        tags = [RunTag(k, v) for k, v in rec.tags.items()]
        for chunk in _chunks(params, _PARAMS_TAGS_PER_BATCH):
            self.tracking.log_batch(run_id, params=chunk, synchronous=True)
        for chunk in _chunks(tags, _PARAMS_TAGS_PER_BATCH):
            self.tracking.log_batch(run_id, tags=chunk, synchronous=True)
        if rec.inputs:
            self.tracking.log_inputs(run_id, rec.inputs)
        new = self._new_points(run_id, metrics)
        for chunk in _chunks(new, _METRICS_PER_BATCH):
            self.tracking.log_batch(run_id, metrics=chunk, synchronous=True)
        if rec.status != "RUNNING" or rec.end_time is not None:
            self.tracking.update_run_info(run_id, rec.status, rec.end_time, None)
        if rec.lifecycle_stage == "deleted" or restore:
            self.tracking.delete_run(run_id)
        return len(new)

    def _is_deleted(self, run_id: str) -> bool:
        r = schema.runs.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r.lifecycle_stage).where(r.run_uuid == run_id)).first()
        return row is not None and row[0] == "deleted"

    def _new_points(self, run_id: str, metrics: list[Metric]) -> list[Metric]:
        """The source points beyond what the destination holds per key (append-only histories)."""
        counts = self.key_counts(run_id)
        if not counts:
            return metrics
        by_key: dict[str, list[Metric]] = defaultdict(list)
        for m in metrics:
            by_key[m.key].append(m)
        out: list[Metric] = []
        for key, points in by_key.items():
            out.extend(points[counts.get(key, 0) :])
        return out

    def metric_count(self, run_id: str) -> int:
        """How many metric points the destination run holds."""
        return sum(self.key_counts(run_id).values())

    def key_counts(self, run_id: str) -> dict[str, int]:
        """Per metric key, how many points the destination run holds."""
        return self.tracking.metric_point_counts([run_id]).get(run_id, {})

    def run_artifacts(self, run_id: str) -> ArtifactRepository:
        """The artifact repository of a destination run."""
        return get_artifact_repository(self.tracking.get_run(run_id).info.artifact_uri)

    # --------------------------------------------------------------- registry
    def registered_model(self, model: RegisteredModel) -> None:
        """Create the model (or reuse one of that name) and set its description and tags."""
        try:
            self.registry.get_registered_model(model.name)
        except MltrailException:
            self.registry.create_registered_model(model.name, description=model.description)
        else:
            if model.description:
                self.registry.update_registered_model(model.name, model.description)
        for key, value in model.tags.items():
            self.registry.set_registered_model_tag(model.name, RegisteredModelTag(key, value))

    def existing_versions(self, name: str) -> dict[str, ModelVersion]:
        """The versions the destination model already has, by number."""
        mv = schema.model_versions.c
        with self.engine.connect() as conn:
            numbers = [str(r[0]) for r in conn.execute(
                sa.select(mv.version).where(mv.workspace == (active_workspace() or DEFAULT_WORKSPACE), mv.name == name)
            )]
        return {n: self.registry.get_model_version(name, n) for n in numbers}

    def model_version(
        self, mv: ModelVersion, run_id: str | None, source: str, model_id: str | None = None
    ) -> str:
        """Create a version (stage, tags, description, logged model) and return the number it was given."""
        created = self.registry.create_model_version(
            mv.name,
            source,
            run_id=run_id,
            tags=[ModelVersionTag(k, v) for k, v in mv.tags.items()],
            run_link=mv.run_link or None,
            description=mv.description or None,
            model_id=model_id,
            **self._version_extras(mv),
        )
        if mv.current_stage and mv.current_stage not in ("None", "Deleted_Internal"):
            self.registry.transition_model_version_stage(mv.name, created.version, mv.current_stage, False)
        return str(created.version)

    def _version_extras(self, mv: ModelVersion) -> dict[str, str | None]:
        """Fields only the SQL registry takes (who created the version)."""
        return {"user_id": mv.user_id}

    def delete_model_version(self, name: str, version: str) -> None:
        """Drop a placeholder version (kept only so that later numbers line up)."""
        self.registry.delete_model_version(name, version)

    def alias(self, name: str, alias: str, version: str) -> bool:
        """Point an alias at a version; whether it changed."""
        if self.registry.get_registered_model(name).aliases.get(alias) == version:
            return False
        self.registry.set_registered_model_alias(name, alias, version)
        return True

    # ------------------------------------------------------------ logged models
    def logged_model_holder(self, model_id: str) -> str | None:
        """The experiment id of a destination logged model (deleted ones too), or ``None``."""
        try:
            return str(self.logged_models.get_logged_model(model_id, allow_deleted=True).experiment_id)
        except MltrailException:
            return None

    def create_logged_model(
        self, rec: LoggedModelRecord, dest_exp: str, run_id: str | None, keep_id: bool
    ) -> str:
        """Create the model (its id kept when ``keep_id``) with name, type, tags, params and status."""
        m = rec.model
        assert isinstance(self.logged_models, SqlLoggedModelStore)
        created = self.logged_models.create_logged_model(
            dest_exp, m.name, run_id, m.tags, m.params, m.model_type,
            model_id=m.model_id if keep_id else None, status=m.status,
        )  # fmt: skip
        return created.model_id

    def update_logged_model(self, rec: LoggedModelRecord, model_id: str) -> None:
        """Bring tags, params and status up to date (a rerun after the source changed)."""
        m = rec.model
        store = self.logged_models
        if m.tags:
            store.set_logged_model_tags(model_id, m.tags)
        if m.params:
            store.log_logged_model_params(model_id, m.params)
        current = store.get_logged_model(model_id, allow_deleted=True)
        if m.status != LoggedModelStatus.PENDING and current.status != m.status:
            store.finalize_logged_model(model_id, m.status)

    def finish_logged_model(self, rec: LoggedModelRecord, model_id: str) -> None:
        """Move the model to the trash when it is deleted in the source (after its files came)."""
        if rec.deleted:
            try:
                self.logged_models.delete_logged_model(model_id)
            except MltrailException:
                pass  # already in the trash

    def model_metrics(self, model_id: str, run_id: str, metrics: Sequence[Metric]) -> int:
        """Add a logged model's metric values logged by one run (MLflow's ``logged_model_metrics``; the
        run's own history came with the run). A value already there is kept; returns how many are new."""
        items = [replace(m, model_id=model_id, run_id=run_id) for m in metrics]
        before = self.model_metric_count(model_id)
        self.tracking.db.write(lambda conn: write_model_metrics(conn, run_id, items))
        return self.model_metric_count(model_id) - before

    def model_metric_count(self, model_id: str) -> int:
        """How many metric values the destination holds for a logged model."""
        t = schema.logged_model_metrics.c
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(t.model_id == model_id)).scalar_one())

    def logged_model(self, model_id: str) -> LoggedModel:
        """A destination logged model, deleted ones too."""
        return self.logged_models.get_logged_model(model_id, allow_deleted=True)

    def model_artifacts(self, model_id: str) -> ArtifactRepository:
        """The artifact repository of a destination logged model."""
        return get_artifact_repository(self.logged_model(model_id).artifact_location)

    # ------------------------------------------------------------------- traces
    def trace_holder(self, trace_id: str) -> str | None:
        """The experiment id of a destination trace, or ``None``."""
        try:
            return str(self.traces.get_trace_info(trace_id).experiment_id)
        except MltrailException:
            return None

    def write_trace(self, trace: Trace, exists: bool = True) -> int:
        """Store the trace with its id, spans and assessments (ids kept); how many assessments are new.

        ``exists=False`` says the destination has no such trace yet (no assessments to look up)."""
        stored = self._stored_assessments(trace.info.trace_id) if exists else []
        before = {a.get("assessment_id") for a in stored}
        self.traces.log_traces([trace])
        return sum(1 for a in trace.info.assessments if a.get("assessment_id") not in before)

    def _stored_assessments(self, trace_id: str) -> list:
        try:
            return list(self.traces.get_trace_info(trace_id).assessments)
        except MltrailException:
            return []

    def trace_counts(self, trace_id: str) -> tuple[int, int]:
        """``(spans, assessments)`` the destination trace holds."""
        trace = self.traces.get_trace(trace_id)
        return len(trace.data.spans), len(trace.info.assessments)


def copy_tree(
    src: ArtifactRepository, dst: ArtifactRepository, progress: Callable[[int], None], path: str | None = None
) -> tuple[int, int]:
    """Stream every file under ``path`` from ``src`` to ``dst``; files already there with the same
    size are skipped (a resumed import). Returns ``(files copied, bytes copied)``."""
    have = {f.path: f for f in _safe_list(dst, path)}
    files = nbytes = 0
    for info in src.list_artifacts(path):
        if info.is_dir:
            f, b = copy_tree(src, dst, progress, info.path)
            files, nbytes = files + f, nbytes + b
            continue
        old = have.get(info.path)
        if old is not None and not old.is_dir and old.file_size == info.file_size:
            continue
        written = 0

        def counted(chunks, _path=info.path):  # type: ignore[no-untyped-def]
            nonlocal written
            for chunk in chunks:
                written += len(chunk)
                progress(len(chunk))
                yield chunk

        dst.write_stream(info.path, counted(src.open_stream(info.path)))
        files, nbytes = files + 1, nbytes + written
    return files, nbytes


def _safe_list(repo: ArtifactRepository, path: str | None) -> list:
    try:
        return repo.list_artifacts(path)
    except (MltrailException, OSError):
        return []


def count_files(repo: ArtifactRepository, path: str | None = None) -> tuple[int, int]:
    """``(files, bytes)`` under ``path`` of a repository."""
    files = nbytes = 0
    for info in _safe_list(repo, path):
        if info.is_dir:
            f, b = count_files(repo, info.path)
            files, nbytes = files + f, nbytes + b
        else:
            files, nbytes = files + 1, nbytes + (info.file_size or 0)
    return files, nbytes
