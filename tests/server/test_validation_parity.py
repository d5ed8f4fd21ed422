"""Validation parity: mltrail refuses exactly what MLflow 3.17 refuses, with the same error code.

For every row, MLflow's own validator (``mlflow.utils.validation``) gives the
reference verdict in-process: accepted, or an ``MlflowException`` with its
``error_code`` and HTTP status. The same input then goes to a live mltrail
server through the official client (``MlflowClient(tracking_uri=server.url)``),
which must reach the same verdict, and a refused input must leave nothing behind.

MLflow's validators run with ``MLFLOW_TRUNCATE_LONG_VALUES=false``: by default
MLflow's server silently cuts an over-long param or run tag value to its limit,
where mltrail refuses it (a deliberate difference, see docs/security.md).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils import validation as v

from support.live_server import start_server, stop_server

Verdict = tuple[str, int] | None  # (error_code, HTTP status), or None when accepted


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("parity"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url)


@pytest.fixture
def run_id(client) -> str:
    exp = client.create_experiment(f"parity-{uuid.uuid4().hex}")
    return client.create_run(exp).info.run_id


@pytest.fixture(autouse=True)
def _strict_mlflow(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", "false")


def verdict(fn: Callable[..., Any], *args: Any) -> Verdict:
    try:
        fn(*args)
    except MlflowException as err:
        return err.error_code, err.get_http_status_code()
    return None


def assert_same(reference: Verdict, got: Verdict, case: object) -> None:
    assert got == reference, f"{case!r}: MLflow says {reference}, mltrail says {got}"
    if reference is not None:
        assert reference[1] == 400, case  # every validation refusal is a client error


KEYS = [
    "acc", "a b", "a/b", "a.b-c_d", "a:b", "ünï", "x" * 250, "x" * 251, "", "a$b", "a\\b", "a\nb",
    "../x", "/abs", "a/../b", "a//b", "./a", "a/", ".", "..", "a,b", "a#b",
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_metric_keys(client, run_id, key):
    reference = verdict(v._validate_metric, key, 1.0, 0, 0)
    got = verdict(client.log_metric, run_id, key, 1.0, 0, 0)
    assert_same(reference, got, key)
    if reference is not None:
        assert key not in client.get_run(run_id).data.metrics


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_param_and_tag_keys(client, run_id, key):
    assert_same(verdict(v._validate_param, key, "v"), verdict(client.log_param, run_id, key, "v"), key)
    assert_same(verdict(v._validate_tag, key, "v"), verdict(client.set_tag, run_id, key, "v"), key)
    exp = client.get_run(run_id).info.experiment_id
    assert_same(verdict(v._validate_experiment_tag, key, "v"),
                verdict(client.set_experiment_tag, exp, key, "v"), key)
    data = client.get_run(run_id).data
    if verdict(v._validate_param, key, "v") is not None:
        assert key not in data.params
        assert key not in data.tags


@pytest.mark.parametrize(
    ("value", "timestamp", "step"),
    [
        (float("nan"), 0, 0), (float("inf"), 0, 0), (float("-inf"), 0, 0), (-1e308, 0, 0),
        (1.0, -1, 0), (1.0, 2**63 - 1, 0), (1.0, 0, -5), (1.0, 0, 2**63 - 1),
    ],
)
def test_metric_values_timestamps_steps(client, run_id, value, timestamp, step):
    reference = verdict(v._validate_metric, "m", value, timestamp, step)
    assert_same(reference, verdict(client.log_metric, run_id, "m", value, timestamp, step), (value, timestamp, step))
    if reference is not None:
        assert "m" not in client.get_run(run_id).data.metrics


@pytest.mark.parametrize("length", [6000, 6001])
def test_param_value_length(client, run_id, length):
    value = "v" * length
    reference = verdict(v._validate_param, "p", value)
    assert_same(reference, verdict(client.log_param, run_id, "p", value), length)
    assert ("p" in client.get_run(run_id).data.params) == (reference is None)


@pytest.mark.parametrize(("limit", "setter"), [(8000, "set_tag"), (20000, "set_experiment_tag")])
def test_tag_value_lengths(client, run_id, limit, setter):
    validator = v._validate_tag if setter == "set_tag" else v._validate_experiment_tag
    target = run_id if setter == "set_tag" else client.get_run(run_id).info.experiment_id
    for length in (limit, limit + 1):
        key = f"t{length}"
        reference = verdict(validator, key, "v" * length)
        assert_same(reference, verdict(getattr(client, setter), target, key, "v" * length), (setter, length))


def test_changing_a_param_value_is_refused_as_in_mlflow(client, run_id):
    # MLflow's SQL store (sqlalchemy_store.log_param) refuses a changed value with
    # INVALID_PARAMETER_VALUE; logging the same value again is fine.
    client.log_param(run_id, "lr", "0.1")
    assert verdict(client.log_param, run_id, "lr", "0.1") is None
    assert verdict(client.log_param, run_id, "lr", "0.2") == ("INVALID_PARAMETER_VALUE", 400)
    assert client.get_run(run_id).data.params["lr"] == "0.1"


@pytest.mark.parametrize(
    ("metrics", "params", "tags"),
    [(1000, 0, 0), (1001, 0, 0), (0, 100, 0), (0, 101, 0), (0, 0, 100), (0, 0, 101), (900, 100, 0),
     (900, 100, 1)],
)
def test_batch_sizes(client, run_id, metrics, params, tags):
    ms = [Metric(f"m{i}", 1.0, 0, 0) for i in range(metrics)]
    ps = [Param(f"p{i}", "v") for i in range(params)]
    ts = [RunTag(f"t{i}", "v") for i in range(tags)]
    reference = verdict(v._validate_batch_log_limits, ms, ps, ts)
    # The REST store sends one request as given (the fluent client would split it).
    store = client._tracking_client.store
    got = verdict(store.log_batch, run_id, ms, ps, ts)
    assert_same(reference, got, (metrics, params, tags))
    data = client.get_run(run_id).data
    written = len(data.metrics) + len(data.params) + len([t for t in data.tags if t.startswith("t")])
    assert written == (0 if reference else metrics + params + tags)


def test_duplicate_params_in_one_batch(client, run_id):
    ps = [Param("p", "1"), Param("p", "2")]
    reference = verdict(v._validate_param_keys_unique, ps)
    assert_same(reference, verdict(client._tracking_client.store.log_batch, run_id, [], ps, []), "dupes")
    assert client.get_run(run_id).data.params == {}


@pytest.mark.parametrize("name", ["", "ok", "a/b:c", " spaced ", "x" * 500, "x" * 501], ids=repr)
def test_experiment_names(client, name):
    unique = name if name in ("", "x" * 500, "x" * 501) else f"{name}-{uuid.uuid4().hex}"
    if unique == "x" * 500:
        unique = uuid.uuid4().hex + "x" * 468
    reference = verdict(v._validate_experiment_name, unique)
    assert_same(reference, verdict(client.create_experiment, unique), len(unique))
    if reference is not None and unique:
        assert client.get_experiment_by_name(unique) is None


def _dataset(**overrides: Any) -> Dataset:
    fields = {"name": "d", "digest": "abc", "source_type": "local", "source": "{}", "schema": None, "profile": None}
    fields.update(overrides)
    return Dataset(**fields)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"name": "n" * 500}, {"name": "n" * 501}, {"digest": "d" * 36}, {"digest": "d" * 37},
     {"source": "s" * 65535}, {"source": "s" * 65536}],
    ids=lambda o: ",".join(f"{k}={len(val)}" for k, val in o.items()) or "plain",
)
def test_dataset_inputs(client, run_id, overrides):
    inputs = [DatasetInput(_dataset(**overrides), [InputTag("mlflow.data.context", "train")])]
    reference = verdict(v._validate_dataset_inputs, inputs)
    assert_same(reference, verdict(client.log_inputs, run_id, inputs), overrides)
    assert len(client.get_run(run_id).inputs.dataset_inputs) == (0 if reference else 1)


@pytest.mark.parametrize(("key", "value"), [("k" * 255, "v"), ("k" * 256, "v"), ("k", "v" * 500), ("k", "v" * 501)])
def test_dataset_input_tags(client, run_id, key, value):
    tags = [InputTag(key, value)]
    reference = verdict(v._validate_input_tags, tags)
    store = client._tracking_client.store
    got = verdict(store.log_inputs, run_id, [DatasetInput(_dataset(), tags)])
    assert_same(reference, got, (len(key), len(value)))


@pytest.mark.parametrize(
    "name", ["model", "a/b", "a:b", "../m", "", "  ", "m.v1", "with space"], ids=repr,
)
def test_registered_model_names(client, name):
    unique = name if not name.strip() else f"{name}-{uuid.uuid4().hex}" if name != "../m" else name
    reference = verdict(v._validate_model_name, unique)
    assert_same(reference, verdict(client.create_registered_model, unique), unique)


@pytest.mark.parametrize("alias", ["champion", "a-b_c", "latest", "LATEST", "v1", "V12", "a b", "a/b", "a" * 256])
def test_model_aliases(client, alias):
    model = f"aliased-{uuid.uuid4().hex}"
    client.create_registered_model(model)
    client.create_model_version(model, "s3://bucket/model")

    def reference_check(name: str) -> None:
        v._validate_model_alias_name(name)
        v._validate_model_alias_name_reserved(name)

    reference = verdict(reference_check, alias)
    assert_same(reference, verdict(client.set_registered_model_alias, model, alias, "1"), alias)
    aliases = client.get_registered_model(model).aliases
    assert (alias in aliases) == (reference is None)


@pytest.mark.parametrize("key", ["ok", "a:b", "a b/c", "", "../x", "a$b", "/abs", "k" * 250, "k" * 251], ids=repr)
def test_registry_tag_keys(client, key):
    model = f"tagged-{uuid.uuid4().hex}"
    client.create_registered_model(model)
    version = client.create_model_version(model, "s3://bucket/model").version
    reference = verdict(v._validate_registered_model_tag, key, "v")
    assert_same(reference, verdict(client.set_registered_model_tag, model, key, "v"), key)
    assert_same(verdict(v._validate_model_version_tag, key, "v"),
                verdict(client.set_model_version_tag, model, version, key, "v"), key)
    assert (key in client.get_registered_model(model).tags) == (reference is None)


# ------------------------------------------------------------ MLflow's own request handlers

# MLflow's server checks some fields in its Flask handlers before any store is reached
# (``mlflow.server.handlers``: ``max_results`` caps per search). Those handlers run here
# in-process, in a Flask request context, on a file store: a request the handler accepts
# reaches the store, which answers that the file backend takes no new writes; a request
# the handler refuses never gets that far. That is MLflow's verdict, to compare with ours.


@pytest.fixture(scope="module")
def mlflow_handlers(tmp_path_factory):
    from flask import Flask
    from mlflow.server import handlers

    root = tmp_path_factory.mktemp("mlflow-server")
    saved = {k: os.environ.get(k) for k in ("_MLFLOW_SERVER_FILE_STORE", "_MLFLOW_SERVER_ARTIFACT_ROOT")}
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = str(root / "mlruns")
    os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = str(root / "artifacts")
    yield Flask("mlflow-reference"), handlers
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def handler_verdict(flask_app: Any, handler: Callable[[], Any], body: dict[str, Any], method: str) -> Verdict:
    """MLflow's handler on ``body``: None if it passed its own checks, else (error_code, status)."""
    kwargs = {"json": body} if method == "POST" else {"query_string": body}
    with flask_app.test_request_context("/", method=method, **kwargs):
        try:
            resp = handler()
        except MlflowException as err:
            reached_store = "maintenance mode" in err.message
            return None if reached_store else (err.error_code, err.get_http_status_code())
        payload = json.loads(resp.get_data())
        if resp.status_code == 200 or "maintenance mode" in payload.get("message", ""):
            return None
        return payload["error_code"], resp.status_code


