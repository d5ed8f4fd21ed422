"""The tracking store contract, run on SQLite, PostgreSQL and MariaDB (fixture ``store``)."""

from __future__ import annotations

import math
import uuid

import pytest

from mltrail.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from mltrail.exceptions import MltrailException


def _code(exc_info) -> str:
    return exc_info.value.error_code


def _run(store, exp="0", **kw):
    return store.create_run(
        exp, kw.pop("user", "alice"), kw.pop("start_time", None), kw.pop("tags", []), kw.pop("run_name", None)
    )


# ---------------------------------------------------------------- experiments


def test_default_experiment_exists(store, tmp_path):
    exp = store.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == LifecycleStage.ACTIVE
    assert exp.artifact_location == f"{tmp_path / 'artifacts'}/0"
    assert store.get_experiment_by_name("Default").experiment_id == "0"


def test_create_and_get_experiment(store, tmp_path):
    exp_id = store.create_experiment("first", tags=[ExperimentTag("team", "nlp")])
    assert exp_id.isdigit() and exp_id != "0"
    exp = store.get_experiment(exp_id)
    assert exp.name == "first"
    assert exp.tags == {"team": "nlp"}
    assert exp.artifact_location == f"{tmp_path / 'artifacts'}/{exp_id}"
    assert exp.creation_time and exp.last_update_time
    other = store.create_experiment("second", artifact_location="s3://bucket/place")
    assert store.get_experiment(other).artifact_location == "s3://bucket/place"
    assert int(other) > int(exp_id)


def test_experiment_errors(store):
    store.create_experiment("dup")
    with pytest.raises(MltrailException) as e:
        store.create_experiment("dup")
    assert _code(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MltrailException) as e:
        store.get_experiment("987654")
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as e:
        store.get_experiment("not-a-number")
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"
    assert store.get_experiment_by_name("nope") is None
    with pytest.raises(MltrailException) as e:
        store.create_experiment("")
    assert _code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException) as e:
        store.create_experiment("x", artifact_location="runs:/abc/model")
    assert _code(e) == "INVALID_PARAMETER_VALUE"


def test_rename_experiment(store):
    exp_id = store.create_experiment("old")
    store.create_experiment("taken")
    store.rename_experiment(exp_id, "new")
    assert store.get_experiment(exp_id).name == "new"
    assert store.get_experiment_by_name("old") is None
    with pytest.raises(MltrailException) as e:
        store.rename_experiment(exp_id, "taken")
    assert _code(e) == "RESOURCE_ALREADY_EXISTS"
    store.delete_experiment(exp_id)
    with pytest.raises(MltrailException) as e:
        store.rename_experiment(exp_id, "newer")
    assert _code(e) == "INVALID_STATE"


