"""Pages of ``search_traces`` in any single sort, read by keyset.

A page token carries the last row's sort value and ``request_id`` (and, for
MLflow's shape, an offset). The next page is the rows after that point in the
order ``(value, request_id)``, both in the sort's direction, with rows that have
no value (a trace without tokens, cost, session...) after all the others. The
database seeks there on an ``(experiment_id, value, request_id)`` index
(migrations 0008 and 0015), so page 500 costs what page 1 does. A sort that may
hold NULLs is read in two steps, the rows with a value and then, if the page is
not full, those without, each an ordered index range.

Orders on several keys, and tokens that carry only an offset (from MLflow's
stores), are paged by offset.

Example::

    cursor = read_cursor(token, "cost", ascending=False)       # None on the first page
    rows = keyset_page(conn, conds, column_for("cost"), nullable=True, ascending=False, cursor=cursor, limit=101)
    token = make_token(100, "cost", False, rows[99])
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import invalid
from mltrail.store.paging import decode_page_token
from mltrail.store.sql.schema import trace_info

_TI = trace_info.c
#: Sort key -> (trace_info column, JSON type of its values, may be NULL).
SORT_COLUMNS: dict[str, tuple[str, type, bool]] = {
    "timestamp_ms": ("timestamp_ms", int, False),
    "execution_time_ms": ("execution_time_ms", int, True),
    "status": ("status", str, False),
    "trace_id": ("request_id", str, False),
    "name": ("trace_name", str, True),
    "session": ("session_id", str, True),
    "user": ("user_id", str, True),
    "total_tokens": ("total_tokens", int, True),
    "input_tokens": ("input_tokens", int, True),
    "output_tokens": ("output_tokens", int, True),
    "cost": ("total_cost", float, True),
}
_MAX_ID = 200


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's sort value (None: a row without one) and id."""

    value: Any
    last_id: str


def _payload(token: str) -> dict[str, Any]:
    raw = token.strip().replace("-", "+").replace("_", "/")
    try:
        doc = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        doc = None
    return doc if isinstance(doc, dict) else {}


def _sort_label(key: str, ascending: bool) -> str:
    return f"{key} {'ASC' if ascending else 'DESC'}"


def read_cursor(token: str | None, key: str, ascending: bool) -> tuple[int, Cursor | None]:
    """``(offset, cursor)`` of a page token for a search sorted by ``key``.

    The cursor is None on the first page and for a token with only an offset.
    A token that is not one of ours, or that was made for another sort, is
    ``INVALID_PARAMETER_VALUE``.
    """
    offset = decode_page_token(token)  # raises on anything that is not a token
    if not token:
        return offset, None
    doc = _payload(token)
    if "after" not in doc:
        return offset, None
    if doc.get("sort") != _sort_label(key, ascending):
        raise invalid(
            f"Invalid page token: it continues a search ordered by {doc.get('sort')!r}, "
            f"not by {_sort_label(key, ascending)!r}; start again without a page token"
        )
    after = doc["after"]
    _column, kind, nullable = SORT_COLUMNS[key]
    if not (
        isinstance(after, list) and len(after) == 2 and isinstance(after[1], str) and len(after[1]) <= _MAX_ID
    ):
        raise invalid("Invalid page token: it does not hold a valid position")
    value = after[0]
    if value is None:
        ok = nullable
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise invalid("Invalid page token: it does not hold a valid position")
    return offset, Cursor(float(value) if kind is float and value is not None else value, after[1])


def make_token(offset: int, key: str | None, ascending: bool, last: Any) -> str:
    """The token after a page: the next offset and, for a keyset sort, the last row ``(request_id, value)``."""
    doc: dict[str, Any] = {"offset": offset}
    if key is not None:
        doc["sort"] = _sort_label(key, ascending)
        doc["after"] = [last[1], last[0]]
    return base64.b64encode(json.dumps(doc).encode("utf-8")).decode("ascii")


def column_for(key: str) -> Any:
    """The ``trace_info`` column a sort key reads."""
    return _TI[SORT_COLUMNS[key][0]]


def keyset_page(
    conn: sa.Connection,
    conds: list[Any],
    key: str,
    ascending: bool,
    cursor: Cursor | None,
    limit: int,
) -> list[Any]:
    """Up to ``limit`` rows ``(request_id, sort value)`` after ``cursor`` in the order of ``key``."""
    col = column_for(key)
    nullable = SORT_COLUMNS[key][2]
    rid = _TI.request_id
    base = sa.select(rid, col).where(*conds)
    rows: list[Any] = []
    if cursor is None or cursor.value is not None:
        query = base.where(col.is_not(None)) if nullable else base
        if cursor is not None:
            point = sa.tuple_(col, rid)
            mark = sa.tuple_(sa.literal(cursor.value), sa.literal(cursor.last_id))
            # The plain bound is redundant but lets MariaDB seek (it reads row comparisons as filters).
            bound = col >= cursor.value if ascending else col <= cursor.value
            query = query.where(bound, point > mark if ascending else point < mark)
        order = (col.asc(), rid.asc()) if ascending else (col.desc(), rid.desc())
        rows = list(conn.execute(query.order_by(*order).limit(limit)))
    if nullable and len(rows) < limit:
        query = base.where(col.is_(None))
        if cursor is not None and cursor.value is None:
            query = query.where(rid > cursor.last_id if ascending else rid < cursor.last_id)
        query = query.order_by(rid.asc() if ascending else rid.desc()).limit(limit - len(rows))
        rows += list(conn.execute(query))
    return rows


def offset_order(key: str, ascending: bool, dialect: str) -> list[Any]:
    """ORDER BY terms of the same order as :func:`keyset_page`, for paging by offset (NULLs last)."""
    col = column_for(key)
    terms: list[Any] = []
    if SORT_COLUMNS[key][2]:
        if dialect == "postgresql":
            terms.append(col.asc().nulls_last() if ascending else col.desc().nulls_last())
            return terms
        terms.append(sa.case((col.is_(None), 1), else_=0))
    terms.append(col.asc() if ascending else col.desc())
    return terms


def tie_breaker(ascending: bool) -> Any:
    """The last ORDER BY term: ``request_id`` in the sort's direction."""
    return _TI.request_id.asc() if ascending else _TI.request_id.desc()
