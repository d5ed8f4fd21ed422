"""Bulk loading of runs and experiments: one query per child table for a whole page.

``load_runs`` reads the run rows, then latest metrics, params, tags and dataset
inputs with ``WHERE run_uuid IN (...)`` (in chunks), never one query per run. The
run rows say which runs have any dataset inputs or model links, so those two
reads run only for them (for most runs, neither).

These reads are the server's hottest path (every ``runs/get`` and every search
page), so the statements are compiled to SQL text once per dialect and run on
the raw DBAPI cursor: SQLAlchemy's per-execute work (cache lookup, expanding
the ``IN`` list, events, result wrapping) cost several times the query itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from mltrail.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mltrail.store.sql._codec import IN_CHUNK, chunks, decode_value
from mltrail.store.sql._run_models import RUN_INPUT, RUN_OUTPUT, attach_links, links_statement
from mltrail.store.sql.engine import DriverRead, raw_fetchall
from mltrail.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    params,
    runs,
    tags,
)

_IDS = sa.bindparam("ids", expanding=True)
_R = runs.c
_I = inputs.c


def _any_input(*where: sa.ColumnElement[bool]) -> sa.Exists:
    """``EXISTS (SELECT 1 FROM inputs WHERE ...)`` for the run of the enclosing statement."""
    return sa.select(sa.literal_column("1")).where(*where).exists()


# Whether the run may have rows in ``inputs``: dataset inputs, or model links either way.
# Most runs have none; three index-only probes in the run's own statement cost far less
# than the two statements (datasets, model links) they let a load skip. A flag set by a
# row neither statement wants (a destination 'RUN' not from a dataset) only costs those
# two statements, which then find nothing: the flag can skip reads, never rows.
_HAS_INPUTS = sa.or_(
    _any_input(_I.destination_type == sa.literal_column("'RUN'"), _I.destination_id == _R.run_uuid),
    _any_input(_I.source_type == sa.literal_column(f"'{RUN_INPUT}'"), _I.source_id == _R.run_uuid),
    _any_input(_I.source_type == sa.literal_column(f"'{RUN_OUTPUT}'"), _I.source_id == _R.run_uuid),
)
_RUNS = sa.select(
    _R.run_uuid,
    _R.name,
    _R.user_id,
    _R.status,
    _R.start_time,
    _R.end_time,
    _R.artifact_uri,
    _R.lifecycle_stage,
    _R.experiment_id,
    _HAS_INPUTS,
).where(_R.run_uuid.in_(_IDS))
# The child rows by run, then key: one index range per run (the primary key is
# ``(run_uuid, key)``), so a page needs no sort, and each run's rows come together.
# NULL for NaN (stored as 0 flagged ``is_nan``; the value column is NOT NULL): one column
# less per metric, and Python 3.11's sqlite3 hands every column over with a GIL release.
_LM_VALUE = sa.case((latest_metrics.c.is_nan, sa.null()), else_=latest_metrics.c.value)
_LATEST = (
    sa.select(
        latest_metrics.c.run_uuid,
        latest_metrics.c.key,
        _LM_VALUE,
        latest_metrics.c.timestamp,
        latest_metrics.c.step,
    )
    .where(latest_metrics.c.run_uuid.in_(_IDS))
    .order_by(latest_metrics.c.run_uuid, latest_metrics.c.key)
)
_PARAMS = (
    sa.select(params.c.run_uuid, params.c.key, params.c.value)
    .where(params.c.run_uuid.in_(_IDS))
    .order_by(params.c.run_uuid, params.c.key)
)
_TAGS = (
    sa.select(tags.c.run_uuid, tags.c.key, tags.c.value)
    .where(tags.c.run_uuid.in_(_IDS))
    .order_by(tags.c.run_uuid, tags.c.key)
)


def _one_run(stmt: sa.Select) -> sa.Select:
    """``stmt`` without its leading run id: for a single run (``runs/get``) every row is its own."""
    return stmt.with_only_columns(*list(stmt.selected_columns)[1:])


_LATEST_ONE, _PARAMS_ONE, _TAGS_ONE = _one_run(_LATEST), _one_run(_PARAMS), _one_run(_TAGS)


_INPUTS = (
    sa.select(
        inputs.c.destination_id,
        inputs.c.input_uuid,
        datasets.c.name,
        datasets.c.digest,
        datasets.c.dataset_source_type,
        datasets.c.dataset_source,
        datasets.c.dataset_schema,
        datasets.c.dataset_profile,
    )
    .join(datasets, datasets.c.dataset_uuid == inputs.c.source_id)
    .where(
        # Literals, not bound parameters: the ids are the only parameters (see _rows).
        inputs.c.source_type == sa.literal_column("'DATASET'"),
        inputs.c.destination_type == sa.literal_column("'RUN'"),
        inputs.c.destination_id.in_(_IDS),
    )
    .order_by(datasets.c.name, datasets.c.digest)
)
_INPUT_TAGS = sa.select(input_tags.c.input_uuid, input_tags.c.name, input_tags.c.value).where(
    input_tags.c.input_uuid.in_(_IDS)
)
_E = experiments.c
_EXPERIMENTS = sa.select(
    _E.experiment_id, _E.name, _E.artifact_location, _E.lifecycle_stage, _E.creation_time, _E.last_update_time
).where(_E.experiment_id.in_(_IDS))
_EXPERIMENT_TAGS = (
    sa.select(experiment_tags.c.experiment_id, experiment_tags.c.key, experiment_tags.c.value)
    .where(experiment_tags.c.experiment_id.in_(_IDS))
    .order_by(experiment_tags.c.key)
)


_POSTCOMPILE = "__[POSTCOMPILE_ids]"
_sql_text: dict[tuple[str, int], tuple[str, str]] = {}
# Ready SQL by (dialect, statement, number of ids): at most IN_CHUNK texts per statement.
_sql_by_count: dict[tuple[str, int, int], str] = {}


def _driver_sql(dialect: sa.Dialect, stmt: sa.Select) -> tuple[str, str]:
    """``stmt`` as SQL text for ``dialect`` (compiled once) and the driver's placeholder."""
    key = (dialect.name, id(stmt))
    found = _sql_text.get(key)
    if found is None:
        text = str(stmt.compile(dialect=dialect))
        if _POSTCOMPILE not in text:  # every statement here takes exactly the ids list
            raise AssertionError(f"statement without an ids list: {text}")
        found = (text, "?" if dialect.paramstyle == "qmark" else "%s")
        _sql_text[key] = found
    return found


