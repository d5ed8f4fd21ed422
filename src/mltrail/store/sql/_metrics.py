"""Metric writes (history + latest values) and history reads for the SQL tracking store.

Every write appends to ``metrics`` with one ``executemany`` and keeps
``latest_metrics`` current with MLflow's rule: the newest value of a key is the
one with the larger step, then the larger timestamp, then the larger value.
On SQLite and PostgreSQL that is one conditional upsert per key; MySQL has no
conditional ``ON DUPLICATE KEY`` that compares a tuple, so there we lock the
existing rows and compare in Python.

Metrics that carry a ``model_id`` are also written to ``logged_model_metrics``
(MLflow 3's metrics per LoggedModel) in the same transaction; metrics without one
cost no extra statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities import Metric
from mltrail.exceptions import not_found
from mltrail.store.sql._codec import DBL_MAX, chunks, decode_value, encode_value
from mltrail.store.sql.engine import DriverRead, execute_constant, raw_executemany, raw_fetchall
from mltrail.store.sql.schema import latest_metrics, logged_model_metrics, logged_models, metrics, runs
from mltrail.store.validation import MAX_DATASET_DIGEST_SIZE, MAX_DATASET_NAME_SIZE, too_long

_LM = latest_metrics.c
_INSERT_LATEST = sa.insert(latest_metrics)
_UPDATE_LATEST = (
    sa.update(latest_metrics)
    .where(_LM.run_uuid == sa.bindparam("b_run"), _LM.key == sa.bindparam("b_key"))
    .values(
        value=sa.bindparam("value"),
        timestamp=sa.bindparam("timestamp"),
        step=sa.bindparam("step"),
        is_nan=sa.bindparam("is_nan"),
    )
)
_HISTORY = (
    sa.select(metrics.c.value, metrics.c.timestamp, metrics.c.step, metrics.c.is_nan)
    .where(metrics.c.run_uuid == sa.bindparam("run_id"), metrics.c.key == sa.bindparam("key"))
    .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
)
_conditional_upserts: dict[str, Any] = {}


def _rank(row: dict[str, Any]) -> tuple[int, int, float]:
    return (row["step"], row["timestamp"], row["value"])


def write_metrics(conn: sa.Connection, run_id: str, items: Sequence[Metric]) -> None:
    """Append ``items`` to the history of ``run_id`` and refresh its latest values."""
    rows: list[tuple[Any, ...]] = []
    seen: set[tuple[Any, ...]] = set()
    newest: dict[str, tuple[Any, ...]] = {}
    for_models: list[Metric] = []
    for m in items:
        if m.model_id:  # the only cost metrics without a model pay
            for_models.append(m)
        value = m.value
        if type(value) is float and value - value == 0.0:  # finite (NaN and ±inf give NaN)
            is_nan = False
        else:
            value, is_nan = encode_value(value)
        row = (run_id, m.key, value, int(m.timestamp), int(m.step), is_nan)
        if row in seen:  # MLflow stores an identical (key, value, timestamp, step) once
            continue
        seen.add(row)
        rows.append(row)
        best = newest.get(row[1])
        if best is None or (row[4], row[3], row[2]) > (best[4], best[3], best[2]):
            newest[row[1]] = row
    if for_models:
        write_model_metrics(conn, run_id, for_models)
        rows = _without_logged(conn, run_id, rows, for_models)
    if not rows:
        return
    # executemany straight to the driver with precompiled SQL: no per-row bind processing.
    raw_executemany(conn, _insert_history_sql(conn.dialect), rows)
    _update_latest(conn, run_id, list(newest.values()))


def _without_logged(conn: sa.Connection, run_id: str, rows: list[Any], for_models: Sequence[Metric]) -> list[Any]:
    """``rows`` minus those the run's history already holds as they are.

    ``log_model`` copies the run's metrics at the model's step onto the model by
    logging them again with its ``model_id`` (as MLflow does); MLflow's primary
    key keeps such an identical row once, and so does this. Only batches that
    carry a ``model_id`` pay for the lookup.
    """
    keys = sorted({m.key for m in for_models})
    steps = sorted({int(m.step) for m in for_models})
    found = conn.execute(
        sa.select(metrics.c.key, metrics.c.value, metrics.c.is_nan, metrics.c.timestamp, metrics.c.step).where(
            metrics.c.run_uuid == run_id, metrics.c.key.in_(keys), metrics.c.step.in_(steps)
        )
    )
    held = {(k, v, bool(n), int(t), int(s)) for k, v, n, t, s in found}
    return [r for r in rows if (r[1], r[2], bool(r[5]), r[3], r[4]) not in held]


_HISTORY_COLUMNS = ("run_uuid", "key", "value", "timestamp", "step", "is_nan")
_insert_sql_cache: dict[str, str] = {}

# ------------------------------------------------------------------ metrics per logged model
_LMM = logged_model_metrics.c
_RUN_EXPERIMENT = sa.select(runs.c.experiment_id).where(runs.c.run_uuid == sa.bindparam("run_id"))
_model_metric_inserts: dict[str, Any] = {}


def _insert_model_metrics(dialect: str) -> Any:
    """``INSERT`` that keeps the first row of a primary key (MLflow ignores a re-logged metric too)."""
    stmt = _model_metric_inserts.get(dialect)
    if stmt is None:
        if dialect == "mysql":
            from sqlalchemy.dialects.mysql import insert as mysql_insert

            stmt = mysql_insert(logged_model_metrics).on_duplicate_key_update(metric_step=_LMM.metric_step)
        else:
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            stmt = insert(logged_model_metrics).on_conflict_do_nothing()
        _model_metric_inserts[dialect] = stmt
    return stmt


def write_model_metrics(conn: sa.Connection, run_id: str, items: Sequence[Metric]) -> None:
    """Add ``items`` (each with a ``model_id``) to ``logged_model_metrics`` for ``run_id``.

    Every model must exist (``RESOURCE_DOES_NOT_EXIST`` otherwise, and the caller's
    transaction writes nothing). The experiment is the run's, as in MLflow.
    """
    # MLflow's column widths for a metric's dataset (longer values are refused, never truncated).
    for m in items:
        if m.dataset_name is not None and len(m.dataset_name) > MAX_DATASET_NAME_SIZE:
            raise too_long(f"Metric '{m.key}': dataset_name", len(m.dataset_name), MAX_DATASET_NAME_SIZE)
        if m.dataset_digest is not None and len(m.dataset_digest) > MAX_DATASET_DIGEST_SIZE:
            raise too_long(
                f"Metric '{m.key}': dataset_digest", len(m.dataset_digest), MAX_DATASET_DIGEST_SIZE
            )
    wanted = sorted({str(m.model_id) for m in items})
    found: set[str] = set()
    for part in chunks(wanted):
        found.update(
            r[0]
            for r in conn.execute(
                sa.select(logged_models.c.model_id).where(logged_models.c.model_id.in_(part))
            )
        )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise not_found(f"Logged model with ID '{missing[0]}' not found.")
    experiment = execute_constant(conn, _RUN_EXPERIMENT, {"run_id": run_id})
    if not experiment:
        raise not_found(f"Run with id={run_id} not found")
    experiment_id = experiment[0][0]
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for m in items:
        value, is_nan = encode_value(m.value)
        key = (m.model_id, m.key, int(m.timestamp), int(m.step))
        rows.setdefault(
            key,
            {
                "model_id": m.model_id,
                "metric_name": m.key,
                "metric_timestamp_ms": int(m.timestamp),
                "metric_step": int(m.step),
                "metric_value": None if is_nan else value,
                "experiment_id": experiment_id,
                "run_id": run_id,
                "dataset_uuid": None,
                "dataset_name": m.dataset_name or None,
                "dataset_digest": m.dataset_digest or None,
            },
        )
    conn.execute(_insert_model_metrics(conn.dialect.name), list(rows.values()))


def read_model_metrics(conn: sa.Connection, model_ids: Sequence[str]) -> dict[str, list[Metric]]:
    """The metrics of each model (all rows: every run, step and dataset), by name, step, then time."""
    out: dict[str, list[Metric]] = {}
    for part in chunks(list(model_ids)):
        stmt = (
            sa.select(
                _LMM.model_id,
                _LMM.metric_name,
                _LMM.metric_value,
                _LMM.metric_timestamp_ms,
                _LMM.metric_step,
                _LMM.dataset_name,
                _LMM.dataset_digest,
                _LMM.run_id,
            )
            .where(_LMM.model_id.in_(part))
            .order_by(
                _LMM.model_id, _LMM.metric_name, _LMM.metric_step, _LMM.metric_timestamp_ms, _LMM.run_id
            )
        )
        for model_id, name, value, ts, step, ds_name, ds_digest, run in conn.execute(stmt):
            out.setdefault(model_id, []).append(
                Metric(
                    name,
                    decode_value(0.0, True) if value is None else decode_value(value, False),
                    ts,
                    step,
                    ds_name,
                    ds_digest,
                    run,
                    model_id,
                )
            )
    return out


def _insert_history_sql(dialect: sa.Dialect) -> str:
    """``INSERT INTO metrics (...) VALUES (...)`` in ``dialect``'s positional paramstyle."""
    sql = _insert_sql_cache.get(dialect.name)
    if sql is None:
        preparer = dialect.identifier_preparer
        columns = ", ".join(preparer.quote(c) for c in _HISTORY_COLUMNS)
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO metrics ({columns}) VALUES ({', '.join([marker] * len(_HISTORY_COLUMNS))})"
        _insert_sql_cache[dialect.name] = sql
    return sql


