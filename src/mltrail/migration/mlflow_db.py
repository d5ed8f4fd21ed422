"""Read an MLflow tracking database (SQLite, PostgreSQL, MySQL) with SQLAlchemy Core.

The tables are reflected, not declared, so one reader serves the schemas of
MLflow 2.x and 3.x: columns and tables that one version lacks are simply not
read (e.g. ``datasets``/``inputs`` before 2.4, ``logged_models`` and
``trace_info`` before 3.0). MLflow's store is never opened for writing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from mltrail.entities.model_registry import ModelVersion, RegisteredModel
from mltrail.entities.trace import Trace
from mltrail.entities.tracking import Dataset, DatasetInput, InputTag, Metric
from mltrail.migration.mlflow_db_genai import GenaiTables
from mltrail.migration.source import ExperimentRecord, LoggedModelRecord, RunRecord, Skipped, Source

_TABLES = (
    "experiments", "experiment_tags", "runs", "metrics", "params", "tags", "datasets", "inputs",
    "input_tags", "registered_models", "registered_model_tags", "model_versions", "model_version_tags",
    "registered_model_aliases", "logged_models", "logged_model_tags", "logged_model_params",
    "logged_model_metrics", "trace_info", "trace_tags", "trace_request_metadata", "spans", "assessments",
    "alembic_version",
)  # fmt: skip


def _str(value: Any) -> str:
    return "" if value is None else str(value)


class MlflowDbSource(Source):
    """An MLflow database read directly (``sqlite:///mlflow.db``, ``postgresql://…``, ``mysql://…``)."""

    def __init__(self, uri: str) -> None:
        self.identity = uri
        url = sa.engine.make_url(uri)
        if url.drivername in ("mysql", "mariadb"):
            url = url.set(drivername="mysql+pymysql")
        elif url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(url)
        meta = sa.MetaData()
        present = set(sa.inspect(self.engine).get_table_names())
        if "experiments" not in present or "runs" not in present:
            self.engine.dispose()
            raise ValueError(f"{uri} is not an MLflow tracking database (no experiments/runs tables)")
        meta.reflect(self.engine, only=[t for t in _TABLES if t in present])
        self.t = meta.tables
        self.genai = GenaiTables(dict(self.t), self._rows)

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()

    def _rows(self, query: sa.Select) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def schema_revision(self) -> str | None:
        """MLflow's alembic revision of the database (``None`` before MLflow used alembic)."""
        table = self.t.get("alembic_version")
        if table is None:
            return None
        rows = self._rows(sa.select(table.c.version_num))
        return str(rows[0][0]) if rows else None

    # --------------------------------------------------------------- tracking
    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment with its tags."""
        e = self.t["experiments"].c
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        if "experiment_tags" in self.t:
            for row in self._rows(sa.select(self.t["experiment_tags"])):
                tags[str(row.experiment_id)][row.key] = _str(row.value)
        out = []
        for row in self._rows(sa.select(self.t["experiments"]).order_by(e.experiment_id)):
            m = row._mapping
            out.append(
                ExperimentRecord(
                    experiment_id=str(m["experiment_id"]),
                    name=m["name"],
                    artifact_location=m.get("artifact_location"),
                    lifecycle_stage=m.get("lifecycle_stage") or "active",
                    creation_time=m.get("creation_time"),
                    last_update_time=m.get("last_update_time"),
                    tags=tags.get(str(m["experiment_id"]), {}),
                )
            )
        return out

    def runs(self, experiment_id: str) -> Iterator[RunRecord]:
        """The experiment's runs, oldest first, with params, tags, inputs and their metric count."""
        r = self.t["runs"]
        rows = self._rows(
            sa.select(r).where(r.c.experiment_id == int(experiment_id)).order_by(r.c.start_time, r.c.run_uuid)
        )
        for start in range(0, len(rows), 200):
            chunk = rows[start : start + 200]
            ids = [row.run_uuid for row in chunk]
            params = self._key_values("params", ids)
            tags = self._key_values("tags", ids)
            counts = self._metric_counts(ids)
            inputs = self._inputs(ids)
            for row in chunk:
                m = row._mapping
                yield RunRecord(
                    run_id=m["run_uuid"],
                    experiment_id=str(m["experiment_id"]),
                    name=_str(m.get("name")),
                    user_id=_str(m.get("user_id")),
                    status=m.get("status") or "FINISHED",
                    start_time=m.get("start_time"),
                    end_time=m.get("end_time"),
                    lifecycle_stage=m.get("lifecycle_stage") or "active",
                    artifact_uri=m.get("artifact_uri"),
                    params=params.get(m["run_uuid"], {}),
                    tags=tags.get(m["run_uuid"], {}),
                    inputs=inputs.get(m["run_uuid"], []),
                    metric_points=counts.get(m["run_uuid"], 0),
                )

    def _key_values(self, table: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
        t = self.t[table]
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for row in self._rows(sa.select(t.c.run_uuid, t.c.key, t.c.value).where(t.c.run_uuid.in_(run_ids))):
            out[row.run_uuid][row.key] = _str(row.value)
        return out

    def _metric_counts(self, run_ids: list[str]) -> dict[str, int]:
        m = self.t["metrics"].c
        query = sa.select(m.run_uuid, sa.func.count()).where(m.run_uuid.in_(run_ids)).group_by(m.run_uuid)
        return {row[0]: int(row[1]) for row in self._rows(query)}

    def _inputs(self, run_ids: list[str]) -> dict[str, list[DatasetInput]]:
        if "inputs" not in self.t or "datasets" not in self.t:
            return {}
        i, d = self.t["inputs"].c, self.t["datasets"].c
        query = (
            sa.select(
                i.input_uuid,
                i.destination_id,
                d.name,
                d.digest,
                d.dataset_source_type,
                d.dataset_source,
                d.dataset_schema,
                d.dataset_profile,
            )
            .join(self.t["datasets"], d.dataset_uuid == i.source_id)
            .where(i.destination_id.in_(run_ids), i.source_type == "DATASET", i.destination_type == "RUN")
        )
        rows = self._rows(query)
        tags: dict[str, list[InputTag]] = defaultdict(list)
        if rows and "input_tags" in self.t:
            it = self.t["input_tags"].c
            for row in self._rows(sa.select(it.input_uuid, it.name, it.value).where(
                    it.input_uuid.in_([r.input_uuid for r in rows]))):  # fmt: skip
                tags[row.input_uuid].append(InputTag(row.name, _str(row.value)))
        out: dict[str, list[DatasetInput]] = defaultdict(list)
        for row in rows:
            dataset = Dataset(
                name=row.name,
                digest=row.digest,
                source_type=row.dataset_source_type,
                source=row.dataset_source,
                schema=row.dataset_schema,
                profile=row.dataset_profile,
            )
            out[row.destination_id].append(DatasetInput(dataset, tags.get(row.input_uuid, [])))
        return out

    def metrics(self, run: RunRecord) -> list[Metric]:
        """Every point of every metric of the run, ordered by key, timestamp and step."""
        m = self.t["metrics"].c
        cols = [m.key, m.value, m.timestamp, m.step]
        has_nan = "is_nan" in self.t["metrics"].c
        if has_nan:
            cols.append(m.is_nan)
        query = sa.select(*cols).where(m.run_uuid == run.run_id).order_by(m.key, m.timestamp, m.step)
        out = []
        for row in self._rows(query):
            value = math.nan if has_nan and row.is_nan else float(row.value)
            out.append(Metric(row.key, value, int(row.timestamp or 0), int(row.step or 0)))
        return out

    # --------------------------------------------------------------- registry
    def registered_models(self) -> list[RegisteredModel]:
        """Registered models (prompts are registered models tagged ``mlflow.prompt.is_prompt``)."""
        if "registered_models" not in self.t:
            return []
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        if "registered_model_tags" in self.t:
            for row in self._rows(sa.select(self.t["registered_model_tags"])):
                tags[row.name][row.key] = _str(row.value)
        aliases: dict[str, dict[str, str]] = defaultdict(dict)
        if "registered_model_aliases" in self.t:
            for row in self._rows(sa.select(self.t["registered_model_aliases"])):
                aliases[row.name][row.alias] = str(row.version)
        rm = self.t["registered_models"]
        return [
            RegisteredModel(
                name=row.name,
                creation_timestamp=row.creation_time,
                last_updated_timestamp=row.last_updated_time,
                description=row.description,
                tags=tags.get(row.name, {}),
                aliases=aliases.get(row.name, {}),
            )
            for row in self._rows(sa.select(rm).order_by(rm.c.creation_time, rm.c.name))
        ]

    def model_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions by number, deleted ones included (stage ``Deleted_Internal``)."""
        mv = self.t["model_versions"]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        if "model_version_tags" in self.t:
            mt = self.t["model_version_tags"]
            for row in self._rows(sa.select(mt).where(mt.c.name == name)):
                tags[str(row.version)][row.key] = _str(row.value)
        out = []
        for row in self._rows(sa.select(mv).where(mv.c.name == name).order_by(mv.c.version)):
            m = row._mapping
            out.append(
                ModelVersion(
                    name=name,
                    version=str(m["version"]),
                    creation_timestamp=m.get("creation_time"),
                    last_updated_timestamp=m.get("last_updated_time"),
                    description=m.get("description"),
                    user_id=m.get("user_id"),
                    current_stage=m.get("current_stage") or "None",
                    source=m.get("source"),
                    run_id=m.get("run_id") or None,
                    status=m.get("status") or "READY",
                    status_message=m.get("status_message"),
                    tags=tags.get(str(m["version"]), {}),
                    run_link=m.get("run_link"),
                )
            )
        return out

    # ------------------------------------------------------------------ GenAI
    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's logged models (MLflow 3's ``logged_models`` table)."""
        return self.genai.logged_models(experiment_id)

    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces with spans and assessments (MLflow 3's trace tables)."""
        return self.genai.traces(experiment_id)

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces the experiment has (requested since ``since_ms``)."""
        return self.genai.trace_count(experiment_id, since_ms)

    def unsupported(self) -> list[Skipped]:
        """Traces whose spans could not be read."""
        return [Skipped("trace spans", trace_id, reason) for trace_id, reason in self.genai.unreadable]
