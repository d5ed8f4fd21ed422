"""Metrics per LoggedModel, the active model as log_metric's default, and log_model's LoggedModel.

* A metric logged with a ``model_id`` lands in ``logged_model_metrics`` in the run's
  transaction on SQLite, PostgreSQL and MariaDB (``CI=true`` runs all three); it is in
  ``LoggedModel.metrics`` and ``search_logged_models`` filters and orders by it.
* ``mltrail.log_metric``/``log_metrics`` use the active model when no ``model_id`` is given.
* ``log_model`` creates and finalizes a LoggedModel in the run's store, embedded and over
  HTTP, which ``last_logged_model()`` returns and ``models:/<model_id>`` loads.
* The official mlflow 3.17.2 client and mltrail see each other's model metrics.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

import mltrail
from mltrail.entities import Metric, Param
from mltrail.exceptions import MltrailException
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.schema import logged_model_metrics, metrics
from mltrail.store.sql.tracking import SqlTrackingStore
from support.live_server import start_server, stop_server
from support.sql_backends import SQL_BACKENDS

API = "/api/2.0/mlflow"


@pytest.fixture(params=SQL_BACKENDS)
def db_uri(request, tmp_path) -> str:
    """SQLite in the test's folder, or the session's PostgreSQL / MariaDB database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lmm.db'}"
    return request.getfixturevalue(f"{request.param}_uri")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("lm-metrics"), timeout=120)
    yield s
    stop_server(s)


def _code(call) -> str:
    with pytest.raises(MltrailException) as err:
        call()
    return err.value.error_code


def _m(key: str, value: float, ts: int, step: int = 0, model: str | None = None, **kw) -> Metric:
    return Metric(key, value, ts, step, model_id=model, **kw)


class World:
    """One experiment with a run and three models, on one backend."""

    def __init__(self, uri: str, root: str) -> None:
        self.tracking = SqlTrackingStore(uri, root)
        self.models = SqlLoggedModelStore(uri)
        self.exp = self.tracking.create_experiment(f"lmm-{uuid.uuid4().hex[:10]}")
        self.run = self.tracking.create_run(self.exp, "u", 1, [], "r").info.run_id
        self.a, self.b, self.c = (self.models.create_logged_model(self.exp, name=n).model_id for n in "abc")

    def ids(self, filter_string=None, order_by=None, datasets=None, max_results=None, token=None):
        page = self.models.search_logged_models(
            [self.exp], filter_string, max_results, order_by, token, datasets
        )
        return [m.model_id for m in page], page.token

    def rows(self, table: sa.Table, column: sa.Column) -> int:
        with self.models.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(table).where(column == self.run)
            ).scalar()


@pytest.fixture
def world(db_uri, tmp_path) -> World:
    return World(db_uri, str(tmp_path / "artifacts"))


# ------------------------------------------------------------------ store, every backend
def test_model_metrics_are_stored_with_the_run_metric(world):
    w = world
    w.tracking.log_metric(w.run, _m("acc", 0.5, 1000, 1, w.a, dataset_name="eval", dataset_digest="d1"))
    w.tracking.log_batch(
        w.run,
        metrics=[
            _m("acc", 0.75, 2000, 2, w.a),
            _m("acc", 0.75, 2000, 2, w.a),  # the same row twice: stored once
            _m("loss", math.nan, 2000, 2, w.a),
            _m("loss", math.inf, 2000, 3, w.b),
            _m("plain", 1.0, 2000),  # no model: only the run has it
        ],
        params=[Param("p", "1")],
    )
    got = w.models.get_logged_model(w.a).metrics
    assert [(m.key, m.value, m.timestamp, m.step, m.dataset_name, m.dataset_digest) for m in got[:2]] == [
        ("acc", 0.5, 1000, 1, "eval", "d1"),
        ("acc", 0.75, 2000, 2, None, None),
    ]
    assert {(m.run_id, m.model_id) for m in got} == {(w.run, w.a)}
    assert got[2].key == "loss" and math.isnan(got[2].value)
    assert [(m.key, m.value) for m in w.models.get_logged_model(w.b).metrics] == [("loss", math.inf)]
    assert w.models.get_logged_model(w.c).metrics == []
    # The run keeps every value too, and its history counts the duplicate once.
    assert [m.value for m in w.tracking.get_metric_history(w.run, "acc")] == [0.5, 0.75]
    assert w.tracking.get_run(w.run).data.metrics["plain"] == 1.0
    with w.models.engine.connect() as conn:
        exp_ids = conn.execute(
            sa.select(logged_model_metrics.c.experiment_id).where(logged_model_metrics.c.run_id == w.run)
        ).scalars()
        assert set(exp_ids) == {int(w.exp)}


