"""The tracking store on SQL (SQLite, PostgreSQL, MySQL) with SQLAlchemy Core.

Semantics follow MLflow's ``SqlAlchemyStore``: experiment ids are strings of
integers and "Default" (id ``"0"``) always exists; run ids are 32-char uuid4
hex; params are immutable; only deleted runs refuse writes; NaN and ±inf
metric values round-trip; ``latest_metrics`` is maintained on every write.

Hot paths stay lean: module-level prebuilt statements, ``executemany`` for
batches, plain tuples instead of ORM objects, and one query per child table
when loading a page of runs (see :mod:`._load`).

Example::

    store = SqlTrackingStore("sqlite:///mltrail.db", "/data/mltrail-artifacts")
    run = store.create_run("0", "me", None, [], None)
    store.log_batch(run.info.run_id, metrics=[Metric("loss", 0.1, 0, 0)])
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from mltrail.entities import (
    Experiment,
    ExperimentTag,
    LifecycleStage,
    PagedList,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.exceptions import (
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    MltrailException,
    invalid,
    not_found,
)
from mltrail.store import validation as v
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql import _metrics
from mltrail.store.sql._bound import erase_experiment_bound
from mltrail.store.sql._codec import chunks, now_ms, upsert_statement
from mltrail.store.sql._load import load_experiments, load_runs
from mltrail.store.sql._names import random_run_name
from mltrail.store.sql._run_json import load_runs_json
from mltrail.store.sql._runs import RunWritesMixin
from mltrail.store.sql._workspace import (
    experiment_scope,
    new_row_workspace,
    visible_experiment,
    visible_experiment_ids,
    workspace_artifact_root,
)
from mltrail.store.sql.database import database_for, execute_constant, raw_fetchall
from mltrail.store.sql.datasets import SqlDatasetsMixin
from mltrail.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    inputs,
    metadata,
    runs,
)
from mltrail.store.sql.schema import tags as run_tags
from mltrail.store.sql.search_sql import PagedSql, experiments_query, runs_paged_sql
from mltrail.store.sql.ui_reads import UiReadsMixin
from mltrail.store.tracking import (
    SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_THRESHOLD,
    TrackingStore,
)
from mltrail.store.workspace_scope import active_workspace

RUN_NAME_TAG = "mlflow.runName"
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_E = experiments.c
_R = runs.c
_SEARCH_SQL_CACHE_SIZE = 256
T = TypeVar("T")


def _experiment_of(run: Run | dict[str, Any]) -> str:
    """The experiment id of a loaded run, an entity or its JSON."""
    return run.info.experiment_id if isinstance(run, Run) else run["info"]["experiment_id"]


# Built once: a statement rebuilt per call costs SQLAlchemy a cache-key walk every time.
_EXPERIMENT_FOR_RUN = sa.select(_E.lifecycle_stage, _E.artifact_location).where(
    _E.experiment_id == sa.bindparam("exp_id")
)
_INSERT_RUN = sa.insert(runs)
_EXPERIMENT_BY_NAME = sa.select(_E.experiment_id).where(_E.name == sa.bindparam("name"))
_INSERT_EXPERIMENT = sa.insert(experiments)
_INSERT_EXPERIMENT_RETURNING = sa.insert(experiments).returning(_E.experiment_id)
_INSERT_EXPERIMENT_TAGS = sa.insert(experiment_tags)
_SET_LOCATION = (
    sa.update(experiments)
    .where(_E.experiment_id == sa.bindparam("exp_id"))
    .values(artifact_location=sa.bindparam("location"))
)
_INSERT_RUN_TAGS = sa.insert(run_tags)
# SET takes the columns a call's parameters name (execute_constant compiles once per set).
_UPDATE_RUN = sa.update(runs).where(_R.run_uuid == sa.bindparam("b_run_id"))


def _exp_id(experiment_id: object) -> int:
    """An experiment id as the integer the tables use; unknown shapes are simply not found."""
    text = str(experiment_id).strip() if experiment_id is not None else ""
    if not text.isdigit() or len(text) > 18:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    return int(text)


def _name_taken(name: str) -> MltrailException:
    return MltrailException(f"Experiment(name={name}) already exists.", error_code=RESOURCE_ALREADY_EXISTS)


def _check_max_results(max_results: Any) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise invalid(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results!r}"
        )
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value for max_results. It must be at most {SEARCH_MAX_RESULTS_THRESHOLD}, "
            f"but got value {max_results}"
        )
    return max_results


class SqlTrackingStore(RunWritesMixin, UiReadsMixin, SqlDatasetsMixin, TrackingStore):
    """Experiments, runs, metrics, params, tags and inputs in one SQL database."""

    def __init__(self, db_uri: str, default_artifact_root: str) -> None:
        self.db_uri = db_uri
        self.artifact_root_uri = default_artifact_root.rstrip("/") or default_artifact_root
        self.db = database_for(db_uri)
        self.engine = self.db.engine  # for tools and tests; the store itself goes through self.db
        self.dialect = self.db.dialect
        # Searches repeat (a UI polling, a script's loop, a walk through pages): their compiled
        # SQL is kept by search, page bounds aside, so a repeat skips building and compiling it.
        self._search_sql: dict[tuple, PagedSql] = {}
        self.db.ensure_schema()
        self._ensure_default_experiment()

    def _default_location(self, experiment_id: int | str) -> str:
        return f"{self.artifact_root_uri}/{experiment_id}"

    def _ensure_default_experiment(self) -> None:
        with self.db.read() as conn:
            if conn.execute(sa.select(_E.experiment_id).where(_E.experiment_id == 0)).first():
                return

        def create(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_E.experiment_id).where(_E.experiment_id == 0)).first():
                return
            restore_mode = None
            if self.dialect == "mysql":
                # MySQL treats an explicit 0 in an AUTO_INCREMENT column as "pick the next id".
                restore_mode = conn.execute(sa.text("SELECT @@SESSION.sql_mode")).scalar()
                conn.execute(sa.text("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'"))
            try:
                ts = now_ms()
                conn.execute(
                    sa.insert(experiments).values(
                        experiment_id=0,
                        name=DEFAULT_EXPERIMENT_NAME,
                        artifact_location=self._default_location(0),
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        creation_time=ts,
                        last_update_time=ts,
                    )
                )
            finally:
                if restore_mode is not None:
                    conn.execute(sa.text("SET SESSION sql_mode = :m"), {"m": restore_mode})

        # A conflict: another process created it first (or a user took the name): nothing to do.
        self.db.write(create, conflict=lambda err: None)

    # ---------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] | None = None
    ) -> str:
        """Create an experiment; its artifacts default to ``<default_artifact_root>/<id>``."""
        v.validate_experiment_name(name)
        v.validate_artifact_location(artifact_location)
        tag_rows = {t.key: t.value for t in tags or ()}
        for key, value in tag_rows.items():
            v.validate_experiment_tag(key, value)

        if artifact_location and active_workspace() is not None:
            raise invalid("artifact_location cannot be specified when workspaces are enabled")

        def create(conn: sa.Connection) -> str:
            if self._experiment_named(conn, name) is not None:
                raise _name_taken(name)
            ts = now_ms()
            row = {
                "name": name,
                "artifact_location": artifact_location or None,
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "creation_time": ts,
                "last_update_time": ts,
                **new_row_workspace(),
            }
            if conn.dialect.insert_returning:  # SQLite 3.35+, PostgreSQL: driver SQL, RETURNING the id
                exp_id = int(execute_constant(conn, _INSERT_EXPERIMENT_RETURNING, row)[0][0])
            else:  # through SQLAlchemy, which reads the driver's lastrowid
                exp_id = int(conn.execute(_INSERT_EXPERIMENT, row).inserted_primary_key[0])
            if not artifact_location:
                root = workspace_artifact_root(conn, self.artifact_root_uri)
                execute_constant(conn, _SET_LOCATION, {"exp_id": exp_id, "location": f"{root.rstrip('/')}/{exp_id}"})
            execute_constant(
                conn,
                _INSERT_EXPERIMENT_TAGS,
                [{"experiment_id": exp_id, "key": k, "value": val} for k, val in tag_rows.items()],
            )
            return str(exp_id)

        return self.db.write(create, conflict=lambda err: _name_taken(name))  # lost a race on the name

    @staticmethod
    def _experiment_named(conn: sa.Connection, name: str) -> int | None:
        """The id of the experiment called ``name`` in the bound workspace (anywhere if none is bound)."""
        scope = experiment_scope()
        if not scope:
            found = execute_constant(conn, _EXPERIMENT_BY_NAME, {"name": name})
            return int(found[0][0]) if found else None
        row = conn.execute(sa.select(_E.experiment_id).where(_E.name == name, *scope)).first()
        return None if row is None else int(row[0])

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment, active or deleted."""
        exp_id = _exp_id(experiment_id)
        with self.db.read() as conn:
            found = load_experiments(conn, [exp_id]) if visible_experiment(conn, exp_id) else []
        if not found:
            raise not_found(f"No Experiment with id={experiment_id} exists")
        return found[0]

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """The experiment with that exact name (active or deleted), or ``None``."""
        with self.db.read() as conn:
            exp_id = self._experiment_named(conn, experiment_name)
            if exp_id is None:
                return None
            found = load_experiments(conn, [exp_id])
        return found[0] if found else None

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of experiments; filter and order are compiled to SQL by :mod:`.search_sql`."""
        max_results = _check_max_results(max_results)
        offset = decode_page_token(page_token)
        query = experiments_query(filter_string, view_type, order_by, offset, max_results + 1).where(
            *experiment_scope()
        )
        with self.db.read() as conn:
            ids = [int(r[0]) for r in conn.execute(query)]
            page = load_experiments(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return PagedList(page, token)

    def _experiment_stage(self, conn: sa.Connection, exp_id: int, experiment_id: object) -> str:
        row = conn.execute(
            sa.select(_E.lifecycle_stage).where(_E.experiment_id == exp_id, *experiment_scope())
        ).first()
        if row is None:
            raise not_found(f"No Experiment with id={experiment_id} exists")
        return row[0]

    def delete_experiment(self, experiment_id: str) -> None:
        """Move the experiment and its active runs to the trash (``deleted_time`` = now)."""
        exp_id = _exp_id(experiment_id)

        def delete(conn: sa.Connection) -> None:
            if self._experiment_stage(conn, exp_id, experiment_id) != LifecycleStage.ACTIVE:
                raise invalid(f"The experiment {experiment_id} is already deleted.")
            # Runs deleted with the experiment carry its deletion time, so restore brings
            # back exactly those and not runs the user had deleted on their own before.
            # That time must differ from every earlier run deletion, even one made in the
            # same millisecond, or restore would bring that run back too.
            last_run_deletion = conn.execute(
                sa.select(sa.func.max(_R.deleted_time)).where(_R.experiment_id == exp_id)
            ).scalar()
            ts = max(now_ms(), (last_run_deletion or 0) + 1)
            conn.execute(
                sa.update(experiments)
                .where(_E.experiment_id == exp_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, last_update_time=ts)
            )
            conn.execute(
                sa.update(runs)
                .where(_R.experiment_id == exp_id, _R.lifecycle_stage == LifecycleStage.ACTIVE)
                .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=ts)
            )

        self.db.write(delete)

    def restore_experiment(self, experiment_id: str) -> None:
        """Bring back a deleted experiment and the runs that were deleted with it."""
        exp_id = _exp_id(experiment_id)

        def restore(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(_E.lifecycle_stage, _E.last_update_time).where(
                    _E.experiment_id == exp_id, *experiment_scope()
                )
            ).first()
            if row is None:
                raise not_found(f"No Experiment with id={experiment_id} exists")
            if row.lifecycle_stage != LifecycleStage.DELETED:
                raise invalid(f"Cannot restore an active experiment: {experiment_id}")
            conn.execute(
                sa.update(experiments)
                .where(_E.experiment_id == exp_id)
                .values(lifecycle_stage=LifecycleStage.ACTIVE, last_update_time=now_ms())
            )
            conn.execute(
                sa.update(runs)
                .where(
                    _R.experiment_id == exp_id,
                    _R.lifecycle_stage == LifecycleStage.DELETED,
                    _R.deleted_time == row.last_update_time,
                )
                .values(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None)
            )

        self.db.write(restore)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment; the new name must be free."""
        v.validate_experiment_name(new_name)
        exp_id = _exp_id(experiment_id)

        def rename(conn: sa.Connection) -> None:
            if self._experiment_stage(conn, exp_id, experiment_id) != LifecycleStage.ACTIVE:
                raise MltrailException("Cannot rename a non-active experiment.", error_code=INVALID_STATE)
            other = self._experiment_named(conn, new_name)
            if other is not None and other != exp_id:
                raise _name_taken(new_name)
            conn.execute(
                sa.update(experiments)
                .where(_E.experiment_id == exp_id)
                .values(name=new_name, last_update_time=now_ms())
            )

        self.db.write(rename, conflict=lambda err: _name_taken(new_name))

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set or overwrite a tag of an active experiment."""
        v.validate_experiment_tag(tag.key, tag.value)
        exp_id = _exp_id(experiment_id)

        def set_tag(conn: sa.Connection) -> None:
            if self._experiment_stage(conn, exp_id, experiment_id) != LifecycleStage.ACTIVE:
                raise invalid(
                    f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
                )
            stmt = upsert_statement(self.dialect, experiment_tags, ("experiment_id", "key"), ("value",))
            conn.execute(stmt, [{"experiment_id": exp_id, "key": tag.key, "value": tag.value}])

        self.db.write(set_tag)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag of an active experiment; ``RESOURCE_DOES_NOT_EXIST`` if absent."""
        exp_id = _exp_id(experiment_id)

        def delete(conn: sa.Connection) -> None:
            if self._experiment_stage(conn, exp_id, experiment_id) != LifecycleStage.ACTIVE:
                raise invalid(
                    f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
                )
            result = conn.execute(
                sa.delete(experiment_tags).where(
                    experiment_tags.c.experiment_id == exp_id, experiment_tags.c.key == key
                )
            )
            if result.rowcount == 0:
                raise not_found(f"No tag with name: {key} in experiment with id {experiment_id}")

        self.db.write(delete)

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
        run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run in an active experiment; names it and sets ``mlflow.runName``.

        ``run_id`` (32 lowercase hex characters) is a client-chosen id, used by the offline
        journal's replay (:mod:`mltrail.server.handlers.offline`); by default a fresh uuid4.
        """
        experiment_id = DEFAULT_EXPERIMENT_ID if experiment_id is None else experiment_id
        exp_id = _exp_id(experiment_id)
        tag_map = {t.key: t.value for t in tags or ()}
        for key, value in tag_map.items():
            v.validate_tag(key, value)
        tag_name = tag_map.get(RUN_NAME_TAG)
        if run_name and tag_name and run_name != tag_name:
            raise invalid(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
                f"values (run_name='{run_name}', mlflow.runName='{tag_name}')."
            )
        if user_id is not None and len(str(user_id)) > v.MAX_USER_ID_LENGTH:
            raise v.too_long("User id", len(str(user_id)), v.MAX_USER_ID_LENGTH)
        run_name = run_name or tag_name or random_run_name()
        v.validate_run_name(run_name)
        tag_map[RUN_NAME_TAG] = run_name
        if start_time is not None and (isinstance(start_time, bool) or not isinstance(start_time, int)):
            raise invalid(f"Invalid start_time {start_time!r}: expected milliseconds since the epoch")
        start_time = now_ms() if start_time is None else start_time
        run_id = run_id or uuid.uuid4().hex

        def create(conn: sa.Connection) -> Run:
            found = execute_constant(conn, _EXPERIMENT_FOR_RUN, {"exp_id": exp_id})
            if not found or not visible_experiment(conn, exp_id):
                raise not_found(f"No Experiment with id={experiment_id} exists")
            lifecycle_stage, artifact_location = found[0]
            if lifecycle_stage != LifecycleStage.ACTIVE:
                raise MltrailException(
                    f"Could not create run under non-active experiment with ID {experiment_id}.",
                    error_code=INVALID_STATE,
                )
            location = (artifact_location or self._default_location(exp_id)).rstrip("/")
            artifact_uri = f"{location}/{run_id}/artifacts"
            run_row = {
                "run_uuid": run_id,
                "name": run_name,
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": user_id or "",
                "status": "RUNNING",
                "start_time": start_time,
                "end_time": None,
                "source_version": "",
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "artifact_uri": artifact_uri,
                "experiment_id": exp_id,
            }
            execute_constant(conn, _INSERT_RUN, run_row)
            execute_constant(
                conn, _INSERT_RUN_TAGS, [{"run_uuid": run_id, "key": k, "value": val} for k, val in tag_map.items()]
            )
            info = RunInfo(
                run_id=run_id,
                experiment_id=str(exp_id),
                run_name=run_name,
                user_id=user_id or "",
                status="RUNNING",
                start_time=start_time,
                end_time=None,
                artifact_uri=artifact_uri,
                lifecycle_stage=LifecycleStage.ACTIVE,
            )
            run = Run(info=info)
            run.data.tag_list.extend(RunTag(k, tag_map[k]) for k in sorted(tag_map))
            return run

        return self.db.write(create)

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and dataset inputs."""
        return self._get_run(run_id, load_runs)

    def get_run_json(self, run_id: str) -> dict[str, Any]:
        """:meth:`get_run` as MLflow's REST JSON (``wire.run_json``), built straight from the rows."""
        return self._get_run(run_id, load_runs_json)

    def _get_run(self, run_id: str, load: Callable[[Any, Sequence[str]], list[T]]) -> T:
        if active_workspace() is None:  # the hot path: driver SQL only
            with self.db.driver_read() as reads:
                found = load(reads, [run_id])
        else:  # the workspace check runs SQLAlchemy statements
            with self.db.read() as conn:
                found = load(conn, [run_id])
                if found and not visible_experiment(conn, int(_experiment_of(found[0]))):
                    found = []
        if not found:
            raise not_found(f"Run with id={run_id} not found")
        return found[0]

    def update_run_info(
        self, run_id: str, run_status: str | int | None, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Set status, end time and/or name (``None`` leaves a field as it is)."""
        status = RunStatus.normalize(run_status) if run_status is not None else None
        v.validate_run_name(run_name)

        def update(conn: sa.Connection) -> RunInfo:
            # The run's row, read by the state check, makes the answer: no run load afterwards.
            info = self._active_run_info(conn, run_id)
            values: dict[str, Any] = {}
            if status is not None:
                values["status"] = info.status = status
            if end_time is not None:
                values["end_time"] = info.end_time = int(end_time)
            if run_name:
                values["name"] = info.run_name = run_name
                self._upsert_tags(conn, [{"run_uuid": run_id, "key": RUN_NAME_TAG, "value": run_name}])
            if values:
                values["b_run_id"] = run_id
                execute_constant(conn, _UPDATE_RUN, values)
            return info

        return self.db.write(update)

    def delete_run(self, run_id: str) -> None:
        """Move a run to the trash."""
        self._set_run_stage(run_id, LifecycleStage.DELETED, now_ms())

    def restore_run(self, run_id: str) -> None:
        """Bring a run back from the trash."""
        self._set_run_stage(run_id, LifecycleStage.ACTIVE, None)

    def _set_run_stage(self, run_id: str, stage: str, deleted_time: int | None) -> None:
        scope = experiment_scope()
        where = [_R.run_uuid == run_id]
        if scope:  # a run of another workspace's experiment is not found
            where.append(_R.experiment_id.in_(sa.select(_E.experiment_id).where(*scope)))

        def update(conn: sa.Connection) -> None:
            result = conn.execute(
                sa.update(runs).where(*where).values(lifecycle_stage=stage, deleted_time=deleted_time)
            )
            if result.rowcount == 0:
                raise not_found(f"Run with id={run_id} not found")

        self.db.write(update)

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """Every value of ``metric_key``, ordered by step then timestamp; paged if ``max_results``."""
        offset = 0
        if page_token:
            offset = decode_page_token(page_token)
        if max_results is not None:
            max_results = _check_max_results(max_results) if max_results > 0 else None
        with self.db.driver_read() as conn:  # driver SQL only: SQLite's kept read connection
            limit = None if max_results is None else max_results + 1
            history = _metrics.read_history(conn, run_id, metric_key, offset, limit)
        token = None
        if max_results is not None and len(history) > max_results:
            history = history[:max_results]
            token = encode_page_token(offset + max_results)
        return PagedList(history, token)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of runs: ids from the compiled search query, then one bulk load in that order."""
        return self._search_runs(
            load_runs, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    def search_runs_json(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """:meth:`search_runs` with each run as MLflow's REST JSON, built straight from the rows."""
        return self._search_runs(
            load_runs_json, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    def _search_runs(
        self,
        load: Callable[[Any, Sequence[str]], list[Any]],
        experiment_ids: Sequence[str],
        filter_string: str | None,
        run_view_type: int,
        max_results: int,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> PagedList:
        max_results = _check_max_results(max_results)
        offset = decode_page_token(page_token)
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        if active_workspace() is not None:  # another workspace's experiments hold no runs for this caller
            experiment_ids = self._visible_ids(experiment_ids)
        # The page bounds are parameters: every page and page size of a search shares one entry.
        key = (tuple(experiment_ids), filter_string, run_view_type, tuple(order_by or ()))
        # Only plain values make a key; anything odd goes to runs_paged_sql, which explains the error.
        cacheable = all(isinstance(x, (str, int)) for x in (*key[0], *key[3], run_view_type)) and (
            filter_string is None or isinstance(filter_string, str)
        )
        entry = self._search_sql.get(key) if cacheable else None
        if entry is None:
            entry = runs_paged_sql(
                self.engine.dialect, list(experiment_ids), filter_string, run_view_type, order_by
            )
            if cacheable:
                if len(self._search_sql) >= _SEARCH_SQL_CACHE_SIZE:
                    self._search_sql.clear()  # rare: bound memory, no LRU bookkeeping per hit
                self._search_sql[key] = entry
        sql, params = entry.bind(max_results + 1, offset)
        with self.db.driver_read() as conn:
            ids = [r[0] for r in raw_fetchall(conn, sql, params)]
            page = load(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return PagedList(page, token)

    def _visible_ids(self, experiment_ids: Sequence[str]) -> list[str]:
        wanted = [str(e) for e in experiment_ids if str(e).strip().isdigit() and len(str(e).strip()) <= 18]
        with self.db.read() as conn:
            held = set(visible_experiment_ids(conn, [int(e) for e in wanted]))
        return [e for e in experiment_ids if str(e) not in wanted or int(str(e)) in held]

    # -------------------------------------------------------------------- gc
    def get_deleted_runs(self, older_than_ms: int = 0) -> list[str]:
        """Ids of deleted runs whose ``deleted_time`` is at least ``older_than_ms`` ago."""
        cutoff = now_ms() - int(older_than_ms)
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_R.run_uuid)
                .where(_R.lifecycle_stage == LifecycleStage.DELETED, _R.deleted_time <= cutoff)
                .order_by(_R.deleted_time, _R.run_uuid)
            )
            return [r[0] for r in rows]

    def get_deleted_experiments(self, older_than_ms: int = 0) -> list[str]:
        """Ids of deleted experiments last updated (i.e. deleted) at least ``older_than_ms`` ago."""
        cutoff = now_ms() - int(older_than_ms)
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_E.experiment_id)
                .where(_E.lifecycle_stage == LifecycleStage.DELETED, _E.last_update_time <= cutoff)
                .order_by(_E.experiment_id)
            )
            return [str(r[0]) for r in rows]

    def get_run_ids_of_experiment(self, experiment_id: str) -> list[str]:
        """Every run of an experiment, whatever its stage (``mltrail gc`` purges them all)."""
        exp_id = _exp_id(experiment_id)
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(sa.select(_R.run_uuid).where(_R.experiment_id == exp_id))]

    def hard_delete_run(self, run_id: str) -> None:
        """Erase a run and everything logged to it (artifacts are the caller's job)."""

        def erase(conn: sa.Connection) -> None:
            self._erase_runs(conn, [run_id])

        self.db.write(erase)

    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Erase an experiment, its tags, datasets and any runs still in it."""
        exp_id = _exp_id(experiment_id)

        def erase(conn: sa.Connection) -> None:
            self._experiment_stage(conn, exp_id, experiment_id)
            self._erase_experiment(conn, exp_id)

        self.db.write(erase)

    def erase_workspace(self, conn: sa.Connection, workspace: str) -> None:
        """Erase every experiment of ``workspace`` with all it holds, in the caller's transaction
        (``delete_workspace``'s ``CASCADE`` mode)."""
        found = conn.execute(sa.select(_E.experiment_id).where(_E.workspace == workspace))
        for exp_id in [int(r[0]) for r in found]:
            self._erase_experiment(conn, exp_id)

    def _erase_experiment(self, conn: sa.Connection, exp_id: int) -> None:
        run_ids = [r[0] for r in conn.execute(sa.select(_R.run_uuid).where(_R.experiment_id == exp_id))]
        self._erase_runs(conn, run_ids)
        ds_ids = [
            r[0]
            for r in conn.execute(
                sa.select(datasets.c.dataset_uuid).where(datasets.c.experiment_id == exp_id)
            )
        ]
        for part in chunks(ds_ids):
            self._erase_inputs(conn, inputs.c.source_id.in_(list(part)))
        conn.execute(sa.delete(datasets).where(datasets.c.experiment_id == exp_id))
        conn.execute(sa.delete(experiment_tags).where(experiment_tags.c.experiment_id == exp_id))
        erase_experiment_bound(conn, sa.select(_E.experiment_id).where(_E.experiment_id == exp_id))
        _purge_dependents(conn, experiments, _E.experiment_id == exp_id)
        conn.execute(sa.delete(experiments).where(_E.experiment_id == exp_id))


def _purge_dependents(conn: sa.Connection, parent: sa.Table, selected: sa.ColumnElement[bool]) -> None:
    """Delete rows of any other table that reference the ``selected`` rows of ``parent``, deepest first.

    Follows the foreign keys declared in ``schema.py``, so tables other domains add
    later (e.g. logged models under an experiment) are purged without this store
    having to know them.
    """
    for child in metadata.sorted_tables:
        if child is parent:
            continue
        for fk in child.foreign_keys:
            if fk.column.table is not parent or len(fk.constraint.elements) != 1:
                continue
            child_selected = fk.parent.in_(sa.select(fk.column).where(selected))
            _purge_dependents(conn, child, child_selected)
            conn.execute(sa.delete(child).where(child_selected))
