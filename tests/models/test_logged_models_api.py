"""MLflow 3's LoggedModel API and the active model, embedded and against a live ``mltrail server``.

The fluent functions (``initialize_logged_model``, ``create_external_model``,
``search_logged_models``, ``set_active_model`` …) and ``MlflowClient``'s
logged-model methods run on the embedded SQLite default and over HTTP; traces
started while a model is active carry ``mlflow.modelId`` and are found by
``search_traces(model_id=...)``. The official mlflow 3.17.2 client then works
against the same server both ways.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

import mltrail
from mltrail.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.exceptions import MltrailException
from support.live_server import start_server, stop_server

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("logged-models"), timeout=120)
    yield s
    stop_server(s)


@pytest.fixture(autouse=True)
def no_queued_traces() -> Iterator[None]:
    """No queued traces leak into the next test (the active model is reset by clean_fluent_state)."""
    yield
    mltrail.flush_trace_async_logging()


@dataclass
class Target:
    kind: str  # "embedded" or "server"
    experiment_id: str


@pytest.fixture(params=["embedded", "server"])
def target(request) -> Target:
    """The SDK on the embedded default (./mltrail.db in the test's folder) or on the live server."""
    if request.param == "server":
        mltrail.set_tracking_uri(request.getfixturevalue("server").url)
    experiment = mltrail.set_experiment(f"lm-{uuid.uuid4().hex[:10]}")
    return Target(request.param, experiment.experiment_id)


def _code(call) -> str:
    with pytest.raises(MltrailException) as err:
        call()
    return err.value.error_code


def _traced(tag: str) -> str:
    @mltrail.trace(name=f"answer-{tag}")
    def answer(q: str) -> str:
        return q.upper()

    answer(tag)
    return mltrail.get_last_active_trace_id()


# ----------------------------------------------------------------- lifecycle
def test_initialize_params_tags_finalize_delete(target):
    client = mltrail.MlflowClient()
    with mltrail.start_run() as run:
        model = mltrail.initialize_logged_model(
            name="ranker", params={"depth": 6}, tags={"team": "search"}, model_type="ranker"
        )
        # Accepted with the model's id; kept on the run (mltrail has no per-model metric table yet).
        mltrail.log_metric("acc", 0.9, model_id=model.model_id)
    assert isinstance(model, LoggedModel) and model.model_id.startswith("m-")
    assert model.status == LoggedModelStatus.PENDING == "PENDING"
    assert (model.name, model.model_type, model.source_run_id) == ("ranker", "ranker", run.info.run_id)
    assert model.experiment_id == run.info.experiment_id and model.model_uri == f"models:/{model.model_id}"
    assert model.params == {"depth": "6"}
    assert model.tags["team"] == "search" and model.tags["mlflow.source.type"] == "LOCAL"
    assert model.artifact_location.endswith(f"/models/{model.model_id}/artifacts")
    assert mltrail.last_logged_model().model_id == model.model_id
    assert mltrail.get_run(run.info.run_id).data.metrics == {"acc": 0.9}

    mltrail.log_model_params({"lr": 0.1}, model_id=model.model_id)
    mltrail.set_logged_model_tags(model.model_id, {"stage": "dev", "gone": "x"})
    mltrail.delete_logged_model_tag(model.model_id, "gone")
    ready = mltrail.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == "READY" and ready.last_updated_timestamp >= model.creation_timestamp

    got = mltrail.get_logged_model(model.model_id)
    assert got.params == {"depth": "6", "lr": "0.1"}
    assert got.tags["stage"] == "dev" and "gone" not in got.tags
    assert (got.status, got.creation_timestamp, got.artifact_location) == (
        LoggedModelStatus.READY, model.creation_timestamp, model.artifact_location)  # fmt: skip
    assert client.get_logged_model(model.model_id) == got

    # The model is an output of its run; an unknown model is not.
    mltrail.start_run(run_id=run.info.run_id)
    mltrail.log_outputs([LoggedModelOutput(model.model_id, step=0)])
    assert (
        _code(lambda: mltrail.log_outputs([LoggedModelOutput("m-" + "0" * 32)])) == "RESOURCE_DOES_NOT_EXIST"
    )
    mltrail.end_run()

    client.delete_logged_model(model.model_id)
    assert _code(lambda: mltrail.get_logged_model(model.model_id)) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_logged_model(model.model_id, allow_deleted=True).name == "ranker"
    assert mltrail.search_logged_models(output_format="list") == []


def test_client_create_logged_model_adds_no_system_tags_and_finalizes_failed(target):
    client = mltrail.MlflowClient()
    model = client.create_logged_model(target.experiment_id, params={f"p{i}": i for i in range(150)})
    assert model.tags == {} and len(model.params) == 150 and model.name  # a generated name
    assert client.finalize_logged_model(model.model_id, "FAILED").status == LoggedModelStatus.FAILED
    client.log_model_params(model.model_id, {"p0": "changed"})
    assert client.get_logged_model(model.model_id).params["p0"] == "changed"


# ------------------------------------------------------------------- search
def test_search_filters_order_and_pages(target):
    client = mltrail.MlflowClient()
    a = mltrail.initialize_logged_model(
        name="alpha", params={"opt": "adam"}, tags={"rel": "v1"}, model_type="agent"
    )
    mltrail.initialize_logged_model(name="beta", params={"opt": "sgd"}, tags={"rel": "v2"})
    c = mltrail.initialize_logged_model(name="gamma", params={"opt": "adam"}, tags={"rel": "v3"})
    mltrail.finalize_logged_model(a.model_id, "READY")
    mltrail.finalize_logged_model(c.model_id, "READY")
    exp_id = a.experiment_id

    def names(flt: str | None = None, **kw) -> list[str]:
        return [m.name for m in mltrail.search_logged_models(filter_string=flt, output_format="list", **kw)]

    assert names() == ["gamma", "beta", "alpha"]  # newest first by default
    assert names("name = 'beta'") == ["beta"]
    assert names("params.opt = 'adam'") == ["gamma", "alpha"]
    assert names("params.opt != 'adam'") == ["beta"]
    assert names("tags.rel IN ('v1', 'v3') AND status = 'READY'") == ["gamma", "alpha"]
    assert names("status = 'PENDING'") == ["beta"]
    assert names("status IN ('LOGGED_MODEL_READY')") == ["gamma", "alpha"]
    assert names("model_type = 'agent'") == ["alpha"]
    assert names("name LIKE '%a' AND creation_time >= 0") == ["gamma", "beta", "alpha"]
    assert names(f"creation_timestamp > {c.creation_timestamp}") == []
    assert names("name = 'alpha' OR name = 'gamma'") == ["gamma", "alpha"]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["alpha", "beta", "gamma"]
    assert names(order_by=[{"field_name": "name", "ascending": False}], max_results=2) == ["gamma", "beta"]

    seen, token = [], None
    while True:
        page = client.search_logged_models([exp_id], order_by=[{"field_name": "name"}], max_results=1,
                                           page_token=token)  # fmt: skip
        assert len(page) == 1
        seen.append(page[0].name)
        token = page.token
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma"]

    df = mltrail.search_logged_models(filter_string="params.opt = 'adam'")
    assert list(df["name"]) == ["gamma", "alpha"] and list(df["status"]) == ["READY", "READY"]
    assert {"model_id", "experiment_id", "params", "tags", "metrics", "artifact_location"} <= set(df.columns)
    assert mltrail.search_logged_models(experiment_ids=["0"], output_format="list") == []


def test_bad_input_is_a_clear_invalid_parameter_error(target):
    model = mltrail.initialize_logged_model(name="m")
    unknown = "m-" + uuid.uuid4().hex
    assert _code(lambda: mltrail.get_logged_model(unknown)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: mltrail.finalize_logged_model(unknown, "READY")) == "RESOURCE_DOES_NOT_EXIST"
    for call in (
        lambda: mltrail.log_model_params({"a": 1}, model_id=unknown),
        lambda: mltrail.set_logged_model_tags(unknown, {"a": 1}),
        lambda: mltrail.log_model_params({"a": 1}),  # no model id and no active model
        lambda: mltrail.finalize_logged_model(model.model_id, "PENDING"),
        lambda: mltrail.finalize_logged_model(model.model_id, "DONE"),
        lambda: mltrail.initialize_logged_model(name="it's"),
        lambda: mltrail.initialize_logged_model(name="a/b"),
        lambda: mltrail.search_logged_models(output_format="arrow"),
        lambda: mltrail.search_logged_models(filter_string="nosuch = 'x'"),
        lambda: mltrail.search_logged_models(filter_string="name = "),
        lambda: mltrail.search_logged_models(filter_string="status LIKE 'R%'"),
        lambda: mltrail.search_logged_models(order_by=[{"field_name": "nosuch"}]),
        lambda: mltrail.search_logged_models(datasets=[{"dataset_digest": "abc"}]),
        lambda: mltrail.MlflowClient().search_logged_models([model.experiment_id], max_results=5000),
        lambda: mltrail.set_active_model(),
        lambda: mltrail.set_active_model(name="other", model_id=model.model_id),
    ):
        assert _code(call) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="Invalid filter 'nosuch = 'x''"):
        mltrail.search_logged_models(filter_string="nosuch = 'x'")
    assert _code(lambda: mltrail.set_active_model(model_id=unknown)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: mltrail.delete_logged_model_tag(model.model_id, "nope")) == "RESOURCE_DOES_NOT_EXIST"