def test_unknown_model_or_bad_dataset_writes_nothing(world):
    w = world
    before = w.rows(metrics, metrics.c.run_uuid)
    unknown = "m-" + uuid.uuid4().hex
    assert (
        _code(lambda: w.tracking.log_metric(w.run, _m("acc", 1.0, 1, 0, unknown)))
        == "RESOURCE_DOES_NOT_EXIST"
    )
    batch = [_m("ok", 1.0, 1), _m("acc", 1.0, 1, 0, w.a), _m("acc", 2.0, 1, 0, unknown)]
    assert _code(lambda: w.tracking.log_batch(w.run, metrics=batch)) == "RESOURCE_DOES_NOT_EXIST"
    long_digest = _m("acc", 1.0, 1, 0, w.a, dataset_name="d", dataset_digest="x" * 37)
    assert _code(lambda: w.tracking.log_metric(w.run, long_digest)) == "INVALID_PARAMETER_VALUE"
    assert w.rows(metrics, metrics.c.run_uuid) == before
    assert w.rows(logged_model_metrics, logged_model_metrics.c.run_id) == 0
    assert w.models.get_logged_model(w.a).metrics == []


def test_search_filters_and_orders_by_metrics(world):
    w = world
    w.tracking.log_batch(
        w.run,
        metrics=[
            _m("acc", 0.9, 1000, 0, w.a, dataset_name="train"),
            _m("acc", 0.6, 2000, 1, w.a, dataset_name="eval", dataset_digest="e1"),
            _m("acc", 0.7, 1000, 0, w.b, dataset_name="eval", dataset_digest="e2"),
            _m("f1", 0.1, 1000, 0, w.c),
        ],
    )
    # Any row of the model counts for a filter, as in MLflow (a's 0.9 on train).
    assert sorted(w.ids("metrics.acc > 0.8")[0]) == [w.a]
    assert sorted(w.ids("metrics.acc >= 0.6")[0]) == sorted([w.a, w.b])
    assert sorted(w.ids("metrics.acc IS NULL")[0]) == [w.c]
    assert sorted(w.ids("metrics.acc > 0.8 OR metrics.f1 < 0.5")[0]) == sorted([w.a, w.c])
    assert sorted(w.ids("metrics.acc < 0.65 AND name = 'a'")[0]) == [w.a]
    # datasets narrow the metric rows a clause looks at ...
    assert w.ids("metrics.acc > 0.8", datasets=[{"dataset_name": "eval"}])[0] == []
    assert sorted(w.ids("metrics.acc > 0.65", datasets=[{"dataset_name": "eval"}])[0]) == [w.b]
    on_e1 = [{"dataset_name": "eval", "dataset_digest": "e1"}]
    assert sorted(w.ids("metrics.acc > 0", datasets=on_e1)[0]) == [w.a]
    # ... and without a metric clause keep the models with any metric on them.
    assert sorted(w.ids(datasets=[{"dataset_name": "eval"}])[0]) == sorted([w.a, w.b])
    assert w.ids(datasets=[{"dataset_name": "train"}, {"dataset_name": "nope"}])[0] == [w.a]
    # order_by the newest value (a: 0.6 at ts 2000); no value sorts last both ways.
    assert w.ids(order_by=[{"field_name": "metrics.acc", "ascending": True}])[0] == [w.a, w.b, w.c]
    assert w.ids(order_by=[{"field_name": "metrics.acc", "ascending": False}])[0] == [w.b, w.a, w.c]
    on_train = {"field_name": "metrics.acc", "ascending": False, "dataset_name": "train"}
    assert w.ids(order_by=[on_train])[0][0] == w.a
    first, token = w.ids(order_by=[{"field_name": "metrics.acc"}], max_results=2)
    rest, end = w.ids(order_by=[{"field_name": "metrics.acc"}], max_results=2, token=token)
    assert (first, rest, end) == ([w.a, w.b], [w.c], None)
    for bad in (
        lambda: w.ids("metrics.acc LIKE '0%'"),
        lambda: w.ids("metrics.acc > 'high'"),
        lambda: w.ids(order_by=[{"field_name": "metrics."}]),
        lambda: w.ids(datasets=[{"dataset_digest": "e1"}]),
    ):
        assert _code(bad) == "INVALID_PARAMETER_VALUE"


def test_rows_go_with_a_purged_run(world):
    w = world
    w.tracking.log_metric(w.run, _m("acc", 0.5, 1000, 0, w.a))
    w.tracking.delete_run(w.run)
    w.tracking.hard_delete_run(w.run)
    assert w.models.get_logged_model(w.a).metrics == []


