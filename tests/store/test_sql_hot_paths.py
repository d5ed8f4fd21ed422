"""The server's hot reads (precompiled SQL on the raw DBAPI cursor, cached search SQL).

Run on SQLite, PostgreSQL and MariaDB (fixture ``store``): each driver has its
own placeholder style, and the cached search SQL must never serve stale rows.
"""

from __future__ import annotations

import math

import pytest

from mltrail.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mltrail.exceptions import MltrailException


def _run(store, name: str, exp: str = "0"):
    return store.create_run(exp, "alice", None, [], name)


def test_get_run_reads_every_child_with_python_types(store):
    run_id = _run(store, "r").info.run_id
    store.log_batch(
        run_id,
        metrics=[
            Metric("loss", 0.5, 1000, 3),
            Metric("nan", math.nan, 1000, 0),
            Metric("inf", math.inf, 1000, 0),
            Metric("neg", -math.inf, 1000, 0),
        ],
        params=[Param("lr", "0.1")],
        tags=[RunTag("team", "a")],
    )
    ds = Dataset(name="d", digest="abc", source_type="local", source="/x", schema="{}", profile="{}")
    store.log_inputs(run_id, [DatasetInput(ds, [InputTag("split", "train")])])

    run = store.get_run(run_id)
    metrics = {m.key: m for m in run.data.metric_list}
    assert metrics["loss"].value == 0.5 and metrics["loss"].step == 3 and metrics["loss"].timestamp == 1000
    assert isinstance(metrics["loss"].timestamp, int) and isinstance(metrics["loss"].step, int)
    assert math.isnan(metrics["nan"].value)
    assert metrics["inf"].value == math.inf and metrics["neg"].value == -math.inf
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["team"] == "a" and run.data.tags["mlflow.runName"] == "r"
    [item] = run.inputs.dataset_inputs
    assert (item.dataset.name, item.dataset.digest, item.dataset.source) == ("d", "abc", "/x")
    assert [(t.key, t.value) for t in item.tags] == [("split", "train")]
    assert run.info.experiment_id == "0" and run.info.status == "RUNNING"


def test_repeated_search_sees_new_writes(store):
    """The cache keeps the compiled SQL, never the rows: a repeat reflects later writes."""
    query = ("metrics.acc > 0.5 and params.opt = 'adam'", ["metrics.acc DESC"])
    first = _run(store, "first").info.run_id
    store.log_batch(first, metrics=[Metric("acc", 0.7, 1, 0)], params=[Param("opt", "adam")])
    assert [
        r.info.run_id for r in store.search_runs(["0"], query[0], ViewType.ACTIVE_ONLY, 10, query[1])
    ] == [first]

    second = _run(store, "second").info.run_id
    store.log_batch(second, metrics=[Metric("acc", 0.9, 1, 0)], params=[Param("opt", "adam")])
    again = store.search_runs(["0"], query[0], ViewType.ACTIVE_ONLY, 10, query[1])
    assert [r.info.run_id for r in again] == [second, first]
    # Children are loaded fresh too.
    assert again[0].data.metrics == {"acc": 0.9}

    store.delete_run(second)
    assert [
        r.info.run_id for r in store.search_runs(["0"], query[0], ViewType.ACTIVE_ONLY, 10, query[1])
    ] == [first]


def test_searches_differing_only_in_values_or_paging_stay_apart(store):
    ids = {}
    for i in range(3):
        # Distinct start times: the default order (newest first) must not hinge on the clock's resolution.
        run_id = store.create_run("0", "alice", 1_000 + i, [], f"r{i}").info.run_id
        store.log_batch(run_id, metrics=[Metric("m", float(i), 1, 0)], tags=[RunTag("pct", f"{i}0% done")])
        ids[i] = run_id
    assert [r.info.run_id for r in store.search_runs(["0"], "metrics.m >= 1")] == [ids[2], ids[1]]
    assert [r.info.run_id for r in store.search_runs(["0"], "metrics.m >= 2")] == [ids[2]]
    # A literal % in a LIKE pattern and in a value: the named/format driver styles must not mangle it.
    assert [r.info.run_id for r in store.search_runs(["0"], "tags.pct LIKE '10%'")] == [ids[1]]
    assert [r.info.run_id for r in store.search_runs(["0"], "tags.pct = '20% done'")] == [ids[2]]

    page1 = store.search_runs(["0"], None, ViewType.ACTIVE_ONLY, 2, ["metrics.m ASC"])
    page2 = store.search_runs(["0"], None, ViewType.ACTIVE_ONLY, 2, ["metrics.m ASC"], page1.token)
    assert [r.info.run_id for r in page1] == [ids[0], ids[1]]
    assert [r.info.run_id for r in page2] == [ids[2]] and page2.token is None