LOCATION = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "0"}}]


@pytest.mark.parametrize(
    ("search", "max_results"),
    [("runs", 50_000), ("runs", 50_001), ("traces", 500), ("traces", 501), ("registered_models", 1000),
     ("registered_models", 1001), ("model_versions", 200_000), ("model_versions", 200_001)],
)
def test_max_results_caps_match_mlflows_handlers(client, mlflow_handlers, search, max_results):
    flask_app, h = mlflow_handlers
    store = client._tracking_client.store
    registry = client._get_registry_client().store
    cases = {
        "runs": (h._search_runs, {"experiment_ids": ["0"], "max_results": max_results}, "POST",
                 lambda: store.search_runs(["0"], "", 1, max_results)),
        "traces": (h._search_traces_v3, {"locations": LOCATION, "max_results": max_results}, "POST",
                   lambda: store.search_traces(locations=["0"], max_results=max_results)),
        "registered_models": (h._search_registered_models, {"max_results": max_results}, "GET",
                              lambda: registry.search_registered_models(max_results=max_results)),
        "model_versions": (h._search_model_versions, {"max_results": max_results}, "GET",
                           lambda: registry.search_model_versions(max_results=max_results)),
    }
    handler, body, method, ours = cases[search]
    assert_same(handler_verdict(flask_app, handler, body, method), verdict(ours), (search, max_results))


