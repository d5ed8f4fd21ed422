"""The trace store behind a tracking URI (same rules as the tracking store)."""

from __future__ import annotations

from mltrail.store.traces import TraceStore
from mltrail.tracking._store_registry import StoreCache


def _build(kind: str, target: str, uri: str) -> TraceStore:
    if kind == "rest":
        from mltrail.store.rest_traces import RestTraceStore

        return RestTraceStore(target)
    # The tracking store creates the schema and the Default experiment first.
    from mltrail.store.sql.traces import SqlTraceStore
    from mltrail.tracking._store_registry import get_tracking_store

    get_tracking_store(uri)
    return SqlTraceStore(target)


_stores = StoreCache(_build)


def trace_store_for(uri: str | None = None) -> TraceStore:
    """The (cached) trace store for ``uri``, or for the tracking URI in effect.

    A database URI or local folder gives :class:`~mltrail.store.sql.traces.SqlTraceStore`
    on the same database as the tracking store; ``http(s)://`` gives
    :class:`~mltrail.store.rest_traces.RestTraceStore`.
    """
    from mltrail.tracking._uris import resolve_tracking_uri

    return _stores.get(resolve_tracking_uri(uri))
