"""Server-sent events for a live run page.

Each open page holds one ``text/event-stream``. The server polls the store's
``run_change_probe`` (on SQL: one query over the run row and aggregates of its
``latest_metrics``, params and tags), so it works unchanged behind several
stateless server processes: whichever process holds the stream sees writes made
through any other. Only when the probe changes is the full run read and pushed
as an ``event: run`` with the keys of the metrics that moved, so the page
re-fetches just those histories.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

DEFAULT_POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
# Streams end after this long; EventSource reconnects by itself, which bounds the
# lifetime of any one connection (proxies, forgotten tabs).
MAX_STREAM_SECONDS = 300.0


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

    started = time.monotonic()
    last_sent = started
    yield "retry: 2000\n\n"
    # Probe before reading: a write landing in between then shows up as a change next time.
    probe = await run_in_threadpool(store.run_change_probe, run_id)
    run = await run_in_threadpool(store.get_run, run_id)
    marks = _metric_marks(run)
    yield _event("run", {"run": run.to_dict(), "changed_metrics": sorted(marks)})
    while time.monotonic() - started < max_seconds:
        await asyncio.sleep(poll_seconds)
        new_probe = await run_in_threadpool(store.run_change_probe, run_id)
        if new_probe is None:
            yield _event("gone", {"run_id": run_id})
            return
        if new_probe == probe:
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ": keepalive\n\n"
            continue
        probe = new_probe
        try:
            run = await run_in_threadpool(store.get_run, run_id)
        except Exception:  # the run was erased between the probe and the read
            yield _event("gone", {"run_id": run_id})
            return
        new_marks = _metric_marks(run)
        changed = sorted(k for k, mark in new_marks.items() if marks.get(k) != mark)
        marks = new_marks
        last_sent = time.monotonic()
        yield _event("run", {"run": run.to_dict(), "changed_metrics": changed})


def poll_seconds_from_env() -> float:
    """How often live pages poll the store: ``MLTRAIL_UI_POLL_SECONDS`` (0.05 to 60), default 1."""
    raw = os.environ.get("MLTRAIL_UI_POLL_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_POLL_SECONDS
    except ValueError:
        value = DEFAULT_POLL_SECONDS
    return min(60.0, max(0.05, value))


def poll_seconds(state: Any) -> float:
    """The app's poll interval (tests set ``app.state.ui_poll_seconds``), else the environment's."""
    return getattr(state, "ui_poll_seconds", None) or poll_seconds_from_env()
