"""Small helpers shared by the SQL tracking store modules: value encoding, chunking, upserts, time."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

DBL_MAX = sys.float_info.max
# Well under SQLite's 32,766 bound variables and kind to PostgreSQL/MySQL planners.
IN_CHUNK = 500


def now_ms() -> int:
    """Milliseconds since the epoch, MLflow's unit for every timestamp."""
    return time.time_ns() // 1_000_000


def encode_value(value: float) -> tuple[float, bool]:
    """SQLite turns NaN into NULL and MySQL rejects non-finite doubles: NaN -> (0, True), ±inf -> ±DBL_MAX."""
    value = float(value)
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (DBL_MAX if value > 0 else -DBL_MAX), False
    return value, False


def decode_value(value: float, is_nan: Any) -> float:
    """The inverse of :func:`encode_value`."""
    if is_nan:
        return math.nan
    if value >= DBL_MAX:
        return math.inf
    if value <= -DBL_MAX:
        return -math.inf
    return value


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size`` (for ``IN (...)`` lists)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


_upserts: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE`` setting ``update`` columns; built once per dialect."""
    cache_key = (dialect, table.name, update)
    stmt = _upserts.get(cache_key)
    if stmt is not None:
        return stmt
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        base = mysql_insert(table)
        stmt = base.on_duplicate_key_update({c: base.inserted[c] for c in update})
    else:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        base = dialect_insert(table)
        stmt = base.on_conflict_do_update(
            index_elements=list(keys), set_={c: base.excluded[c] for c in update}
        )
    _upserts[cache_key] = stmt
    return stmt