def test_rest_errors_are_400_with_error_codes(server):
    exp_id = httpx.post(server.url + API + "/experiments/create", json={"name": f"e-{uuid.uuid4().hex}"}).json()[
        "experiment_id"]  # fmt: skip

    def post(path: str, body: dict) -> httpx.Response:
        return httpx.post(server.url + API + path, json=body, timeout=10)

    for body in (
        {"experiment_ids": [exp_id], "filter": "name ~ 'x'"},
        {"experiment_ids": [exp_id], "order_by": [{"field_name": "nosuch"}]},
        {"experiment_ids": [exp_id], "max_results": 0},
        {"experiment_ids": []},
    ):
        r = post("/logged-models/search", body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (body, r.text)
    r = post("/logged-models", {"experiment_id": exp_id, "name": "bad'name"})
    assert r.status_code == 400 and "Invalid model name" in r.json()["message"]
    r = httpx.get(server.url + API + "/logged-models/m-" + "0" * 32, timeout=10)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


# ------------------------------------------------------------- external model
def test_create_external_model_is_ready_with_an_mlmodel(target):
    with mltrail.start_run() as run:
        model = mltrail.create_external_model(name="support-agent", model_type="agent", params={"llm": "gpt"})
    assert model.status == "READY" and model.tags["mlflow.model.isExternal"] == "true"
    assert model.source_run_id == run.info.run_id and model.params == {"llm": "gpt"}
    assert mltrail.last_logged_model().model_id == model.model_id
    files = mltrail.MlflowClient().list_logged_model_artifacts(model.model_id)
    assert [f.path for f in files] == ["MLmodel"]
    local = mltrail.artifacts.download_artifacts(f"{model.artifact_location}/MLmodel", dst_path=os.getcwd())
    from mltrail.models.model import Model

    spec = Model.load(local)
    assert (spec.model_id, spec.run_id, spec.metadata) == (
        model.model_id, run.info.run_id, {"mlflow.model.isExternal": True})  # fmt: skip
    assert spec.signature is not None


def test_last_logged_model_is_per_thread(target):
    assert mltrail.last_logged_model() is None
    model = mltrail.initialize_logged_model(name="first")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(mltrail.last_logged_model()))
    worker.start()
    worker.join()
    assert seen == [None]
    assert mltrail.last_logged_model().model_id == model.model_id


