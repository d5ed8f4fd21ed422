"""The store's UI aggregates (store/sql/ui_reads.py) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid

import pytest

from mltrail.entities import Metric
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def store(request, tmp_path):
    from mltrail.store.sql.tracking import SqlTrackingStore

    uri = request.getfixturevalue(f"{request.param}_uri")
    s = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    yield s
    s.engine.dispose()


def test_experiment_run_summaries_count_active_and_running_runs(store):
    busy = store.create_experiment(f"ui-reads-{uuid.uuid4().hex[:8]}")
    empty = store.create_experiment(f"ui-reads-{uuid.uuid4().hex[:8]}")
    runs = [store.create_run(busy, "tester", 1_000 + i, [], f"r{i}").info.run_id for i in range(4)]
    store.update_run_info(runs[0], "FINISHED", 5_000, None)
    store.update_run_info(runs[1], "FAILED", 5_000, None)
    store.delete_run(runs[2])  # deleted runs are not counted
    out = store.experiment_run_summaries([busy, empty])
    assert out == {busy: {"runs": 3, "running": 1, "last_run_start": 1_003}}
    assert out[busy] == store.experiment_run_summaries(None)[busy]


def test_metric_point_counts_per_run_and_key(store):
    exp = store.create_experiment(f"ui-reads-{uuid.uuid4().hex[:8]}")
    a = store.create_run(exp, "tester", 1_000, [], "a").info.run_id
    b = store.create_run(exp, "tester", 1_000, [], "b").info.run_id
    quiet = store.create_run(exp, "tester", 1_000, [], "quiet").info.run_id
    store.log_batch(a, metrics=[Metric("loss", 1.0 / (i + 1), 1_000 + i, i) for i in range(25)])
    store.log_batch(a, metrics=[Metric("acc", 0.9, 1_000, 0)])
    # Logged again at the same step (no step given): still a history of two values.
    store.log_batch(b, metrics=[Metric("acc", 0.5, 1_000, 0), Metric("acc", 0.6, 2_000, 0)])
    assert store.metric_point_counts([a, b, quiet]) == {a: {"loss": 25, "acc": 1}, b: {"acc": 2}, quiet: {}}
    assert store.metric_point_counts([]) == {}


def test_bulk_histories_equal_one_run_at_a_time(store):
    from mltrail.store.sql._history import RAW_BUCKET_LIMIT

    exp = store.create_experiment(f"ui-reads-{uuid.uuid4().hex[:8]}")
    short, long_, empty = (store.create_run(exp, "tester", 1_000, [], n).info.run_id for n in ("short", "long", "empty"))
    store.log_batch(short, metrics=[Metric("loss", 1.0 / (i + 1), 1_000 + i, i) for i in range(300)]
                    + [Metric("loss", float("nan"), 5_000, 300)])
    points = [Metric("loss", float(i % 97), 1_000 + i, i) for i in range(RAW_BUCKET_LIMIT + 500)]
    for i in range(0, len(points), 1000):
        store.log_batch(long_, metrics=points[i : i + 1000])
    for axis in ("step", "time"):
        bulk = store.metric_histories_sampled([short, long_, empty], "loss", axis, 200)
        for run_id in (short, long_):
            assert bulk[run_id] == store.metric_history_sampled(run_id, "loss", axis, 200)
        assert bulk[short]["total"] == 301 and bulk[short]["downsampled"]
        assert bulk[long_]["total"] == RAW_BUCKET_LIMIT + 500
        assert bulk[empty] == {"total": 0, "downsampled": False, "step": [], "timestamp": [], "value": []}