# ------------------------------------------------------------------ the SDK, embedded and over HTTP
@pytest.fixture(params=["embedded", "server"])
def target(request) -> str:
    if request.param == "server":
        mltrail.set_tracking_uri(request.getfixturevalue("server").url)
    return mltrail.set_experiment(f"lmm-{uuid.uuid4().hex[:10]}").experiment_id


def test_log_metric_defaults_to_the_active_model(target):
    model = mltrail.initialize_logged_model(name="agent")
    other = mltrail.initialize_logged_model(name="other")
    with mltrail.start_run():
        mltrail.log_metric("before", 1.0)  # no active model yet
        with mltrail.set_active_model(model_id=model.model_id):
            mltrail.log_metric("acc", 0.8, step=1)
            mltrail.log_metrics({"f1": 0.5, "loss": 0.25}, step=2)
            mltrail.log_metric("explicit", 3.0, model_id=other.model_id)
        mltrail.log_metric("after", 1.0)
    got = {(m.key, m.value, m.step) for m in mltrail.get_logged_model(model.model_id).metrics}
    assert got == {("acc", 0.8, 1), ("f1", 0.5, 2), ("loss", 0.25, 2)}
    assert [m.key for m in mltrail.get_logged_model(other.model_id).metrics] == ["explicit"]
    found = mltrail.search_logged_models(filter_string="metrics.f1 >= 0.5", output_format="list")
    assert [m.model_id for m in found] == [model.model_id]
    ranked = mltrail.search_logged_models(
        order_by=[{"field_name": "metrics.explicit", "ascending": False}], output_format="list"
    )
    assert [m.model_id for m in ranked] == [other.model_id, model.model_id]


def test_log_model_records_a_logged_model(target):
    from sklearn.linear_model import LinearRegression

    est = LinearRegression().fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]))
    with mltrail.start_run() as run:
        mltrail.log_param("alpha", "0.5")
        info = mltrail.sklearn.log_model(est, name="reg")
    model = mltrail.last_logged_model()
    assert model is not None and model.model_id == info.model_id
    assert (model.name, model.source_run_id, model.status, model.experiment_id) == (
        "reg", run.info.run_id, "READY", target)  # fmt: skip
    assert model.params == {"alpha": "0.5"}  # the run's params, as MLflow's log_model copies them
    assert "mlflow.user" in model.tags
    files = {f.path for f in mltrail.MlflowClient().list_logged_model_artifacts(model.model_id)}
    assert "MLmodel" in files
    x = np.array([[4.0]])
    assert mltrail.pyfunc.load_model(f"models:/{model.model_id}").predict(x)[0] == pytest.approx(8.0)
    assert mltrail.pyfunc.load_model(info.model_uri).predict(x)[0] == pytest.approx(8.0)  # runs:/ too
    assert [m.model_id for m in mltrail.search_logged_models(filter_string="name = 'reg'", output_format="list")] == [
        model.model_id]  # fmt: skip
    history = json.loads(mltrail.get_run(run.info.run_id).data.tags["mlflow.log-model.history"])
    assert [h["model_id"] for h in history] == [model.model_id]


def test_a_failed_save_leaves_a_failed_model(target):
    from mltrail.models.logging import log_model_with

    def broken(path, mlflow_model):
        raise RuntimeError("cannot pickle this")

    with mltrail.start_run(), pytest.raises(RuntimeError, match="cannot pickle"):
        log_model_with(broken, "broken")
    assert mltrail.last_logged_model().status == "FAILED"


def test_nested_artifact_path_over_http(server):
    from sklearn.linear_model import LinearRegression

    mltrail.set_tracking_uri(server.url)
    mltrail.set_experiment(f"lmm-{uuid.uuid4().hex[:10]}")
    est = LinearRegression().fit(np.array([[1.0], [2.0]]), np.array([1.0, 2.0]))
    with mltrail.start_run():
        info = mltrail.sklearn.log_model(est, name="models/reg")
    model = mltrail.get_logged_model(info.model_id)
    assert model.name == "models-reg" and model.status == "READY"  # MLflow's names hold no '/'
    assert mltrail.pyfunc.load_model(f"models:/{model.model_id}").predict(np.array([[3.0]]))[
        0
    ] == pytest.approx(3.0)