# --------------------------------------------------------------- active model
def test_set_active_model_by_name_creates_once_and_reuses(target):
    assert mltrail.get_active_model_id() is None
    first = mltrail.set_active_model(name="agent-v1")
    assert isinstance(first, mltrail.ActiveModel) and isinstance(first, LoggedModel)
    assert mltrail.get_active_model_id() == first.model_id
    assert first.status == "READY" and first.tags["mlflow.model.isExternal"] == "true"
    again = mltrail.set_active_model(name="agent-v1")
    assert again.model_id == first.model_id
    assert len(mltrail.search_logged_models(filter_string="name = 'agent-v1'", output_format="list")) == 1
    by_id = mltrail.set_active_model(model_id=first.model_id)
    assert by_id.name == "agent-v1" and mltrail.get_active_model_id() == first.model_id

    # The context manager restores whatever was active before, nested too.
    with mltrail.set_active_model(name="agent-v2") as v2:
        assert mltrail.get_active_model_id() == v2.model_id != first.model_id
        with mltrail.set_active_model(name="agent-v3") as v3:
            assert mltrail.get_active_model_id() == v3.model_id
        assert mltrail.get_active_model_id() == v2.model_id
    assert mltrail.get_active_model_id() == first.model_id
    mltrail.log_model_params({"prompt": "v1"})  # goes to the active model
    assert mltrail.get_logged_model(first.model_id).params == {"prompt": "v1"}
    mltrail.clear_active_model()
    assert mltrail.get_active_model_id() is None