def test_restore_keeps_a_run_deleted_in_the_same_millisecond_as_its_experiment(store, monkeypatch):
    import mltrail.store.sql.tracking as tracking_module

    exp_id = store.create_experiment("same-ms")
    kept = _run(store, exp_id)
    alone = _run(store, exp_id)
    monkeypatch.setattr(tracking_module, "now_ms", lambda: 1_700_000_000_000)  # a frozen clock
    store.delete_run(alone.info.run_id)
    store.delete_experiment(exp_id)
    store.restore_experiment(exp_id)
    assert store.get_run(kept.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(alone.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED


def test_delete_and_restore_experiment_cascades_to_runs(store):
    exp_id = store.create_experiment("trash")
    kept = _run(store, exp_id)
    deleted_before = _run(store, exp_id)
    store.delete_run(deleted_before.info.run_id)
    store.delete_experiment(exp_id)
    exp = store.get_experiment(exp_id)
    assert exp.lifecycle_stage == LifecycleStage.DELETED
    assert store.get_run(kept.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(MltrailException) as e:
        _run(store, exp_id)
    assert _code(e) == "INVALID_STATE"
    with pytest.raises(MltrailException):
        store.delete_experiment(exp_id)
    store.restore_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(kept.info.run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    # A run deleted on its own before the experiment stays deleted.
    assert store.get_run(deleted_before.info.run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(MltrailException) as e:
        store.restore_experiment(exp_id)
    assert _code(e) == "INVALID_PARAMETER_VALUE"


def test_experiment_tags(store):
    exp_id = store.create_experiment("tagged")
    store.set_experiment_tag(exp_id, ExperimentTag("a", "1"))
    store.set_experiment_tag(exp_id, ExperimentTag("a", "2"))
    store.set_experiment_tag(exp_id, ExperimentTag("b", "x"))
    assert store.get_experiment(exp_id).tags == {"a": "2", "b": "x"}
    store.delete_experiment_tag(exp_id, "b")
    assert store.get_experiment(exp_id).tags == {"a": "2"}
    with pytest.raises(MltrailException) as e:
        store.delete_experiment_tag(exp_id, "b")
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_experiment(exp_id)
    with pytest.raises(MltrailException) as e:
        store.set_experiment_tag(exp_id, ExperimentTag("c", "1"))
    assert _code(e) == "INVALID_PARAMETER_VALUE"


def test_search_experiments_paging_and_view(store):
    ids = [store.create_experiment(f"exp-{i}") for i in range(5)]
    store.delete_experiment(ids[0])
    active = store.search_experiments(max_results=100)
    names = {e.name for e in active}
    assert "exp-0" not in names and {"exp-1", "exp-4", "Default"} <= names
    deleted = store.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in deleted] == ["exp-0"]
    assert len(store.search_experiments(view_type=ViewType.ALL)) == 6
    seen = []
    page = store.search_experiments(max_results=2)
    seen += page
    while page.token:
        page = store.search_experiments(max_results=2, page_token=page.token)
        seen += page
    assert len({e.experiment_id for e in seen}) == 5
    filtered = store.search_experiments(filter_string="name = 'exp-3'")
    assert [e.experiment_id for e in filtered] == [ids[3]]
    with pytest.raises(MltrailException) as e:
        store.search_experiments(max_results=50001)
    assert _code(e) == "INVALID_PARAMETER_VALUE"


# ----------------------------------------------------------------------- runs


def test_create_run_defaults(store):
    run = _run(store, user="bob", start_time=1234)
    info = run.info
    assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert info.experiment_id == "0"
    assert info.status == "RUNNING" and info.start_time == 1234 and info.end_time is None
    assert info.user_id == "bob"
    assert info.lifecycle_stage == LifecycleStage.ACTIVE
    assert info.artifact_uri == f"{store.get_experiment('0').artifact_location}/{info.run_id}/artifacts"
    parts = info.run_name.split("-")
    assert len(parts) == 3 and parts[2].isdigit()
    assert run.data.tags["mlflow.runName"] == info.run_name
    fetched = store.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.data.tags == {"mlflow.runName": info.run_name}


def test_create_run_names_and_tags(store):
    run = _run(store, run_name="given", tags=[RunTag("k", "v")])
    assert run.info.run_name == "given"
    assert store.get_run(run.info.run_id).data.tags == {"k": "v", "mlflow.runName": "given"}
    by_tag = _run(store, tags=[RunTag("mlflow.runName", "from-tag")])
    assert by_tag.info.run_name == "from-tag"
    with pytest.raises(MltrailException) as e:
        _run(store, run_name="a", tags=[RunTag("mlflow.runName", "b")])
    assert _code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException) as e:
        _run(store, exp="424242")
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_get_unknown_run(store):
    with pytest.raises(MltrailException) as e:
        store.get_run(uuid.uuid4().hex)
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_update_run_info_and_rename(store):
    run_id = _run(store, run_name="before").info.run_id
    info = store.update_run_info(run_id, "FINISHED", 999, None)
    assert info.status == "FINISHED" and info.end_time == 999 and info.run_name == "before"
    info = store.update_run_info(run_id, None, None, "after")
    assert info.run_name == "after" and info.status == "FINISHED" and info.end_time == 999
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "after"
    store.set_tag(run_id, RunTag("mlflow.runName", "via-tag"))
    assert store.get_run(run_id).info.run_name == "via-tag"
    for status in ("SCHEDULED", "FAILED", "KILLED", 1):
        store.update_run_info(run_id, status, None, None)
    assert store.get_run(run_id).info.status == "RUNNING"
    with pytest.raises(MltrailException) as e:
        store.update_run_info(run_id, "BOGUS", None, None)
    assert _code(e) == "INVALID_PARAMETER_VALUE"


def test_delete_and_restore_run(store):
    run_id = _run(store).info.run_id
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    for call in (
        lambda: store.log_metric(run_id, Metric("m", 1.0, 1, 0)),
        lambda: store.log_param(run_id, Param("p", "1")),
        lambda: store.set_tag(run_id, RunTag("t", "1")),
        lambda: store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)]),
        lambda: store.update_run_info(run_id, "FINISHED", 1, None),
    ):
        with pytest.raises(MltrailException) as e:
            call()
        assert _code(e) == "INVALID_PARAMETER_VALUE"
        assert "must be in the 'active' state" in e.value.message
    store.restore_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    store.log_metric(run_id, Metric("m", 1.0, 1, 0))
    with pytest.raises(MltrailException) as e:
        store.delete_run(uuid.uuid4().hex)
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_terminated_runs_accept_writes(store):
    run_id = _run(store).info.run_id
    store.update_run_info(run_id, "FINISHED", 5, None)
    store.log_metric(run_id, Metric("late", 2.0, 1, 0))
    assert store.get_run(run_id).data.metrics == {"late": 2.0}