def test_rest_search_by_metrics(server):
    mltrail.set_tracking_uri(server.url)
    exp_id = mltrail.set_experiment(f"lmm-{uuid.uuid4().hex[:10]}").experiment_id
    model = mltrail.initialize_logged_model(name="m")
    with mltrail.start_run():
        mltrail.log_metric("acc", 0.9, model_id=model.model_id)
    r = httpx.post(
        f"{server.url}{API}/logged-models/search",
        json={"experiment_ids": [exp_id], "filter": "metrics.acc > 0.5"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    (found,) = r.json()["models"]
    assert found["info"]["model_id"] == model.model_id
    assert [(m["key"], m["value"]) for m in found["data"]["metrics"]] == [("acc", 0.9)]
    # datasets= and a dataset-scoped order_by reach the store over HTTP too.
    other = mltrail.initialize_logged_model(name="n")
    with mltrail.start_run():
        mltrail.log_metric("acc", 0.6, model_id=other.model_id, dataset=None)
        client = mltrail.MlflowClient()
        run_id = mltrail.active_run().info.run_id
        client.log_batch(
            run_id, metrics=[_m("acc", 0.8, 2, 0, other.model_id, dataset_name="eval", dataset_digest="d1")]
        )
    by_dataset = httpx.post(
        f"{server.url}{API}/logged-models/search",
        json={"experiment_ids": [exp_id], "datasets": [{"dataset_name": "eval"}]},
        timeout=10,
    ).json()["models"]
    assert [m["info"]["model_id"] for m in by_dataset] == [other.model_id]
    ordered = httpx.post(
        f"{server.url}{API}/logged-models/search",
        json={
            "experiment_ids": [exp_id],
            "order_by": [{"field_name": "metrics.acc", "ascending": False, "dataset_name": "eval"}],
        },
        timeout=10,
    ).json()["models"]
    assert ordered[0]["info"]["model_id"] == other.model_id
    r = httpx.post(
        f"{server.url}{API}/logged-models/search",
        json={"experiment_ids": [exp_id], "filter": "metrics.acc LIKE 'x'"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = "m-" + uuid.uuid4().hex
    with mltrail.start_run() as run:
        bad = [_m("acc", 1.0, 1, 0, unknown)]
        assert (
            _code(lambda: mltrail.MlflowClient().log_batch(run.info.run_id, metrics=bad))
            == "RESOURCE_DOES_NOT_EXIST"
        )
    assert "acc" not in mltrail.get_run(run.info.run_id).data.metrics


# ------------------------------------------------------------------ the official mlflow client
_OFFICIAL = r"""
import json, os
import mlflow

mlflow.set_experiment(experiment_id=os.environ["EXP"])
theirs = mlflow.initialize_logged_model(name="theirs")
with mlflow.start_run(run_id=os.environ["RUN"]):
    mlflow.log_metric("acc", 0.7, step=1, model_id=os.environ["OURS"])
    with mlflow.set_active_model(model_id=theirs.model_id):
        mlflow.log_metrics({"f1": 0.4, "acc": 0.95})
seen = mlflow.get_logged_model(os.environ["OURS"]).metrics
found = mlflow.search_logged_models(
    filter_string="metrics.acc > 0.9", output_format="list",
    order_by=[{"field_name": "metrics.acc", "ascending": False}],
)
print(json.dumps({
    "theirs": theirs.model_id,
    "seen": sorted([m.key, m.value, m.step, m.run_id] for m in seen),
    "found": [m.model_id for m in found],
}))
"""


def test_official_client_and_mltrail_share_model_metrics(server):
    mltrail.set_tracking_uri(server.url)
    exp_id = mltrail.set_experiment(f"official-{uuid.uuid4().hex[:8]}").experiment_id
    ours = mltrail.initialize_logged_model(name="ours")
    with mltrail.start_run() as run:
        mltrail.log_metric("loss", 0.25, step=3, model_id=ours.model_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=server.url, EXP=exp_id, RUN=run.info.run_id, OURS=ours.model_id)
    proc = subprocess.run(
        [sys.executable, "-c", _OFFICIAL], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rid = run.info.run_id
    # The official client reads what mltrail logged (and what it logged itself).
    assert out["seen"] == [["acc", 0.7, 1, rid], ["loss", 0.25, 3, rid]]
    assert out["found"] == [out["theirs"]]
    # mltrail reads what the official client logged, the active-model fallback included.
    theirs = mltrail.get_logged_model(out["theirs"])
    assert sorted((m.key, m.value, m.run_id) for m in theirs.metrics) == [
        ("acc", 0.95, rid),
        ("f1", 0.4, rid),
    ]
    assert {m.key for m in mltrail.get_logged_model(ours.model_id).metrics} == {"acc", "loss"}