# Malformed bodies: MLflow's handlers refuse each before its store is reached (missing
# required fields, wrong JSON types), and mltrail must refuse them with the same code.
# Bodies MLflow's handlers pass on to the store are listed with what its store does.
MALFORMED = [
    ("_create_experiment", "/experiments/create", {}),
    ("_create_experiment", "/experiments/create", {"name": ""}),
    ("_create_experiment", "/experiments/create", {"name": 5}),
    ("_create_experiment", "/experiments/create", {"name": "x", "artifact_location": 5}),
    ("_create_experiment", "/experiments/create", {"name": "x", "tags": "bad"}),
    ("_create_run", "/runs/create", {"experiment_id": 5}),
    ("_create_run", "/runs/create", {"experiment_id": "0", "start_time": "abc"}),
    ("_create_run", "/runs/create", {"experiment_id": "0", "run_name": 5}),
    ("_log_metric", "/runs/log-metric", {}),
    ("_log_metric", "/runs/log-metric", {"run_id": "{run}", "key": "k"}),
    ("_log_metric", "/runs/log-metric", {"run_id": "{run}", "key": "k", "value": "abc", "timestamp": 1}),
    ("_log_metric", "/runs/log-metric", {"run_id": "{run}", "key": "k", "value": 1}),
    ("_log_metric", "/runs/log-metric", {"run_id": "{run}", "value": 1, "timestamp": 1}),
    ("_log_metric", "/runs/log-metric", {"run_id": "{run}", "key": "k", "value": 1, "timestamp": 1, "step": "x"}),
    ("_log_metric", "/runs/log-metric", {"key": "k", "value": 1, "timestamp": 1}),
    ("_log_param", "/runs/log-parameter", {"run_id": "{run}", "key": "k2", "value": 5}),
    ("_log_param", "/runs/log-parameter", {"run_id": "{run}", "value": "v"}),
    ("_log_param", "/runs/log-parameter", {"key": "k", "value": "v"}),
    ("_set_tag", "/runs/set-tag", {"run_id": "{run}", "value": "v"}),
    ("_set_tag", "/runs/set-tag", {"run_id": "{run}", "key": "k", "value": 5}),
    ("_log_batch", "/runs/log-batch", {"run_id": "{run}", "metrics": "x"}),
    ("_log_batch", "/runs/log-batch", {"run_id": "{run}", "metrics": [{"key": "k"}]}),
    ("_log_batch", "/runs/log-batch", {"metrics": []}),
    ("_search_runs", "/runs/search", {"experiment_ids": "0"}),
    ("_search_runs", "/runs/search", {"experiment_ids": ["0"], "max_results": "abc"}),
    ("_search_runs", "/runs/search", {"experiment_ids": ["0"], "order_by": "x"}),
    ("_search_runs", "/runs/search", {"experiment_ids": ["0"], "order_by": [5]}),
    ("_search_runs", "/runs/search", {"experiment_ids": ["0"], "filter": 5}),
    ("_search_experiments", "/experiments/search", {"max_results": "abc"}),
    ("_search_experiments", "/experiments/search", {"order_by": "x"}),
    ("_search_experiments", "/experiments/search", {"filter": 5}),
    ("_delete_experiment", "/experiments/delete", {}),
    ("_delete_experiment", "/experiments/delete", {"experiment_id": 5}),
    ("_update_run", "/runs/update", {}),
    ("_update_run", "/runs/update", {"run_id": "{run}", "end_time": "x"}),
]