# -------------------------------------------------------------------- logging


def test_params_are_immutable(store):
    run_id = _run(store).info.run_id
    store.log_param(run_id, Param("lr", "0.1"))
    store.log_param(run_id, Param("lr", "0.1"))
    with pytest.raises(MltrailException) as e:
        store.log_param(run_id, Param("lr", "0.2"))
    assert _code(e) == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in e.value.message
    with pytest.raises(MltrailException):
        store.log_batch(run_id, params=[Param("lr", "0.3")])
    assert store.get_run(run_id).data.params == {"lr": "0.1"}


def test_tags_set_overwrite_delete(store):
    run_id = _run(store).info.run_id
    store.set_tag(run_id, RunTag("a", "1"))
    store.set_tag(run_id, RunTag("a", "2"))
    store.set_tag(run_id, RunTag("mlflow.note.content", "a description"))
    data = store.get_run(run_id).data
    assert data.tags["a"] == "2" and data.tags["mlflow.note.content"] == "a description"
    store.delete_tag(run_id, "a")
    assert "a" not in store.get_run(run_id).data.tags
    with pytest.raises(MltrailException) as e:
        store.delete_tag(run_id, "a")
    assert _code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_metrics_history_and_latest(store):
    run_id = _run(store).info.run_id
    store.log_metric(run_id, Metric("loss", 3.0, 100, 2))
    store.log_metric(run_id, Metric("loss", 5.0, 50, 1))  # older step: not the latest
    store.log_metric(run_id, Metric("loss", 4.0, 200, 2))  # same step, newer timestamp: latest
    store.log_metric(run_id, Metric("loss", 1.0, 200, 2))  # same step and time, smaller value: not latest
    latest = {m.key: m for m in store.get_run(run_id).data.metric_list}
    assert (latest["loss"].value, latest["loss"].timestamp, latest["loss"].step) == (4.0, 200, 2)
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (1, 50, 5.0),
        (2, 100, 3.0),
        (2, 200, 4.0),
        (2, 200, 1.0),
    ]
    assert history.token is None
    assert store.get_metric_history(run_id, "missing") == []


def test_metric_history_paging(store):
    run_id = _run(store).info.run_id
    store.log_batch(run_id, metrics=[Metric("m", float(i), 1000 + i, i) for i in range(25)])
    steps, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m", max_results=10, page_token=token)
        steps += [m.step for m in page]
        token = page.token
        if not token:
            break
    assert steps == list(range(25))
    with pytest.raises(MltrailException) as e:
        store.get_metric_history(run_id, "m", max_results=10, page_token="garbage!!")
    assert _code(e) == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -1.5, 1e300, 2**53])
