"""Writes logged to a run: metrics, params, tags, batches and dataset inputs.

A mixin of :class:`~mltrail.store.sql.tracking.SqlTrackingStore`, kept apart so
each module reads in one sitting. Everything is validated before the
transaction opens, and each call is a single transaction, so a rejected
request (bad key, changed param, deleted run) writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from mltrail.entities import DatasetInput, LifecycleStage, LoggedModelInput, Metric, Param, RunInfo, RunTag
from mltrail.exceptions import invalid, not_found
from mltrail.store import validation as v
from mltrail.store.sql import _metrics
from mltrail.store.sql._codec import chunks, upsert_statement
from mltrail.store.sql._run_models import RUN_INPUT, erase_links, link_models
from mltrail.store.sql._workspace import visible_experiment
from mltrail.store.sql.database import Database, execute_constant
from mltrail.store.sql.schema import (
    datasets,
    input_tags,
    inputs,
    latest_metrics,
    logged_models,
    metrics,
    params,
    runs,
    tags,
)

RUN_NAME_TAG = "mlflow.runName"
_RUN_STATE = sa.select(runs.c.lifecycle_stage, runs.c.experiment_id).where(
    runs.c.run_uuid == sa.bindparam("run_id")
)
# The same check, with the rest of the run's attributes (``runs/update`` answers with them).
_RUN_INFO = sa.select(
    runs.c.lifecycle_stage,
    runs.c.experiment_id,
    runs.c.name,
    runs.c.user_id,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.artifact_uri,
).where(runs.c.run_uuid == sa.bindparam("run_id"))
_INSERT_PARAMS = sa.insert(params)
_RENAME_RUN = (
    sa.update(runs).where(runs.c.run_uuid == sa.bindparam("run_id")).values(name=sa.bindparam("name"))
)


_params_of: dict[int, sa.Select] = {}
_insert_new: list[sa.Insert] = []


def _stored_params(conn: sa.Connection, run_id: str, items: Sequence[Param]) -> dict[str, str]:
    """The stored value of each key of ``items`` the run already has (driver SQL, built once per count)."""
    stmt = _params_of.get(len(items))
    if stmt is None:  # a batch holds at most 100 params: at most 100 of these
        names = [sa.bindparam(f"k{i}") for i in range(len(items))]
        stmt = sa.select(params.c.key, params.c.value).where(
            params.c.run_uuid == sa.bindparam("run_id"), params.c.key.in_(names)
        )
        _params_of[len(items)] = stmt
    values = {f"k{i}": p.key for i, p in enumerate(items)}
    values["run_id"] = run_id
    return dict(execute_constant(conn, stmt, values))


def _refuse_changed(run_id: str, items: Sequence[Param], existing: dict[str, str]) -> None:
    """MLflow's error for the first of ``items`` whose key is stored with another value."""
    for p in items:
        if p.key in existing and existing[p.key] != p.value:
            raise invalid(
                f"Changing param values is not allowed. Param with key='{p.key}' was already logged with "
                f"value='{existing[p.key]}' for run ID='{run_id}'. Attempted logging new value '{p.value}'."
            )


def _insert_new_params() -> sa.Insert:
    """SQLite's ``INSERT ... ON CONFLICT DO NOTHING`` into ``params`` (a stored key keeps its row)."""
    if not _insert_new:
        from sqlalchemy.dialects.sqlite import insert

        _insert_new.append(insert(params).on_conflict_do_nothing())
    return _insert_new[0]