@pytest.mark.parametrize(("handler", "path", "body"), MALFORMED, ids=lambda x: json.dumps(x) if isinstance(x, dict) else x)
def test_malformed_bodies_are_refused_as_mlflows_handlers_refuse_them(
    server, mlflow_handlers, run_id, handler, path, body
):
    flask_app, h = mlflow_handlers
    body = {k: (run_id if v == "{run}" else v) for k, v in body.items()}
    reference = handler_verdict(flask_app, getattr(h, handler), body, "POST")
    assert reference is not None, "MLflow's handler refuses this body"
    resp = httpx.post(server.url + "/api/2.0/mlflow" + path, json=body, timeout=30)
    got = (resp.json()["error_code"], resp.status_code) if resp.status_code != 200 else None
    assert_same(reference, got, (path, body))
    if path.startswith("/runs/log") or path == "/runs/set-tag":
        data = httpx.get(server.url + "/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["data"]
        assert not data.get("metrics") and not data.get("params")
        assert not [t for t in data.get("tags", []) if t["key"] in ("k", "k2")]


@pytest.mark.parametrize("bad", ["metric", "param", "tag"])
def test_one_bad_item_in_a_batch_writes_nothing(client, run_id, bad):
    ms = [Metric(f"m{i}", 1.0, 0, 0) for i in range(5)] + ([Metric("bad$key", 1.0, 0, 0)] if bad == "metric" else [])
    ps = [Param(f"p{i}", "v") for i in range(5)] + ([Param("../bad", "v")] if bad == "param" else [])
    ts = [RunTag(f"t{i}", "v") for i in range(5)] + ([RunTag("t" * 251, "v")] if bad == "tag" else [])
    reference = verdict(v._validate_batch_log_data, ms, ps, ts)
    assert_same(reference, verdict(client._tracking_client.store.log_batch, run_id, ms, ps, ts), bad)
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}
    assert not [k for k in data.tags if k.startswith("t")]