def test_traces_link_to_the_active_model_and_search_by_it(target):
    before = _traced("before")
    with mltrail.set_active_model(name="app-a") as a:
        a_ids = {_traced("a1"), _traced("a2")}
    b = mltrail.set_active_model(name="app-b")
    b_id = _traced("b1")
    mltrail.clear_active_model()
    after = _traced("after")

    found_a = mltrail.search_traces(model_id=a.model_id, return_type="list")
    assert {t.info.trace_id for t in found_a} == a_ids
    assert all(t.info.trace_metadata["mlflow.modelId"] == a.model_id for t in found_a)
    page = mltrail.MlflowClient().search_traces(model_id=b.model_id)
    assert [t.info.trace_id for t in page] == [b_id]
    for trace_id in (before, after):
        assert "mlflow.modelId" not in mltrail.get_trace(trace_id).info.trace_metadata
    df = mltrail.search_traces(model_id=a.model_id)
    assert sorted(df["trace_id"]) == sorted(a_ids)
    with pytest.raises(MltrailException, match="model_id"):
        mltrail.search_traces(model_id=a.model_id, filter_string="attributes.status = 'OK'")


def test_active_model_is_per_thread_and_traces_in_workers_inherit_it(target, monkeypatch):
    model = mltrail.set_active_model(name="served")
    out: dict[str, object] = {}

    def worker() -> None:
        out["active"] = mltrail.get_active_model_id()  # another thread has its own (none)
        out["trace"] = _traced("worker")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert out["active"] is None
    # ...but its traces still link to the one model active in the process, as in MLflow.
    assert mltrail.get_trace(out["trace"]).info.trace_metadata["mlflow.modelId"] == model.model_id

    # MLFLOW_ACTIVE_MODEL_ID is read when a thread first asks, not at import: a new thread sees it.
    other = mltrail.create_external_model(name="from-env")
    monkeypatch.setenv("MLFLOW_ACTIVE_MODEL_ID", other.model_id)
    seen = []
    reader = threading.Thread(target=lambda: seen.append(mltrail.get_active_model_id()))
    reader.start()
    reader.join()
    assert seen == [other.model_id]
    assert mltrail.get_active_model_id() == model.model_id  # this thread chose already
    mltrail.clear_active_model()
    assert "MLFLOW_ACTIVE_MODEL_ID" not in os.environ and mltrail.get_active_model_id() is None


_ENV_CHILD = r"""
import json, sys
import mltrail

print(json.dumps({"active": mltrail.get_active_model_id()}))

@mltrail.trace
def handle(q):
    return q

handle("from a child process")
mltrail.flush_trace_async_logging()
print(json.dumps({"trace": mltrail.get_last_active_trace_id()}))
"""


