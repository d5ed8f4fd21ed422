"""The tracking store's UI reads on every backend: downsampling, live-run probes and column keys.

The SQL store's answers (store/sql/ui_reads.py, store/sql/_history.py) are compared with the
TrackingStore interface's generic defaults (what a store without SQL serves), against the real
schema on SQLite, PostgreSQL and MariaDB, since integer division and GROUP BY differ per dialect.
"""

from __future__ import annotations

import math
import uuid

import pytest

from mltrail.entities import Metric, Param, RunTag
from mltrail.store.downsample import bucket_points
from mltrail.store.sql import _history
from mltrail.store.tracking import TrackingStore
from mltrail.ui import events
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def store(request, tmp_path):
    from mltrail.store.sql.tracking import SqlTrackingStore

    uri = request.getfixturevalue(f"{request.param}_uri")
    s = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    yield s
    s.engine.dispose()


def _run(store, **kw):
    exp = store.create_experiment(f"ui-sql-{uuid.uuid4().hex[:8]}")
    return exp, store.create_run(exp, "tester", 1_000, [], "r").info.run_id


def _log(store, run_id, key, values, t0=1_000_000):
    metrics = [Metric(key, v, t0 + i * 7, i) for i, v in enumerate(values)]
    for i in range(0, len(metrics), 1000):
        store.log_batch(run_id, metrics=metrics[i : i + 1000])


def test_sql_downsampling_matches_python_and_keeps_spikes(store):
    _, run_id = _run(store)
    values = [math.sin(i / 500) for i in range(12000)]
    values[4321] = 99.0
    values[9000] = -99.0
    values[50] = float("nan")  # skipped, never breaks the envelope
    _log(store, run_id, "loss", values)
    # raw_limit=0: the GROUP BY (or SQLite range) path that long series take; the default: rows bucketed in Python.
    for axis, raw_limit in (("step", 0), ("time", 0), ("step", 20_000)):
        got = _history.sampled_history(store.db, run_id, "loss", axis, 1000, raw_limit)
        ref = TrackingStore.metric_history_sampled(store, run_id, "loss", axis, 1000)
        assert got["downsampled"] and ref["downsampled"]
        assert got["total"] == ref["total"] == 12000
        assert len(got["value"]) == len(ref["value"]) <= 1000
        assert max(got["max"]) == 99.0 and min(got["min"]) == -99.0
        assert got["min"] == pytest.approx(ref["min"]) and got["max"] == pytest.approx(ref["max"])
        assert got["value"] == pytest.approx(ref["value"])
        assert got["step"] == pytest.approx(ref["step"])
    assert store.metric_history_sampled(run_id, "loss", "time", 1000) == _history.sampled_history(
        store.db, run_id, "loss", "time", 1000, _history.RAW_BUCKET_LIMIT)
    raw = store.metric_history_sampled(run_id, "loss", "step", 20000)
    assert raw["downsampled"] is False and raw["step"][:3] == [0, 1, 2] and len(raw["value"]) == 11999


def test_probe_changes_exactly_when_the_run_page_would(store):
    _, run_id = _run(store)
    probe = store.run_change_probe
    first = probe(run_id)
    assert first is not None and probe(run_id) == first
    store.log_batch(run_id, metrics=[Metric("acc", 0.5, 2_000, 1)])
    second = probe(run_id)
    assert second != first
    store.log_batch(run_id, params=[Param("lr", "0.1")])
    third = probe(run_id)
    assert third != second
    store.set_tag(run_id, RunTag("team", "a"))
    fourth = probe(run_id)
    assert fourth != third
    store.update_run_info(run_id, "FINISHED", 3_000, None)
    assert probe(run_id) != fourth
    assert probe("f" * 32) is None


def test_column_keys_via_sql_and_via_the_interface_agree(store):
    exp, run_id = _run(store)
    store.log_batch(run_id, metrics=[Metric("loss", 1.0, 1, 0)], params=[Param("lr", "1")],
                    tags=[RunTag("team", "x")])
    other = store.create_run(exp, "tester", 2_000, [], "s").info.run_id
    store.log_batch(other, params=[Param("batch", "8")])
    via_sql = store.experiment_columns([exp])
    via_store = TrackingStore.experiment_columns(store, [exp])
    assert via_sql == via_store
    assert via_sql["params"] == ["batch", "lr"] and via_sql["metrics"] == ["loss"]
    assert "team" in via_sql["tags"]


def test_bucket_points_is_exact_on_a_tiny_series():
    out = bucket_points([0, 1, 2, 3], [10, 11, 12, 13], [1.0, 9.0, 1.0, 1.0], "step", 2)
    # One bucket (max_points // 2): mean, min and max of everything.
    assert out == {"total": 4, "downsampled": True, "step": [1.5], "timestamp": [11.5], "value": [3.0],
                   "min": [1.0], "max": [9.0]}
    untouched = bucket_points([0, 1], [5, 6], [1.0, float("inf")], "time", 10)
    assert untouched == {"total": 2, "downsampled": False, "step": [0], "timestamp": [5], "value": [1.0]}


_UI_READS = ("experiment_run_summaries", "metric_point_counts", "metric_history_sampled",
             "metric_histories_sampled", "experiment_columns", "run_change_probe")


class _InterfaceOnly:
    """The real SQL store whose UI reads are the interface's generic defaults (as a store without SQL)."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        if name in _UI_READS:
            return getattr(TrackingStore, name).__get__(self)
        return getattr(self._inner, name)


def test_event_stream_without_sql_uses_the_store_interface(tmp_path):
    import asyncio
    import concurrent.futures
    import json

    from mltrail.store.sql.tracking import SqlTrackingStore

    inner = SqlTrackingStore(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path / "a"))
    store = _InterfaceOnly(inner)
    _, run_id = _run(inner)

    async def collect() -> list[tuple[str, dict]]:
        out = []
        stream = events.run_event_stream(store, run_id, poll_seconds=0.05, max_seconds=5)
        async for frame in stream:
            if not frame.startswith("event:"):
                continue
            name, data = frame.split("\n")[0][7:], json.loads(frame.split("\n")[1][6:])
            out.append((name, data))
            if len(out) == 1:
                await asyncio.to_thread(inner.log_batch, run_id, [Metric("acc", 0.5, 5, 3)])
            else:
                await stream.aclose()
                break
        return out

    # A thread of its own: the browser tests' Playwright may own this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        frames = pool.submit(lambda: asyncio.run(collect())).result(timeout=30)
    assert [name for name, _ in frames] == ["run", "run"]
    assert frames[1][1]["changed_metrics"] == ["acc"]
    inner.engine.dispose()
