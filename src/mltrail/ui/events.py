"""Server-sent events for a live run page.

Each open page holds one ``text/event-stream``. The server polls the store
cheaply (on SQL: one query over the run row and aggregates of its
``latest_metrics``, params and tags), so it works unchanged behind several
stateless server processes: whichever process holds the stream sees writes made
through any other. Only when the probe changes is the full run read and pushed
as an ``event: run`` with the keys of the metrics that moved, so the page
re-fetches just those histories.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from mltrail.store.sql.engine import read_connection
from mltrail.ui.sqlaccess import sql_engine

DEFAULT_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
# Streams end after this long; EventSource reconnects by itself, which bounds the
# lifetime of any one connection (proxies, forgotten tabs).
MAX_STREAM_SECONDS = 300.0


def probe_sql(engine: Any, run_id: str) -> tuple | None:
    """A cheap fingerprint of everything the run page shows, or ``None`` if the run is gone."""
    import sqlalchemy as sa

    from mltrail.store.sql.schema import latest_metrics, params, runs, tags

    lm = (
        sa.select(
            sa.func.count(), sa.func.max(latest_metrics.c.timestamp), sa.func.sum(latest_metrics.c.step)
        )
        .where(latest_metrics.c.run_uuid == run_id)
        .subquery()
    )
    n_params = sa.select(sa.func.count()).where(params.c.run_uuid == run_id).scalar_subquery()
    n_tags = sa.select(sa.func.count()).where(tags.c.run_uuid == run_id).scalar_subquery()
    stmt = (
        sa.select(
            runs.c.status, runs.c.end_time, runs.c.lifecycle_stage, runs.c.name, *lm.c, n_params, n_tags
        )
        .select_from(runs.join(lm, sa.true()))
        .where(runs.c.run_uuid == run_id)
    )
    with read_connection(engine) as conn:
        row = conn.execute(stmt).first()
    return None if row is None else tuple(row)


def run_fingerprint(run: Any) -> tuple:
    """The same idea without SQL: what changes when anything shown on the page changes."""
    info = run.info
    metrics = tuple(sorted((m.key, m.step, m.timestamp) for m in run.data.metric_list))
    tags = tuple(sorted(run.data.tags.items()))
    return (info.status, info.end_time, info.lifecycle_stage, info.run_name, metrics, len(run.data.params), tags)


def _metric_marks(run: Any) -> dict[str, tuple[int, int]]:
    return {m.key: (m.step, m.timestamp) for m in run.data.metric_list}


def _event(name: str, payload: dict[str, Any]) -> str:
    # Run.to_dict spells non-finite floats as strings, so strict JSON always works.
    return f"event: {name}\ndata: {json.dumps(payload, allow_nan=False, default=str)}\n\n"


async def run_event_stream(
    store: Any, run_id: str, poll_seconds: float = DEFAULT_POLL_SECONDS, max_seconds: float = MAX_STREAM_SECONDS
) -> AsyncIterator[str]:
    """Yield SSE frames for one run until ``max_seconds`` pass or the client goes away."""
    from starlette.concurrency import run_in_threadpool

    engine = sql_engine(store)
    started = time.monotonic()
    last_sent = started
    yield "retry: 2000\n\n"
    # Probe before reading: a write landing in between then shows up as a change next time.
    probe = await run_in_threadpool(probe_sql, engine, run_id) if engine is not None else None
    run = await run_in_threadpool(store.get_run, run_id)
    if engine is None:
        probe = run_fingerprint(run)
    marks = _metric_marks(run)
    yield _event("run", {"run": run.to_dict(), "changed_metrics": sorted(marks)})
    while time.monotonic() - started < max_seconds:
        await asyncio.sleep(poll_seconds)
        if engine is not None:
            new_probe = await run_in_threadpool(probe_sql, engine, run_id)
            if new_probe is None:
                yield _event("gone", {"run_id": run_id})
                return
            if new_probe == probe:
                if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                    last_sent = time.monotonic()
                    yield ": keepalive\n\n"
                continue
            probe = new_probe
            run = await run_in_threadpool(store.get_run, run_id)
        else:
            try:
                run = await run_in_threadpool(store.get_run, run_id)
            except Exception:  # the run was erased while the page was open
                yield _event("gone", {"run_id": run_id})
                return
            new_probe = run_fingerprint(run)
            if new_probe == probe:
                if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                    last_sent = time.monotonic()
                    yield ": keepalive\n\n"
                continue
            probe = new_probe
        new_marks = _metric_marks(run)
        changed = sorted(k for k, mark in new_marks.items() if marks.get(k) != mark)
        marks = new_marks
        last_sent = time.monotonic()
        yield _event("run", {"run": run.to_dict(), "changed_metrics": changed})