@pytest.mark.parametrize("var", ["MLFLOW_ACTIVE_MODEL_ID", "_MLFLOW_ACTIVE_MODEL_ID"])
def test_env_var_sets_the_active_model_of_a_new_process(target, var, tmp_path):
    model = mltrail.create_external_model(name="deployed")
    exp_id = model.experiment_id
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update({var: model.model_id, "MLFLOW_EXPERIMENT_ID": exp_id})
    if target.kind == "server":
        env["MLFLOW_TRACKING_URI"] = mltrail.get_tracking_uri()
    proc = subprocess.run(
        [sys.executable, "-c", _ENV_CHILD], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert lines[0] == {"active": model.model_id}
    traces = mltrail.search_traces(model_id=model.model_id, return_type="list")
    assert [t.info.trace_id for t in traces] == [lines[1]["trace"]]


# ------------------------------------------------------ the official client
_OFFICIAL = r"""
import json, os
import mlflow

mlflow.set_experiment(os.environ["EXP"])
reused = mlflow.set_active_model(name="shared-agent")
with mlflow.set_active_model(name="official-agent") as own:

    @mlflow.trace
    def answer(q):
        return q.upper()

    answer("one")
    answer("two")
mlflow.flush_trace_async_logging()
print(json.dumps({"reused": reused.model_id, "own": own.model_id, "active": mlflow.get_active_model_id()}))
"""


def test_official_client_active_model_traces_are_found_by_mltrail(server):
    mltrail.set_tracking_uri(server.url)
    exp = f"official-{uuid.uuid4().hex[:8]}"
    mltrail.set_experiment(exp)
    shared = mltrail.create_external_model(name="shared-agent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=server.url, EXP=exp)
    proc = subprocess.run(
        [sys.executable, "-c", _OFFICIAL], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["reused"] == shared.model_id == out["active"]  # found by name, not created again

    own = mltrail.get_logged_model(out["own"])
    assert (
        own.name == "official-agent"
        and own.status == "READY"
        and own.tags["mlflow.model.isExternal"] == "true"
    )
    traces = mltrail.search_traces(model_id=own.model_id, return_type="list", order_by=["timestamp_ms ASC"])
    assert [t.data.spans[0].inputs for t in traces] == [{"q": "one"}, {"q": "two"}]
    assert mltrail.search_traces(model_id=shared.model_id, return_type="list") == []


def test_official_client_reads_models_created_by_mltrail(server, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mltrail.set_tracking_uri(server.url)
    mltrail.set_experiment(f"read-{uuid.uuid4().hex[:8]}")
    with mltrail.start_run() as run:
        ours = mltrail.initialize_logged_model(
            name="ours", params={"k": "v"}, tags={"t": "1"}, model_type="agent"
        )
    ours = mltrail.finalize_logged_model(ours.model_id, "READY")
    theirs = mlflow.MlflowClient(server.url)

    got = theirs.get_logged_model(ours.model_id)
    assert (got.model_id, got.name, got.experiment_id, got.artifact_location, got.model_type) == (
        ours.model_id, "ours", ours.experiment_id, ours.artifact_location, "agent")  # fmt: skip
    assert (got.source_run_id, got.params, got.tags) == (run.info.run_id, ours.params, ours.tags)
    assert (got.creation_timestamp, got.last_updated_timestamp) == (
        ours.creation_timestamp, ours.last_updated_timestamp)  # fmt: skip
    assert got.status == mlflow.entities.LoggedModelStatus.READY and str(got.status) == str(ours.status)

    page = theirs.search_logged_models(
        [ours.experiment_id], filter_string="params.k = 'v'", order_by=[{"field_name": "creation_time"}]
    )
    assert [m.model_id for m in page] == [ours.model_id]
    # ...and a model the official client finalizes reads back the same through mltrail.
    created = theirs.create_logged_model(ours.experiment_id, name="theirs", params={"x": "1"})
    theirs.finalize_logged_model(created.model_id, mlflow.entities.LoggedModelStatus.READY)
    back = mltrail.get_logged_model(created.model_id)
    assert (back.name, back.params, back.status) == ("theirs", {"x": "1"}, LoggedModelStatus.READY)