class RunWritesMixin:
    """Run-level writes; expects ``db`` (a :class:`Database`) and ``dialect`` from the store class."""

    dialect: str
    db: Database

    # --------------------------------------------------------------- checks
    def _check_active(self, conn: sa.Connection, run_id: str) -> int:
        """The run's experiment id; errors if the run is unknown or deleted."""
        return int(self._active_run(conn, run_id, _RUN_STATE)[1])

    def _active_run_info(self, conn: sa.Connection, run_id: str) -> RunInfo:
        """The run's attributes as stored now; errors as :meth:`_check_active` does."""
        stage, exp_id, name, user_id, status, start_time, end_time, artifact_uri = self._active_run(
            conn, run_id, _RUN_INFO
        )
        return RunInfo(
            run_id, str(exp_id), name or "", user_id or "", status, start_time, end_time, artifact_uri or "", stage
        )

    @staticmethod
    def _active_run(conn: sa.Connection, run_id: str, stmt: sa.Select) -> tuple:
        """The row ``stmt`` (stage and experiment id first) reads for an active, visible run."""
        # On the DBAPI cursor: every write to a run starts with this check.
        found = execute_constant(conn, stmt, {"run_id": run_id})
        row = found[0] if found else None
        if row is None or not visible_experiment(conn, int(row[1])):
            raise not_found(f"Run with id={run_id} not found")
        if row[0] != LifecycleStage.ACTIVE:
            raise invalid(f"The run {run_id} must be in the 'active' state. Current state is {row[0]}.")
        return row

    # --------------------------------------------------------------- writes
    def log_metric(self, run_id: str, metric: Metric, synchronous: bool | None = None) -> None:
        """Append one metric value (NaN and ±inf allowed); always written at once (``synchronous`` is moot)."""
        v.validate_metric(metric)

        def write(conn: sa.Connection) -> None:
            self._check_active(conn, run_id)
            _metrics.write_metrics(conn, run_id, [metric])

        self.db.write(write)

    def log_param(self, run_id: str, param: Param) -> None:
        """Log a param; the same value again is fine, a different one is an error."""
        v.validate_param(param.key, param.value)

        def write(conn: sa.Connection) -> None:
            self._check_active(conn, run_id)
            self._write_params(conn, run_id, [param])

        self.db.write(write)

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set or overwrite a tag; ``mlflow.runName`` also renames the run."""
        v.validate_tag(tag.key, tag.value)

        def write(conn: sa.Connection) -> None:
            self._check_active(conn, run_id)
            self._write_tags(conn, run_id, {tag.key: tag.value})

        self.db.write(write)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; ``RESOURCE_DOES_NOT_EXIST`` if the run has no such tag."""

        def write(conn: sa.Connection) -> None:
            self._check_active(conn, run_id)
            result = conn.execute(sa.delete(tags).where(tags.c.run_uuid == run_id, tags.c.key == key))
            if result.rowcount == 0:
                raise not_found(f"No tag with name: {key} in run with id {run_id}")

        self.db.write(write)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Validate everything, then write params, tags and metrics in one transaction (at once)."""
        metrics, params, tags = list(metrics or ()), list(params or ()), list(tags or ())
        v.validate_batch(metrics, params, tags)
        tag_map = {t.key: t.value for t in tags}  # the last value of a repeated key wins

        def write(conn: sa.Connection) -> None:
            self._check_active(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if tag_map:
                self._write_tags(conn, run_id, tag_map)
            if metrics:
                _metrics.write_metrics(conn, run_id, metrics)

        self.db.write(write)

    def _write_params(self, conn: sa.Connection, run_id: str, items: Sequence[Param]) -> None:
        rows = [{"run_uuid": run_id, "key": p.key, "value": p.value} for p in items]
        if self.dialect == "sqlite":
            # One statement in the usual case (every key new): insert those not stored yet, and
            # read the stored values only when some key was there already. The connection's
            # change counter (params has no triggers) says how many rows went in, without a statement.
            driver = conn.connection.dbapi_connection
            before = driver.total_changes
            execute_constant(conn, _insert_new_params(), rows)
            if driver.total_changes - before == len(rows):
                return
            _refuse_changed(run_id, items, _stored_params(conn, run_id, items))
            return  # the keys already stored hold these same values
        existing = _stored_params(conn, run_id, items)
        _refuse_changed(run_id, items, existing)
        new = [row for row in rows if row["key"] not in existing]
        if new:
            execute_constant(conn, _INSERT_PARAMS, new)

    def _write_tags(self, conn: sa.Connection, run_id: str, tag_map: dict[str, str]) -> None:
        self._upsert_tags(conn, [{"run_uuid": run_id, "key": k, "value": val} for k, val in tag_map.items()])
        if RUN_NAME_TAG in tag_map:
            execute_constant(conn, _RENAME_RUN, {"run_id": run_id, "name": tag_map[RUN_NAME_TAG]})

    def _upsert_tags(self, conn: sa.Connection, rows: list[dict[str, str]]) -> None:
        """Set run tags (``run_uuid``, ``key``, ``value`` rows), overwriting stored values."""
        stmt = upsert_statement(self.dialect, tags, ("run_uuid", "key"), ("value",))
        if self.dialect == "mysql":
            # SQLAlchemy spells MySQL's upsert by server version (MariaDB takes no row alias),
            # and execute_constant keeps one text per dialect name: let SQLAlchemy compile it.
            conn.execute(stmt, rows)
        else:
            execute_constant(conn, stmt, rows)

    # --------------------------------------------------------------- inputs
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record datasets and logged models a run used; a dataset (name + digest) is stored once per experiment."""
        items = list(datasets or ())
        v.validate_dataset_inputs(items)
        model_ids = [m.model_id for m in models or ()]
        if not items and not model_ids:
            return

        def write(conn: sa.Connection) -> None:
            exp_id = self._check_active(conn, run_id)
            for item in items:
                self._write_input(conn, run_id, exp_id, item)
            if model_ids:
                lm = logged_models.c
                known = {r[0] for r in conn.execute(sa.select(lm.model_id).where(lm.model_id.in_(model_ids)))}
                for model_id in model_ids:
                    if model_id not in known:
                        raise not_found(f"Logged model with ID '{model_id}' not found.")
            link_models(conn, run_id, RUN_INPUT, [(m, 0) for m in model_ids])

        self.db.write(write)

    def _write_input(self, conn: sa.Connection, run_id: str, exp_id: int, item: DatasetInput) -> None:
        ds = item.dataset
        dc = datasets.c
        row = conn.execute(
            sa.select(dc.dataset_uuid).where(
                dc.experiment_id == exp_id, dc.name == ds.name, dc.digest == ds.digest
            )
        ).first()
        if row is not None:
            dataset_uuid = row[0]
        else:
            dataset_uuid = uuid.uuid4().hex
            conn.execute(
                sa.insert(datasets).values(
                    dataset_uuid=dataset_uuid,
                    experiment_id=exp_id,
                    name=ds.name,
                    digest=ds.digest,
                    dataset_source_type=ds.source_type or "",
                    dataset_source=ds.source or "",
                    dataset_schema=ds.schema,
                    dataset_profile=ds.profile,
                )
            )
        ic = inputs.c
        seen = conn.execute(
            sa.select(ic.input_uuid).where(
                ic.source_type == "DATASET",
                ic.source_id == dataset_uuid,
                ic.destination_type == "RUN",
                ic.destination_id == run_id,
            )
        ).first()
        if seen is not None:
            return  # MLflow keeps the first record of a run using a dataset
        input_uuid = uuid.uuid4().hex
        conn.execute(
            sa.insert(inputs).values(
                input_uuid=input_uuid,
                source_type="DATASET",
                source_id=dataset_uuid,
                destination_type="RUN",
                destination_id=run_id,
            )
        )
        tag_map = {t.key: t.value for t in item.tags}
        if tag_map:
            conn.execute(
                sa.insert(input_tags),
                [{"input_uuid": input_uuid, "name": k, "value": val} for k, val in tag_map.items()],
            )

    # ------------------------------------------------------------------ gc
    def _erase_inputs(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> None:
        ids = [r[0] for r in conn.execute(sa.select(inputs.c.input_uuid).where(where))]
        for part in chunks(ids):
            conn.execute(sa.delete(input_tags).where(input_tags.c.input_uuid.in_(list(part))))
            conn.execute(sa.delete(inputs).where(inputs.c.input_uuid.in_(list(part))))

    def _erase_runs(self, conn: sa.Connection, run_ids: Sequence[str]) -> None:
        for part in chunks(list(run_ids)):
            ids = list(part)
            for table in (metrics, latest_metrics, params, tags):
                conn.execute(sa.delete(table).where(table.c.run_uuid.in_(ids)))
            self._erase_inputs(conn, (inputs.c.destination_type == "RUN") & inputs.c.destination_id.in_(ids))
            erase_links(conn, ids)
            conn.execute(sa.delete(runs).where(runs.c.run_uuid.in_(ids)))
