"""Read-only SQL shortcuts for UI endpoints that the store interface makes slow.

The UI prefers the :class:`~mltrail.store.tracking.TrackingStore` interface; when
the store is SQL-backed and exposes its SQLAlchemy engine, a few endpoints
(metric downsampling, live-run probes, column discovery) read the tables of
:mod:`mltrail.store.sql.schema` directly instead, which is orders of magnitude
cheaper than materialising millions of ``Metric`` objects.
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import invalid


def sql_engine(store: Any) -> Any | None:
    """The store's SQLAlchemy engine, or ``None`` for a store without one (e.g. REST)."""
    for name in ("engine", "_engine"):
        engine = getattr(store, name, None)
        if engine is None:
            continue
        try:
            from sqlalchemy.engine import Engine
        except ImportError:  # pragma: no cover - sqlalchemy is a core dependency
            return None
        if isinstance(engine, Engine):
            return engine
    return None


def experiment_ints(experiment_ids: list[str]) -> list[int]:
    """Experiment ids as the integers the schema stores; a bad id is INVALID_PARAMETER_VALUE."""
    out = []
    for value in experiment_ids:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment id {value!r}") from None
    return out