def _conditional_upsert(dialect: str) -> Any:
    """The upsert that keeps the newest value per key (SQLite, PostgreSQL), built once per dialect."""
    stmt = _conditional_upserts.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        base = insert(latest_metrics)
        ex = base.excluded
        stmt = base.on_conflict_do_update(
            index_elements=[_LM.run_uuid, _LM.key],
            set_={"value": ex.value, "timestamp": ex.timestamp, "step": ex.step, "is_nan": ex.is_nan},
            where=sa.tuple_(ex.step, ex.timestamp, ex.value) > sa.tuple_(_LM.step, _LM.timestamp, _LM.value),
        )
        _conditional_upserts[dialect] = stmt
    return stmt


def _update_latest(conn: sa.Connection, run_id: str, rows: list[tuple[Any, ...]]) -> None:
    """Keep ``latest_metrics`` current with the newest of ``rows`` (history rows, one per key)."""
    named = [dict(zip(_HISTORY_COLUMNS, r, strict=True)) for r in rows]
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        execute_constant(conn, _conditional_upsert(dialect), named)  # compiled once, on the driver
        return
    # MySQL: read the current latest rows under a lock, then insert or update.
    current = {
        r.key: (r.step, r.timestamp, r.value)
        for r in conn.execute(
            sa.select(_LM.key, _LM.step, _LM.timestamp, _LM.value)
            .where(_LM.run_uuid == run_id, _LM.key.in_([r["key"] for r in named]))
            .with_for_update()
        )
    }
    inserts = [r for r in named if r["key"] not in current]
    updates = [
        {**r, "b_run": run_id, "b_key": r["key"]}
        for r in named
        if r["key"] in current and _rank(r) > current[r["key"]]
    ]
    if inserts:
        conn.execute(_INSERT_LATEST, inserts)
    if updates:
        conn.execute(_UPDATE_LATEST, updates)