def test_metric_values_round_trip(store, value):
    run_id = _run(store).info.run_id
    store.log_metric(run_id, Metric("v", value, 1, 0))
    (got,) = store.get_metric_history(run_id, "v")
    latest = store.get_run(run_id).data.metrics["v"]
    for x in (got.value, latest):
        if math.isnan(value):
            assert math.isnan(x)
        else:
            assert x == value


def test_log_batch_writes_everything(store):
    run_id = _run(store).info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("acc", 0.5 + i / 100, 10 + i, i) for i in range(10)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x"), RunTag("t1", "y")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {"acc": pytest.approx(0.59)}
    assert data.params == {"p1": "a", "p2": "b"}
    assert data.tags["t1"] == "y"
    assert len(store.get_metric_history(run_id, "acc")) == 10
    store.log_batch(run_id)  # an empty batch is fine


def test_rejected_batch_writes_nothing(store):
    run_id = _run(store).info.run_id
    store.log_param(run_id, Param("fixed", "1"))
    good = [Metric("m", 1.0, 1, 0)]
    with pytest.raises(MltrailException):  # a changed param, found inside the transaction
        store.log_batch(
            run_id, metrics=good, params=[Param("new", "x"), Param("fixed", "2")], tags=[RunTag("t", "v")]
        )
    with pytest.raises(MltrailException):  # a bad metric key, found before it
        store.log_batch(run_id, metrics=[*good, Metric("bad/../key", 1.0, 1, 0)], params=[Param("new", "x")])
    data = store.get_run(run_id).data
    assert data.metrics == {} and data.params == {"fixed": "1"} and "t" not in data.tags
    assert store.get_metric_history(run_id, "m") == []


def test_log_inputs_dedupes(store):
    exp_id = store.create_experiment("data")
    run_a = _run(store, exp_id).info.run_id
    run_b = _run(store, exp_id).info.run_id
    ds = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}', schema='{"cols": ["x"]}')
    item = DatasetInput(ds, [InputTag("mlflow.data.context", "training")])
    store.log_inputs(run_a, [item])
    store.log_inputs(run_a, [item])
    store.log_inputs(run_b, [item, DatasetInput(Dataset("eval", "def456", "local", "{}"))])
    inputs_a = store.get_run(run_a).inputs.dataset_inputs
    assert len(inputs_a) == 1
    assert inputs_a[0].dataset == ds
    assert inputs_a[0].tags == [InputTag("mlflow.data.context", "training")]
    assert sorted(i.dataset.name for i in store.get_run(run_b).inputs.dataset_inputs) == ["eval", "train"]
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM datasets")).scalar() == 2
    with pytest.raises(MltrailException) as e:
        store.log_inputs(run_a, [DatasetInput(Dataset("n" * 501, "d", "local", "{}"))])
    assert _code(e) == "INVALID_PARAMETER_VALUE"


# --------------------------------------------------------------------- search


def test_search_runs_order_paging_and_view(store):
    exp_a = store.create_experiment("A")
    exp_b = store.create_experiment("B")
    made = [_run(store, exp_a if i % 2 else exp_b, start_time=1000 + i).info.run_id for i in range(7)]
    store.delete_run(made[0])
    found = store.search_runs([exp_a, exp_b], max_results=100)
    assert [r.info.run_id for r in found] == list(reversed(made[1:]))  # newest first
    assert found.token is None
    pages, token = [], None
    while True:
        page = store.search_runs([exp_a, exp_b], max_results=4, page_token=token)
        pages.append([r.info.run_id for r in page])
        token = page.token
        if not token:
            break
    assert [len(p) for p in pages] == [4, 2]
    assert [run_id for p in pages for run_id in p] == list(reversed(made[1:]))
    deleted = store.search_runs([exp_a, exp_b], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [made[0]]
    assert len(store.search_runs([exp_a, exp_b], run_view_type=ViewType.ALL)) == 7
    for bad in (0, 50001, -1):
        with pytest.raises(MltrailException) as e:
            store.search_runs([exp_a], max_results=bad)
        assert _code(e) == "INVALID_PARAMETER_VALUE"


def test_search_runs_loads_children(store):
    exp = store.create_experiment("S")
    runs = []
    for i in range(3):
        run_id = _run(store, exp, start_time=i).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric("acc", i / 10, 1, 0)],
            params=[Param("i", str(i))],
            tags=[RunTag("group", "even" if i % 2 == 0 else "odd")],
        )
        runs.append(run_id)
    found = store.search_runs(
        [exp], filter_string="metrics.acc > 0.05 AND tags.group = 'even'", order_by=["params.i DESC"]
    )
    assert [r.info.run_id for r in found] == [runs[2]]
    assert found[0].data.params == {"i": "2"} and found[0].data.metrics == {"acc": 0.2}


