"""The trace store behind a tracking URI (same rules as the tracking store)."""

from __future__ import annotations

import threading

from mltrail.store.traces import TraceStore

_stores: dict[tuple[str, str], TraceStore] = {}
_lock = threading.Lock()


def trace_store_for(uri: str | None = None) -> TraceStore:
    """The (cached) trace store for ``uri``, or for the tracking URI in effect.

    A database URI or local folder gives :class:`~mltrail.store.sql.traces.SqlTraceStore`
    on the same database as the tracking store; ``http(s)://`` gives
    :class:`~mltrail.store.rest_traces.RestTraceStore`.
    """
    from mltrail.tracking._store_registry import plan_store
    from mltrail.tracking._uris import resolve_tracking_uri

    kind, target, _root = plan_store(resolve_tracking_uri(uri))
    key = (kind, target)
    store = _stores.get(key)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(key)
        if store is None:
            if kind == "rest":
                from mltrail.store.rest_traces import RestTraceStore

                store = RestTraceStore(target)
            else:
                # The tracking store creates the schema and the Default experiment first.
                from mltrail.store.sql.traces import SqlTraceStore
                from mltrail.tracking._store_registry import get_tracking_store

                get_tracking_store(uri)
                store = SqlTraceStore(target)
            _stores[key] = store
    return store