def _sql_for(dialect: sa.Dialect, stmt: sa.Select, count: int) -> str:
    """``stmt``'s SQL text with ``count`` placeholders in its ids list (built once per count)."""
    key = (dialect.name, id(stmt), count)
    text = _sql_by_count.get(key)
    if text is None:
        text, mark = _driver_sql(dialect, stmt)
        text = _sql_by_count[key] = text.replace(_POSTCOMPILE, ", ".join([mark] * count))
    return text


def _rows(conn: sa.Connection | DriverRead, stmt: sa.Select, ids: Sequence[object]) -> list[tuple]:
    """All rows of ``stmt`` for ``ids``, as plain tuples in the select's column order."""
    if not ids:  # no statement: ``IN ()`` is an error on PostgreSQL and MySQL
        return []
    dialect = conn.dialect
    count = len(ids)
    if count <= IN_CHUNK:  # a page or a single run: one statement (runs/get runs six of these)
        sql = _sql_by_count.get((dialect.name, id(stmt), count)) or _sql_for(dialect, stmt, count)
        if type(conn) is DriverRead:
            return conn.fetchall(sql, tuple(ids))
        return raw_fetchall(conn, sql, tuple(ids))
    rows: list[tuple] = []
    for part in chunks(ids):
        rows.extend(raw_fetchall(conn, _sql_for(dialect, stmt, len(part)), tuple(part)))
    return rows


def load_runs(conn: sa.Connection | DriverRead, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the order given (unknown ids are skipped)."""
    if not run_ids:
        return []
    found: dict[str, Run] = {}
    linked: list[str] = []  # the runs that may have dataset inputs or model links
    rows = _rows(conn, _RUNS, run_ids)
    for run_uuid, name, user_id, status, start_time, end_time, uri, stage, exp_id, has_inputs in rows:
        info = RunInfo(
            run_id=run_uuid,
            experiment_id=str(exp_id),
            run_name=name or "",
            user_id=user_id or "",
            status=status,
            start_time=start_time,
            end_time=end_time,
            artifact_uri=uri or "",
            lifecycle_stage=stage,
        )
        found[run_uuid] = Run(info=info, data=RunData(), inputs=RunInputs())
        if has_inputs:
            linked.append(run_uuid)
    ids = list(found)
    for run_id, key, value, timestamp, step in _rows(conn, _LATEST, ids):
        found[run_id].data.metric_list.append(
            Metric(key, decode_value(value, value is None), timestamp, step, run_id=run_id)
        )
    for run_id, key, value in _rows(conn, _PARAMS, ids):
        found[run_id].data.param_list.append(Param(key, value))
    for run_id, key, value in _rows(conn, _TAGS, ids):
        found[run_id].data.tag_list.append(RunTag(key, value if value is not None else ""))
    if linked:
        _load_inputs(conn, found, linked)
        attach_links(found, _rows(conn, links_statement(), linked))
    return [found[i] for i in run_ids if i in found]


def _load_inputs(conn: sa.Connection | DriverRead, found: dict[str, Run], ids: list[str]) -> None:
    by_input: dict[str, DatasetInput] = {}
    for run_id, input_uuid, name, digest, source_type, source, schema, profile in _rows(conn, _INPUTS, ids):
        ds = Dataset(
            name=name, digest=digest, source_type=source_type, source=source, schema=schema, profile=profile
        )
        item = DatasetInput(dataset=ds, tags=[])
        by_input[input_uuid] = item
        found[run_id].inputs.dataset_inputs.append(item)
    if by_input:
        for input_uuid, name, value in _rows(conn, _INPUT_TAGS, list(by_input)):
            by_input[input_uuid].tags.append(InputTag(name, value))


def load_experiments(conn: sa.Connection, experiment_ids: Sequence[int]) -> list[Experiment]:
    """The experiments with these (integer) ids and their tags, in the order given."""
    if not experiment_ids:
        return []
    found: dict[int, Experiment] = {}
    for exp_id, name, location, stage, created, updated in _rows(conn, _EXPERIMENTS, experiment_ids):
        found[int(exp_id)] = Experiment(
            experiment_id=str(exp_id),
            name=name,
            artifact_location=location or "",
            lifecycle_stage=stage,
            tags={},
            creation_time=created,
            last_update_time=updated,
        )
    for exp_id, key, value in _rows(conn, _EXPERIMENT_TAGS, list(found)):
        found[int(exp_id)].tags[key] = value if value is not None else ""
    return [found[int(i)] for i in experiment_ids if int(i) in found]