# ------------------------------------------------------------------------- gc


def test_gc_helpers(store):
    exp = store.create_experiment("gc")
    keep = _run(store, exp).info.run_id
    gone = _run(store, exp).info.run_id
    store.log_batch(gone, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")], tags=[RunTag("t", "1")])
    store.log_inputs(gone, [DatasetInput(Dataset("d", "1", "local", "{}"), [InputTag("k", "v")])])
    assert store.get_deleted_runs() == []
    store.delete_run(gone)
    assert store.get_deleted_runs() == [gone]
    assert store.get_deleted_runs(older_than_ms=10**9) == []
    store.hard_delete_run(gone)
    with pytest.raises(MltrailException):
        store.get_run(gone)
    assert store.get_metric_history(gone, "m") == []
    store.delete_experiment(exp)
    assert store.get_deleted_experiments() == [exp]
    store.hard_delete_experiment(exp)
    with pytest.raises(MltrailException):
        store.get_experiment(exp)
    with pytest.raises(MltrailException):
        store.get_run(keep)


def test_keys_differing_in_case(store, db_uri):
    run_id = _run(store).info.run_id
    store.log_param(run_id, Param("Depth", "3"))
    if db_uri.startswith("mysql"):
        # MariaDB's default collation folds case: a clean error, not a database traceback.
        with pytest.raises(MltrailException) as e:
            store.log_param(run_id, Param("depth", "5"))
        assert _code(e) == "INVALID_PARAMETER_VALUE"
    else:
        store.log_param(run_id, Param("depth", "5"))
        assert store.get_run(run_id).data.params == {"Depth": "3", "depth": "5"}


def test_hard_delete_experiment_purges_rows_of_other_domains(store):
    """Tables other domains hang under an experiment (logged models) are purged by following foreign keys."""
    import sqlalchemy as sa

    from mltrail.store.sql.schema import metadata

    if "logged_models" not in metadata.tables or "logged_model_tags" not in metadata.tables:
        pytest.skip("no logged-model tables in this schema")
    exp = store.create_experiment("with-models")
    models, model_tags = metadata.tables["logged_models"], metadata.tables["logged_model_tags"]
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(models).values(
                model_id="m-1",
                experiment_id=int(exp),
                name="model",
                artifact_location="/tmp/m",
                creation_timestamp_ms=1,
                last_updated_timestamp_ms=1,
                status="READY",
            )
        )
        conn.execute(sa.insert(model_tags).values(model_id="m-1", tag_key="k", tag_value="v"))
    store.delete_experiment(exp)
    store.hard_delete_experiment(exp)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(models)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(model_tags)).scalar() == 0


def test_concurrent_writers_on_one_run(store):
    """Threads racing on the same run: same-value params, shared metric keys, latest value correct."""
    from concurrent.futures import ThreadPoolExecutor

    run_id = _run(store).info.run_id

    def work(worker: int) -> None:
        for i in range(10):
            step = worker * 100 + i
            store.log_batch(
                run_id,
                metrics=[Metric("shared", float(step), 1000 + step, step), Metric(f"own{worker}", 1.0, i, i)],
                params=[Param("same", "1"), Param(f"p{worker}_{i}", str(i))],
                tags=[RunTag("last", str(worker))],
            )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    run = store.get_run(run_id)
    assert run.data.metrics["shared"] == 309.0
    assert len(store.get_metric_history(run_id, "shared")) == 40
    assert len(run.data.params) == 41
    assert run.data.tags["last"] in {"0", "1", "2", "3"}
