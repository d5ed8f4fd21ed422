"""Copies of a trace's session, user, token and cost metadata as indexed ``trace_info`` columns.

The trace's name (the ``mlflow.traceName`` tag) is copied too, into
``trace_name`` (migration 0015), for the sort by name (:func:`set_name`).

The values live in ``trace_request_metadata`` (``mlflow.trace.session``,
``mlflow.trace.user``, ``mlflow.trace.tokenUsage``, ``mlflow.trace.cost``), as
MLflow keeps them. Filters, sorts, totals and the sessions page read the
copies in ``trace_info`` instead (migration 0008), so they cost an index read,
not one metadata lookup per trace. :func:`sync` rewrites the copies of some
traces from their metadata; the store calls it in the transaction that writes
that metadata, so copies and metadata never disagree.

A session or user id longer than :data:`ID_WIDTH` characters is not copied
(the column stays NULL); filters on such a value fall back to the metadata.

Example::

    column_values({"mlflow.trace.session": "s1", "mlflow.trace.tokenUsage": '{"total_tokens": 9}'})
    # {"session_id": "s1", "user_id": None, "input_tokens": None, "output_tokens": None,
    #  "total_tokens": 9, "input_cost": None, "output_cost": None, "total_cost": None}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities.trace import TraceMetadataKey
from mltrail.store.sql._codec import chunks
from mltrail.store.sql.schema import trace_info, trace_request_metadata

#: Widest session / user id copied into ``trace_info`` (an index key on MariaDB stays small).
ID_WIDTH = 255
#: The metadata keys the columns copy.
SOURCE_KEYS = (
    TraceMetadataKey.TRACE_SESSION,
    TraceMetadataKey.TRACE_USER,
    TraceMetadataKey.TOKEN_USAGE,
    TraceMetadataKey.COST,
)
#: ``(column, metadata key, JSON field)`` of the numeric copies.
NUMBER_COLUMNS = (
    ("input_tokens", TraceMetadataKey.TOKEN_USAGE, "input_tokens"),
    ("output_tokens", TraceMetadataKey.TOKEN_USAGE, "output_tokens"),
    ("total_tokens", TraceMetadataKey.TOKEN_USAGE, "total_tokens"),
    ("input_cost", TraceMetadataKey.COST, "input_cost"),
    ("output_cost", TraceMetadataKey.COST, "output_cost"),
    ("total_cost", TraceMetadataKey.COST, "total_cost"),
)
#: Every copied column.
COLUMNS = ("session_id", "user_id", *(c for c, _, _ in NUMBER_COLUMNS))
_INT_COLUMNS = ("input_tokens", "output_tokens", "total_tokens")
_BIGGEST = 2**63 - 1


def _short(value: str | None) -> str | None:
    return value if value is not None and value != "" and len(value) <= ID_WIDTH else None


def _number(doc: Any, field: str, integer: bool) -> int | float | None:
    value = doc.get(field) if isinstance(doc, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if integer:
        return int(value) if abs(value) <= _BIGGEST else None
    return float(value)


def column_values(meta: Mapping[str, str]) -> dict[str, Any]:
    """The column copies of one trace's metadata (None where a value is missing or unusable)."""
    docs: dict[str, Any] = {}
    for key in (TraceMetadataKey.TOKEN_USAGE, TraceMetadataKey.COST):
        try:
            docs[key] = json.loads(meta[key]) if meta.get(key) else None
        except (ValueError, TypeError):
            docs[key] = None
    out: dict[str, Any] = {
        "session_id": _short(meta.get(TraceMetadataKey.TRACE_SESSION)),
        "user_id": _short(meta.get(TraceMetadataKey.TRACE_USER)),
    }
    for column, key, field in NUMBER_COLUMNS:
        out[column] = _number(docs[key], field, column in _INT_COLUMNS)
    return out


def sync(conn: sa.Connection, trace_ids: Sequence[str]) -> None:
    """Rewrite the column copies of ``trace_ids`` from their stored metadata (one read, one update each)."""
    m = trace_request_metadata.c
    ids = list(dict.fromkeys(trace_ids))
    meta: dict[str, dict[str, str]] = {t: {} for t in ids}
    for part in chunks(ids):
        query = sa.select(m.request_id, m.key, m.value).where(m.request_id.in_(part), m.key.in_(SOURCE_KEYS))
        for request_id, key, value in conn.execute(query):
            meta[request_id][key] = value
    rows = [
        {"rid": t, **{f"v_{k}": v for k, v in column_values(values).items()}} for t, values in meta.items()
    ]
    if rows:
        stmt = (
            sa.update(trace_info)
            .where(trace_info.c.request_id == sa.bindparam("rid"))
            .values({c: sa.bindparam(f"v_{c}") for c in COLUMNS})
        )
        conn.execute(stmt, rows)


#: Characters of a trace's name (the ``mlflow.traceName`` tag) copied into ``trace_info.trace_name`` (0015).
NAME_WIDTH = 255


def set_name(conn: sa.Connection, trace_id: str, name: str | None) -> None:
    """Copy a trace's name tag (its first :data:`NAME_WIDTH` characters) into the sorted column."""
    value = None if name is None else name[:NAME_WIDTH]
    conn.execute(sa.update(trace_info).where(trace_info.c.request_id == trace_id).values(trace_name=value))