def test_run_json_from_rows_matches_the_entities_json(store):
    """``get_run_json``/``search_runs_json`` build the JSON from SQL rows: key for key what
    ``run_json`` makes of ``get_run``/``search_runs``'s entities, on every kind of child row."""
    from mltrail.server.wire import run_json
    from mltrail.store.sql._run_models import RUN_INPUT, RUN_OUTPUT, link_models

    full = _run(store, "full").info.run_id
    store.log_batch(
        full,
        metrics=[
            Metric("loss", 0.5, 1000, 3),
            Metric("int", 2, 1001, 0),
            Metric("nan", math.nan, 1000, 0),
            Metric("inf", math.inf, 1000, 0),
            Metric("neg", -math.inf, 1000, 0),
        ],
        params=[Param("lr", "0.1"), Param("empty", "")],
        tags=[RunTag("team", "a"), RunTag("blank", "")],
    )
    with_meta = Dataset(name="d", digest="abc", source_type="local", source="/x", schema="{}", profile="{}")
    bare = Dataset(name="e", digest="def", source_type="local", source="/y")
    store.log_inputs(full, [DatasetInput(with_meta, [InputTag("split", "train")]), DatasetInput(bare, [])])
    store.db.write(lambda conn: link_models(conn, full, RUN_INPUT, [("m-in", 0)]))
    store.db.write(lambda conn: link_models(conn, full, RUN_OUTPUT, [("m-out", 4), ("m-out2", 0)]))
    ended = _run(store, "ended").info.run_id
    store.update_run_info(ended, "FINISHED", 5000, None)
    empty = store.create_run("0", None, None, [], None).info.run_id

    for run_id in (full, ended, empty):
        assert store.get_run_json(run_id) == run_json(store.get_run(run_id))
        assert list(store.get_run_json(run_id)["info"]) == list(run_json(store.get_run(run_id))["info"])
    got = store.get_run_json(full)
    assert [m["value"] for m in got["data"]["metrics"]] == ["Infinity", 2, 0.5, "NaN", "-Infinity"]
    assert got["inputs"]["model_inputs"] == [{"model_id": "m-in"}]
    assert got["outputs"] == {"model_outputs": [{"model_id": "m-out2", "step": 0}, {"model_id": "m-out", "step": 4}]}

    token, seen = None, []
    for _ in range(2):  # pages of two: the same runs, order and token either way
        pages = [
            search(["0"], None, ViewType.ALL, 2, ["attributes.run_name ASC"], token)
            for search in (store.search_runs, store.search_runs_json)
        ]
        assert [run_json(r) for r in pages[0]] == list(pages[1])
        assert pages[0].token == pages[1].token
        token = pages[0].token
        seen += [r["info"]["run_id"] for r in pages[1]]
    assert token is None and sorted(seen) == sorted([full, ended, empty])
    with pytest.raises(MltrailException) as err:  # the same error as get_run's
        store.get_run_json("no-such-run")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_page_gives_each_run_its_own_children_inputs_and_links(store):
    """A page reads each child table once for all its runs: every run gets its own rows in key
    order, and the dataset and model-link reads (skipped for runs without any) find each kind."""
    from mltrail.server.wire import run_json
    from mltrail.store.sql._run_models import RUN_INPUT, RUN_OUTPUT, link_models

    names = ["a-dataset", "b-model-in", "c-model-out", "d-nothing"]
    ids = {name: _run(store, name).info.run_id for name in names}
    for i, name in enumerate(names):  # keys interleaved across runs, logged out of order
        keys = [f"k{i + 4 * j}" for j in (2, 0, 1)]
        store.log_batch(
            ids[name],
            metrics=[Metric(k, float(i), 1000 + i, i) for k in keys],
            params=[Param(k, f"{name}-{k}") for k in keys],
            tags=[RunTag(k, name) for k in keys],
        )
    ds = Dataset(name="d", digest="abc", source_type="local", source="/x")
    store.log_inputs(ids["a-dataset"], [DatasetInput(ds, [InputTag("split", "train")])])
    store.db.write(lambda conn: link_models(conn, ids["b-model-in"], RUN_INPUT, [("m-in", 0)]))
    store.db.write(lambda conn: link_models(conn, ids["c-model-out"], RUN_OUTPUT, [("m-out", 3)]))

    query = (["0"], None, ViewType.ALL, 10, ["attributes.run_name ASC"])
    page = list(store.search_runs_json(*query))
    assert [r["info"]["run_name"] for r in page] == names
    assert page == [run_json(r) for r in store.search_runs(*query)]
    for i, (name, run) in enumerate(zip(names, page, strict=True)):
        keys = sorted(f"k{i + 4 * j}" for j in range(3))
        assert run["info"]["run_id"] == ids[name]
        assert run["data"]["metrics"] == [
            {"key": k, "value": float(i), "timestamp": 1000 + i, "step": i} for k in keys
        ]
        assert run["data"]["params"] == [{"key": k, "value": f"{name}-{k}"} for k in keys]
        assert [t for t in run["data"]["tags"] if t["key"].startswith("k")] == [
            {"key": k, "value": name} for k in keys
        ]
        assert run == store.get_run_json(ids[name])
    inputs = {name: (run["inputs"], run.get("outputs")) for name, run in zip(names, page, strict=True)}
    dataset = {"name": "d", "digest": "abc", "source_type": "local", "source": "/x"}
    split = [{"key": "split", "value": "train"}]
    assert inputs == {
        "a-dataset": ({"dataset_inputs": [{"tags": split, "dataset": dataset}]}, None),
        "b-model-in": ({"dataset_inputs": [], "model_inputs": [{"model_id": "m-in"}]}, None),
        "c-model-out": ({"dataset_inputs": []}, {"model_outputs": [{"model_id": "m-out", "step": 3}]}),
        "d-nothing": ({"dataset_inputs": []}, None),
    }


