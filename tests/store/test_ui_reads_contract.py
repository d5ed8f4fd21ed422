"""The UI reads of the TrackingStore interface, as a contract every store keeps.

Runs on the SQL store (SQLite, PostgreSQL, MariaDB: tests/store/conftest.py) and, through
tests/server/test_rest_store_contract.py, on the REST store against a live server.
"""

from __future__ import annotations

import math

import pytest

from mltrail.entities import Metric, Param, RunTag
from mltrail.store.downsample import bucket_points


def _runs(store, *names):
    exp = store.create_experiment("ui-reads-contract")
    return exp, [store.create_run(exp, "tester", 1_000 + i, [], n).info.run_id for i, n in enumerate(names)]


def _log(store, run_id, key, values):
    metrics = [Metric(key, v, 10_000 + i, i) for i, v in enumerate(values)]
    for i in range(0, len(metrics), 1000):
        store.log_batch(run_id, metrics=metrics[i : i + 1000])


def test_sampled_histories_keep_short_series_and_envelope_long_ones(store):
    _, (short, long_, quiet) = _runs(store, "short", "long", "quiet")
    _log(store, short, "loss", [1.0, float("nan"), 3.0])
    values = [math.sin(i / 100) for i in range(3000)]
    values[1234] = 50.0
    _log(store, long_, "loss", values)
    got = store.metric_history_sampled(short, "loss", "step", 100)
    assert got == {"total": 3, "downsampled": False, "step": [0, 2], "timestamp": [10_000, 10_002], "value": [1.0, 3.0]}
    for axis in ("step", "time"):
        got = store.metric_history_sampled(long_, "loss", axis, 100)
        ref = bucket_points(list(range(3000)), [10_000 + i for i in range(3000)], values, axis, 100)
        assert got["downsampled"] and got["total"] == 3000 and len(got["value"]) <= 100
        assert max(got["max"]) == 50.0
        assert got["value"] == pytest.approx(ref["value"]) and got["max"] == pytest.approx(ref["max"])
        bulk = store.metric_histories_sampled([short, long_, quiet], "loss", axis, 100)
        assert bulk[long_] == got and bulk[short]["total"] == 3
        assert bulk[quiet] == {"total": 0, "downsampled": False, "step": [], "timestamp": [], "value": []}


def test_point_counts_columns_and_summaries(store):
    exp, (a, b) = _runs(store, "a", "b")
    _log(store, a, "loss", [0.5] * 25)
    store.log_batch(a, params=[Param("lr", "0.1")], tags=[RunTag("team", "x")])
    store.log_batch(b, metrics=[Metric("acc", 0.9, 1, 0)], params=[Param("batch", "8")])
    assert store.metric_point_counts([a, b]) == {a: {"loss": 25}, b: {"acc": 1}}
    cols = store.experiment_columns([exp])
    assert cols["params"] == ["batch", "lr"] and cols["metrics"] == ["acc", "loss"] and "team" in cols["tags"]
    store.update_run_info(b, "FINISHED", 5_000, None)
    summary = store.experiment_run_summaries([exp])
    assert summary == {exp: {"runs": 2, "running": 1, "last_run_start": 1_001}}


def test_run_change_probe_moves_with_the_run(store):
    _, (run_id,) = _runs(store, "live")
    first = store.run_change_probe(run_id)
    assert first is not None and store.run_change_probe(run_id) == first
    store.log_batch(run_id, metrics=[Metric("acc", 0.5, 2_000, 1)])
    second = store.run_change_probe(run_id)
    assert second != first
    store.set_tag(run_id, RunTag("team", "a"))
    assert store.run_change_probe(run_id) != second
    assert store.run_change_probe("f" * 32) is None