@pytest.mark.parametrize("new_name", ["renamed", "", "x" * 501], ids=len)
def test_experiment_renames(client, new_name):
    exp = client.create_experiment(f"to-rename-{uuid.uuid4().hex}")
    unique = f"{new_name}-{uuid.uuid4().hex}" if new_name == "renamed" else new_name
    reference = verdict(v._validate_experiment_name, unique)
    assert_same(reference, verdict(client.rename_experiment, exp, unique), len(unique))


@pytest.mark.parametrize("new_name", ["renamed", "a/b", "a:b", "", "../x"], ids=repr)
def test_registered_model_renames(client, new_name):
    model = f"to-rename-{uuid.uuid4().hex}"
    client.create_registered_model(model)
    unique = f"{new_name}-{uuid.uuid4().hex}" if new_name in ("renamed", "a/b", "a:b") else new_name
    reference = verdict(v._validate_model_renaming, unique)
    registry = client._get_registry_client().store  # the client refuses '' itself, before any request
    assert_same(reference, verdict(registry.rename_registered_model, model, unique), unique)
    assert client.get_registered_model(model).name == model if reference else True


@pytest.mark.parametrize("version", ["1", "abc", "1.5"])
def test_model_version_numbers(client, version):
    model = f"versioned-{uuid.uuid4().hex}"
    client.create_registered_model(model)
    client.create_model_version(model, "s3://bucket/model")
    reference = verdict(v._validate_model_version, version)
    got = verdict(client.get_model_version, model, version)
    assert_same(reference, got, version)


@pytest.mark.parametrize(
    ("key", "value"),
    [("k", "v"), ("k" * 250, "v"), ("k" * 251, "v"), ("k", "v" * 8000), ("k", "v" * 8001), ("a$b", "v"),
     ("../x", "v"), ("a:b", "v")],
    ids=lambda x: repr(x[:12]),
)
def test_trace_tags(server, client, key, value):
    exp = client.create_experiment(f"traced-{uuid.uuid4().hex}")
    hex_id = uuid.uuid4().hex
    span = {"traceId": hex_id, "spanId": hex_id[:16], "name": "root", "startTimeUnixNano": "1",
            "endTimeUnixNano": "2"}
    sent = httpx.post(f"{server.url}/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]},
                      headers={"x-mlflow-experiment-id": exp}, timeout=30)
    assert sent.status_code == 200, sent.text
    store = client._tracing_client.store
    trace_id = f"tr-{hex_id}"
    reference = verdict(v._validate_trace_tag, key, value)
    assert_same(reference, verdict(store.set_trace_tag, trace_id, key, value), (key[:12], len(value)))
    assert (key in store.get_trace_info(trace_id).tags) == (reference is None)