def test_reads_on_the_thread_connection_survive_dispose_nesting_and_threads(store):
    """SQLite keeps one read connection per thread: a disposed pool, a read opened inside
    another and a second thread each still read the current rows."""
    import threading

    run_id = _run(store, "r").info.run_id
    store.log_batch(run_id, params=[Param("a", "1")])
    assert store.get_run(run_id).data.params == {"a": "1"}
    store.db.engine.dispose()  # a new pool: the thread's connection is taken again
    store.log_batch(run_id, params=[Param("b", "2")])
    assert store.get_run(run_id).data.params == {"a": "1", "b": "2"}
    with store.db.driver_read() as outer, store.db.driver_read() as inner:
        assert inner is not outer
        assert store.get_run_json(run_id)["data"]["params"][1] == {"key": "b", "value": "2"}
    seen = []
    worker = threading.Thread(target=lambda: seen.append(store.get_run(run_id).data.params))
    worker.start()
    worker.join()
    assert seen == [{"a": "1", "b": "2"}]


def test_writes_on_the_thread_connection_recover_from_errors_and_many_threads(store):
    """SQLite writes run on a connection the thread keeps: after a driver error the next
    write takes a new one, and threads past the bound of kept connections use the pool."""
    import threading

    import sqlalchemy as sa

    from mltrail.store.sql.database import KEPT_CONNECTIONS

    run_id = _run(store, "r").info.run_id
    with pytest.raises(sa.exc.DBAPIError):  # OperationalError on SQLite, ProgrammingError elsewhere
        store.db.write(lambda conn: conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)"))
    store.log_batch(run_id, params=[Param("after-error", "1")])
    assert store.get_run(run_id).data.params == {"after-error": "1"}

    count = KEPT_CONNECTIONS + 4
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)  # every thread alive at once: some must go through the pool
            store.log_batch(run_id, metrics=[Metric(f"m{i}", float(i), 1000, 0)])
            assert store.get_run(run_id).data.metrics[f"m{i}"] == float(i)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_run(run_id).data.metrics == {f"m{i}": float(i) for i in range(count)}