def read_history(
    conn: sa.Connection | DriverRead, run_id: str, key: str, offset: int = 0, limit: int | None = None
) -> list[Metric]:
    """The values of ``key`` for ``run_id`` ordered by step, timestamp (then insertion)."""
    # Histories run to millions of rows: send precompiled SQL straight to the driver and
    # read its plain tuples, skipping SQLAlchemy's per-row processing (~40% of the time).
    paged = limit is not None or offset > 0
    sql, order = _history_sql(conn.dialect, paged)
    named: dict[str, Any] = {"run_id": run_id, "key": key}
    if paged:
        named.update(limit=_NO_LIMIT if limit is None else limit, offset=offset)
    params: Any = tuple(named[n] for n in order) if order else named
    rows = raw_fetchall(conn, sql, params)
    out: list[Metric] = []
    append = out.append
    for value, timestamp, step, is_nan in rows:
        if is_nan or value >= DBL_MAX or value <= -DBL_MAX:
            value = decode_value(value, is_nan)
        append(Metric(key, value, timestamp, step, None, None, run_id))
    return out


# "No limit" for a paged read that only skips rows (fits MySQL's unsigned BIGINT too).
_NO_LIMIT = 2**62
_HISTORY_PAGE = _HISTORY.limit(sa.bindparam("limit", type_=sa.BigInteger)).offset(
    sa.bindparam("offset", type_=sa.BigInteger)
)
_history_sql_cache: dict[tuple[str, bool], tuple[str, list[str] | None]] = {}


def _history_sql(dialect: sa.Dialect, paged: bool) -> tuple[str, list[str] | None]:
    """The history query compiled for ``dialect``, and its parameter names in order if positional.

    MySQL spells ``LIMIT offset, count``, so the order comes from the compiler, never assumed.
    """
    cached = _history_sql_cache.get((dialect.name, paged))
    if cached is None:
        compiled = (_HISTORY_PAGE if paged else _HISTORY).compile(dialect=dialect)
        order = list(compiled.positiontup) if compiled.positional else None
        cached = (str(compiled), order)
        _history_sql_cache[(dialect.name, paged)] = cached
    return cached
