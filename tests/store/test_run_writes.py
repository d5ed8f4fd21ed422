"""Run writes whose fast paths take shortcuts (fixture ``store``: SQLite, PostgreSQL, MariaDB).

A batch's params go in with one statement on SQLite, the stored values read only when a
key is there already; ``update_run_info`` answers from the row its state check reads.
Both must keep MLflow's semantics exactly.
"""

from __future__ import annotations

import uuid

import pytest

from mltrail.entities import LifecycleStage, Metric, Param, RunTag
from mltrail.exceptions import MltrailException


def _run(store, **kw):
    return store.create_run("0", "alice", 1000, [], kw.pop("run_name", None)).info.run_id


def test_batch_of_new_and_already_logged_params(store):
    run_id = _run(store)
    store.log_batch(run_id, params=[Param("a", "1"), Param("b", "2")])
    # Same values again beside new keys: fine, the new ones are stored, nothing else changes.
    store.log_batch(run_id, params=[Param("b", "2"), Param("c", "3"), Param("a", "1")])
    assert store.get_run(run_id).data.params == {"a": "1", "b": "2", "c": "3"}


def test_changed_param_refuses_the_whole_batch(store):
    run_id = _run(store)
    store.log_param(run_id, Param("a", "1"))
    store.log_param(run_id, Param("b", "2"))
    with pytest.raises(MltrailException) as e:
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 5, 0)],
            params=[Param("new", "x"), Param("b", "9"), Param("a", "8")],
            tags=[RunTag("t", "v")],
        )
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    # The first changed key in the batch's order, with the stored and the new value.
    assert e.value.message == (
        f"Changing param values is not allowed. Param with key='b' was already logged with value='2' "
        f"for run ID='{run_id}'. Attempted logging new value '9'."
    )
    data = store.get_run(run_id).data
    assert data.params == {"a": "1", "b": "2"}  # "new" was not kept
    assert data.metrics == {} and "t" not in data.tags


def test_param_keys_differing_in_case(store):
    run_id = _run(store)
    store.log_param(run_id, Param("lr", "1"))
    if store.dialect == "mysql":  # its default collation makes "LR" the stored "lr": a conflict
        with pytest.raises(MltrailException) as e:
            store.log_batch(run_id, params=[Param("LR", "2"), Param("lr", "1")])
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"
        assert store.get_run(run_id).data.params == {"lr": "1"}
        return
    store.log_batch(run_id, params=[Param("LR", "2"), Param("lr", "1")])
    assert store.get_run(run_id).data.params == {"lr": "1", "LR": "2"}


def test_update_run_info_answers_what_get_run_reads(store):
    run_id = _run(store, run_name="first")
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 5, 0)], params=[Param("p", "1")])
    for status, end_time, name in (
        ("FINISHED", 2000, None),
        (None, None, "second"),
        (None, None, None),
        ("FAILED", None, "third"),
        (None, 3000, None),
    ):
        info = store.update_run_info(run_id, status, end_time, name)
        assert info == store.get_run(run_id).info
    assert (info.status, info.end_time, info.run_name) == ("FAILED", 3000, "third")
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "third"


def test_update_run_info_of_missing_or_deleted_run(store):
    with pytest.raises(MltrailException) as e:
        store.update_run_info(uuid.uuid4().hex, "FINISHED", 1, None)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    run_id = _run(store)
    store.delete_run(run_id)
    with pytest.raises(MltrailException) as e:
        store.update_run_info(run_id, None, None, "x")
    assert e.value.message == f"The run {run_id} must be in the 'active' state. Current state is deleted."
    info = store.get_run(run_id).info
    assert info.lifecycle_stage == LifecycleStage.DELETED and info.run_name != "x"


def test_batch_metrics_dedupe_latest_and_non_finite(store):
    run_id = _run(store)
    nan, inf = float("nan"), float("inf")
    store.log_batch(
        run_id,
        metrics=[
            Metric("a", 1.0, 10, 1),
            Metric("a", 1.0, 10, 1),  # identical point: stored once
            Metric("a", 2.0, 10, 1),  # same step and time, larger value: the latest
            Metric("a", 0.5, 9, 1),
            Metric("n", nan, 1, 0),
            Metric("i", inf, 1, 0),
            Metric("j", -inf, 1, 0),
            Metric("k", 3, 1, 0),  # an int value is a float
        ],
    )
    history = [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, "a")]
    assert sorted(history) == [(0.5, 9, 1), (1.0, 10, 1), (2.0, 10, 1)]
    latest = {m.key: m.value for m in store.get_run(run_id).data.metric_list}
    assert latest["a"] == 2.0 and latest["i"] == inf and latest["j"] == -inf and latest["k"] == 3.0
    assert latest["n"] != latest["n"]
    # An older point later leaves the latest value alone; a newer step replaces it.
    store.log_batch(run_id, metrics=[Metric("a", 9.0, 1, 0)])
    assert {m.key: m.value for m in store.get_run(run_id).data.metric_list}["a"] == 2.0
    store.log_metric(run_id, Metric("a", -1.0, 1, 2))
    assert {m.key: m.value for m in store.get_run(run_id).data.metric_list}["a"] == -1.0
