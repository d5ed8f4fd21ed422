"""MLflow's limits and key rules: one test per limit, each rejected with INVALID_PARAMETER_VALUE."""

from __future__ import annotations

import math

import pytest

from mltrail.entities import ExperimentTag, Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.store import validation as v
from mltrail.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def sqlite_store(sqlite_uri, tmp_path) -> SqlTrackingStore:
    return SqlTrackingStore(sqlite_uri, str(tmp_path / "artifacts"))


@pytest.fixture
def run_id(sqlite_store) -> str:
    return sqlite_store.create_run("0", "u", None, [], None).info.run_id


def _rejects(call, *fragments: str) -> str:
    with pytest.raises(MltrailException) as e:
        call()
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    for fragment in fragments:
        assert fragment in e.value.message, e.value.message
    return e.value.message


def test_key_length_limit(sqlite_store, run_id):
    sqlite_store.log_param(run_id, Param("k" * 250, "ok"))
    _rejects(lambda: sqlite_store.log_param(run_id, Param("k" * 251, "x")), "251", "250")
    _rejects(lambda: sqlite_store.set_tag(run_id, RunTag("t" * 251, "x")), "250")
    _rejects(lambda: sqlite_store.log_metric(run_id, Metric("m" * 251, 1.0, 0, 0)), "250")


@pytest.mark.parametrize("key", ["a\\b", "semi;colon", "quote'", "ümlaut?", "a\nb"])
def test_key_characters(sqlite_store, run_id, key):
    _rejects(lambda: sqlite_store.log_param(run_id, Param(key, "x")), "Names may only contain")


@pytest.mark.parametrize("key", ["../up", "/abs", "a/../b", "a//b", ".", "a/./b"])
def test_key_path_tricks(sqlite_store, run_id, key):
    _rejects(lambda: sqlite_store.set_tag(run_id, RunTag(key, "x")), "must not resolve to other names")


@pytest.mark.parametrize("key", ["ok", "with space", "a/b/c", "dots.and-dashes_1", "ünïcode", "a:b"])
def test_allowed_keys(sqlite_store, run_id, key):
    sqlite_store.log_param(run_id, Param(key, "1"))
    assert sqlite_store.get_run(run_id).data.params[key] == "1"


def test_empty_key(sqlite_store, run_id):
    _rejects(lambda: sqlite_store.log_param(run_id, Param("", "x")), "empty")


def test_param_value_limit(sqlite_store, run_id):
    sqlite_store.log_param(run_id, Param("max", "v" * 6000))
    _rejects(lambda: sqlite_store.log_param(run_id, Param("over", "v" * 6001)), "'over'", "6000")


def test_tag_value_limit(sqlite_store, run_id):
    sqlite_store.set_tag(run_id, RunTag("max", "v" * v.MAX_TAG_VAL_LENGTH))
    _rejects(lambda: sqlite_store.set_tag(run_id, RunTag("over", "v" * 8001)), "'over'", "8000")


def test_experiment_tag_value_limit(sqlite_store):
    exp = sqlite_store.create_experiment("e")
    sqlite_store.set_experiment_tag(exp, ExperimentTag("max", "v" * 20000))
    _rejects(
        lambda: sqlite_store.set_experiment_tag(exp, ExperimentTag("over", "v" * 20001)), "'over'", "20000"
    )


def test_experiment_name_limit(sqlite_store):
    sqlite_store.create_experiment("n" * 250)
    sqlite_store.create_experiment("m" * 500)
    _rejects(lambda: sqlite_store.create_experiment("n" * 501), "501", "500")
    _rejects(lambda: sqlite_store.create_experiment(""), "Invalid experiment name")
    _rejects(lambda: sqlite_store.create_experiment(None), "Invalid experiment name")


def test_run_name_limit(sqlite_store):
    _rejects(lambda: sqlite_store.create_run("0", "u", None, [], "r" * 251), "250")


def test_user_id_limit(sqlite_store):
    _rejects(lambda: sqlite_store.create_run("0", "u" * 257, None, [], None), "256")


@pytest.mark.parametrize("value", ["1.0", None, True, [1]])
def test_metric_value_must_be_a_number(sqlite_store, run_id, value):
    _rejects(lambda: sqlite_store.log_metric(run_id, Metric("m", value, 0, 0)), "'m'", "double")


def test_metric_timestamp_and_step_must_be_ints(sqlite_store, run_id):
    _rejects(lambda: sqlite_store.log_metric(run_id, Metric("m", 1.0, 1.5, 0)), "timestamp")
    _rejects(lambda: sqlite_store.log_metric(run_id, Metric("m", 1.0, -1, 0)), "timestamp")
    _rejects(lambda: sqlite_store.log_metric(run_id, Metric("m", 1.0, 0, "3")), "step")
    sqlite_store.log_metric(run_id, Metric("m", math.nan, 0, -5))  # negative steps are allowed


def test_batch_metric_count_limit(sqlite_store, run_id):
    sqlite_store.log_batch(run_id, metrics=[Metric("m", 1.0, i, i) for i in range(1000)])
    _rejects(
        lambda: sqlite_store.log_batch(run_id, metrics=[Metric("x", 1.0, i, i) for i in range(1001)]),
        "at most 1000 metrics",
    )


def test_batch_param_count_limit(sqlite_store, run_id):
    _rejects(
        lambda: sqlite_store.log_batch(run_id, params=[Param(f"p{i}", "1") for i in range(101)]),
        "at most 100 params",
    )


def test_batch_tag_count_limit(sqlite_store, run_id):
    _rejects(
        lambda: sqlite_store.log_batch(run_id, tags=[RunTag(f"t{i}", "1") for i in range(101)]),
        "at most 100 tags",
    )


def test_batch_total_limit(sqlite_store, run_id):
    _rejects(
        lambda: sqlite_store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, i, i) for i in range(950)],
            params=[Param(f"p{i}", "1") for i in range(51)],
        ),
        "at most 1000 metrics, params, and tags",
    )
    assert sqlite_store.get_metric_history(run_id, "m") == []


def test_batch_duplicate_param_keys(sqlite_store, run_id):
    _rejects(lambda: sqlite_store.log_batch(run_id, params=[Param("a", "1"), Param("a", "1")]), "Duplicate")


def test_rejected_batch_item_writes_nothing(sqlite_store, run_id):
    _rejects(
        lambda: sqlite_store.log_batch(
            run_id,
            metrics=[Metric("fine", 1.0, 0, 0)],
            params=[Param("fine", "1")],
            tags=[RunTag("fine", "1"), RunTag("bad", "x" * 8001)],
        ),
        "'bad'",
    )
    data = sqlite_store.get_run(run_id).data
    assert data.metrics == {} and data.params == {} and "fine" not in data.tags
