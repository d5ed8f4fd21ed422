"""Metric history downsampled in the database, for the tracking store's UI reads.

The SQL side of :mod:`mltrail.store.downsample`: count first (from the
``(run_uuid, key, step, timestamp)`` index alone), return short series as they
are, bucket series of up to ``RAW_BUCKET_LIMIT`` points from their rows in
Python, and group longer ones in the database (on SQLite, one index range scan
per bucket). Every path gives the same envelope as
:func:`~mltrail.store.downsample.bucket_points`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mltrail.store.downsample import NON_FINITE_ABS, bucket_points
from mltrail.store.sql._codec import chunks
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import metrics as m

# Series up to this many points are downsampled in Python from their rows: measured on
# SQLite, rows win below a few thousand points, the database's bucketing above.
RAW_BUCKET_LIMIT = 5_000


def sampled_history(
    db: Database, run_id: str, key: str, axis: str, max_points: int, raw_limit: int = RAW_BUCKET_LIMIT
) -> dict[str, Any]:
    """Downsample in the database: count first, then raw rows, rows bucketed here (up to
    ``raw_limit`` points) or one GROUP BY."""
    finite = sa.and_(
        m.c.run_uuid == run_id,
        m.c.key == key,
        m.c.is_nan == sa.false(),
        m.c.value < NON_FINITE_ABS,
        m.c.value > -NON_FINITE_ABS,
    )
    x = m.c.step if axis == "step" else m.c.timestamp
    this_run = sa.and_(m.c.run_uuid == run_id, m.c.key == key)
    with db.read() as conn:
        # Count and range from the (run_uuid, key, step, timestamp) index alone: no row reads.
        total, lo, hi = conn.execute(sa.select(sa.func.count(), sa.func.min(x), sa.func.max(x)).where(this_run)).one()
        total = int(total or 0)
        if total <= max_points:
            rows = conn.execute(
                sa.select(m.c.step, m.c.timestamp, m.c.value).where(finite).order_by(m.c.step, m.c.timestamp, m.c.id)
            ).all()
            return {
                "total": total,
                "downsampled": False,
                "step": [int(r[0]) for r in rows],
                "timestamp": [int(r[1]) for r in rows],
                "value": [float(r[2]) for r in rows],
            }
        if total <= raw_limit:
            # A short series (the usual run): reading its rows and bucketing here is one indexed
            # scan, cheaper than one GROUP BY or a range query per bucket.
            rows = conn.execute(
                sa.select(m.c.step, m.c.timestamp, m.c.value).where(finite).order_by(m.c.step, m.c.timestamp, m.c.id)
            ).all()
            out = bucket_points([int(r[0]) for r in rows], [int(r[1]) for r in rows], [float(r[2]) for r in rows],
                                axis, max_points)
            return {**out, "total": total}  # every logged point, NaN included, as the other paths count
        buckets = max_points // 2
        span = int(hi) - int(lo) + 1
        if db.dialect == "sqlite" and axis == "step":
            rows = _sqlite_step_ranges(conn, run_id, key, int(lo), buckets, span)
            return _envelope(total, rows)
        bucket = _bucket_expression(db.engine.dialect, x, int(lo), buckets, span)
        stmt = (
            sa.select(
                bucket.label("b"),
                sa.func.count(),
                sa.func.avg(m.c.step),
                sa.func.avg(m.c.timestamp),
                sa.func.avg(m.c.value),
                sa.func.min(m.c.value),
                sa.func.max(m.c.value),
            )
            .where(finite)
            .group_by(sa.literal_column("b"))
            .order_by(sa.literal_column("b"))
        )
        rows = conn.execute(stmt).all()
    return _envelope(total, [tuple(r[1:]) for r in rows])


def sampled_histories(
    db: Database, run_ids: list[str], key: str, axis: str, max_points: int
) -> dict[str, dict[str, Any]]:
    """One key of many runs, each as :func:`sampled_history` answers it, in a few queries.

    One ``GROUP BY`` counts every run's points; the runs of up to ``RAW_BUCKET_LIMIT``
    points (nearly all) are read in one ``IN`` query per chunk and bucketed here;
    longer runs take the single-run path. A run without the key gets ``total`` 0.
    """
    totals: dict[str, int] = {}
    rows_of: dict[str, list[tuple]] = {}
    with db.read() as conn:
        for part in chunks(run_ids):
            count = sa.select(m.c.run_uuid, sa.func.count()).where(m.c.run_uuid.in_(part), m.c.key == key)
            totals.update((r, int(n)) for r, n in conn.execute(count.group_by(m.c.run_uuid)))
        short = [r for r in run_ids if 0 < totals.get(r, 0) <= RAW_BUCKET_LIMIT]
        for part in chunks(short):
            stmt = (
                sa.select(m.c.run_uuid, m.c.step, m.c.timestamp, m.c.value)
                .where(m.c.run_uuid.in_(part), m.c.key == key, m.c.is_nan == sa.false(),
                       m.c.value < NON_FINITE_ABS, m.c.value > -NON_FINITE_ABS)
                .order_by(m.c.run_uuid, m.c.step, m.c.timestamp, m.c.id)
            )
            for r in conn.execute(stmt).all():  # all(): row-by-row iteration costs several times more
                rows_of.setdefault(r[0], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for run_id in run_ids:
        total = totals.get(run_id, 0)
        if total > RAW_BUCKET_LIMIT:
            out[run_id] = sampled_history(db, run_id, key, axis, max_points)
            continue
        rows = rows_of.get(run_id, [])
        sampled = bucket_points([int(r[1]) for r in rows], [int(r[2]) for r in rows], [float(r[3]) for r in rows],
                                axis, max_points)
        out[run_id] = {**sampled, "total": total}
    return out


def _envelope(total: int, rows: list[tuple]) -> dict[str, Any]:
    """Rows of (count, avg step, avg timestamp, avg value, min, max) as the response arrays."""
    rows = [r for r in rows if r[0]]
    return {
        "total": total,
        "downsampled": True,
        "step": [float(r[1]) for r in rows],
        "timestamp": [float(r[2]) for r in rows],
        "value": [float(r[3]) for r in rows],
        "min": [float(r[4]) for r in rows],
        "max": [float(r[5]) for r in rows],
    }


_SQLITE_RANGE = (
    "SELECT count(*), avg(step), avg(timestamp), avg(value), min(value), max(value) FROM metrics"
    " WHERE run_uuid = ? AND key = ? AND step >= ? AND step < ? AND is_nan = 0"
    " AND value < 1e308 AND value > -1e308"
)


def _sqlite_step_ranges(conn: Any, run_id: str, key: str, lo: int, buckets: int, span: int) -> list[tuple]:
    """One index range scan per bucket, on SQLite's own cursor.

    SQLite sorts a GROUP BY over an expression in a temporary B-tree; walking the
    ``(run_uuid, key, step)`` index bucket by bucket reads the same rows without
    that sort (about 40% faster on a million points). The bounds reproduce
    ``(step - lo) * buckets // span`` exactly, so results equal the GROUP BY's.
    """
    cursor = conn.connection.driver_connection.cursor()
    try:
        rows = []
        for b in range(buckets):
            start = lo + (b * span + buckets - 1) // buckets
            stop = lo + ((b + 1) * span + buckets - 1) // buckets
            if stop > start:
                rows.append(cursor.execute(_SQLITE_RANGE, (run_id, key, start, stop)).fetchone())
        return rows
    finally:
        cursor.close()


def _bucket_expression(dialect: sa.Dialect, column: Any, lo: int, buckets: int, span: int) -> Any:
    """``(column - lo) * buckets / span`` in integer arithmetic, spelled for the dialect.

    The numbers are ours (ints), not user input, so they are inlined: the GROUP BY
    then names one literal expression on every dialect. SQLite and PostgreSQL
    divide integers exactly; MySQL needs ``DIV``. (SQLAlchemy's ``//`` renders
    ``FLOOR(a / b)``, which some SQLite builds lack and which defeats integer math.)
    """
    prep = dialect.identifier_preparer
    name = f"{prep.format_table(column.table)}.{prep.format_column(column)}"
    op = "DIV" if dialect.name in ("mysql", "mariadb") else "/"
    return sa.literal_column(f"(({name} - {int(lo)}) * {int(buckets)}) {op} {int(span)}")
