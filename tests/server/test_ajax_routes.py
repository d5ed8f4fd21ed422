"""The ``/ajax-api/`` helpers MLflow's web UI calls: upload-artifact, get-trace-artifact,
search-datasets and create-promptlab-run, over HTTP against one module-scoped server;
what they write is read back with the official ``mlflow`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag

from support.live_server import LiveServer, start_server, stop_server

AJAX = "/ajax-api/2.0/mlflow"
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("ajax"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(server.url)


@pytest.fixture(scope="module")
def run(client: mlflow.MlflowClient) -> mlflow.entities.Run:
    experiment_id = client.create_experiment("ajax-routes")
    return client.create_run(experiment_id)


def test_upload_artifact(server: LiveServer, client: mlflow.MlflowClient, run, tmp_path) -> None:
    url = f"{server.url}{AJAX}/upload-artifact"
    params = {"run_uuid": run.info.run_id, "path": "notes/a.txt"}
    # a body type a browser sends cross-site without asking is refused (the guard's CSRF rule)
    assert (
        httpx.post(url, params=params, content=b"hello", headers={"Content-Type": "text/plain"}).status_code
        == 400
    )
    resp = httpx.post(url, params=params, content=b"hello", headers=OCTETS)
    assert resp.status_code == 200, resp.text
    assert [f.path for f in client.list_artifacts(run.info.run_id, "notes")] == ["notes/a.txt"]
    local = client.download_artifacts(run.info.run_id, "notes/a.txt", str(tmp_path))
    assert Path(local).read_bytes() == b"hello"

    too_big = b"x" * (10 * 1024 * 1024 + 1)
    for params, body, needle in [
        ({"path": "a.txt"}, b"x", "run_uuid"),
        ({"run_uuid": run.info.run_id}, b"x", "path"),
        ({"run_uuid": run.info.run_id, "path": "../../escape.txt"}, b"x", ""),
        ({"run_uuid": run.info.run_id, "path": "b.txt"}, b"", "data"),
        ({"run_uuid": run.info.run_id, "path": "big.bin"}, too_big, "10MB"),
    ]:
        bad = httpx.post(url, params=params, content=body, headers=OCTETS)
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE", bad.text
        assert needle in bad.json()["message"]
    assert {f.path for f in client.list_artifacts(run.info.run_id)} == {"notes"}  # nothing half-written
    unknown = httpx.post(url, params={"run_uuid": "0" * 32, "path": "a.txt"}, content=b"x", headers=OCTETS)
    assert unknown.status_code == 404


def test_get_trace_artifact(server: LiveServer, client: mlflow.MlflowClient, run) -> None:
    otel_trace = "5b8efff798038103d269b633813fc60c"
    span = {"traceId": otel_trace, "spanId": "eee19b7ec3c1b174", "name": "outer",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"}  # fmt: skip
    sent = httpx.post(f"{server.url}/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]},
                      headers={"x-mlflow-experiment-id": run.info.experiment_id})  # fmt: skip
    assert sent.status_code == 200, sent.text
    trace_id = f"tr-{otel_trace}"
    for version in ("2.0", "3.0"):
        resp = httpx.get(
            f"{server.url}/ajax-api/{version}/mlflow/get-trace-artifact", params={"request_id": trace_id}
        )
        assert resp.status_code == 200, resp.text
        assert 'filename="traces.json"' in resp.headers["content-disposition"]
        spans = json.loads(resp.content)["spans"]
        assert [s["name"] for s in spans] == ["outer"]
    missing = httpx.get(f"{server.url}{AJAX}/get-trace-artifact")
    assert missing.status_code == 400 and missing.json()["error_code"] == "BAD_REQUEST"
    assert (
        httpx.get(f"{server.url}{AJAX}/get-trace-artifact", params={"request_id": "tr-0"}).status_code == 404
    )
    escape = httpx.get(
        f"{server.url}{AJAX}/get-trace-artifact", params={"request_id": trace_id, "path": "../x"}
    )
    assert escape.status_code == 400


def test_search_datasets(server: LiveServer, client: mlflow.MlflowClient, run) -> None:
    ds = Dataset("iris", "d1g3st", "local", '{"uri": "/data/iris.csv"}')
    client.log_inputs(run.info.run_id, [DatasetInput(ds, [InputTag("mlflow.data.context", "training")])])
    other = client.create_run(run.info.experiment_id)
    client.log_inputs(other.info.run_id, [DatasetInput(Dataset("wine", "w1", "local", "{}"), [])])
    url = f"{server.url}{AJAX}/experiments/search-datasets"
    resp = httpx.post(url, json={"experiment_ids": [run.info.experiment_id]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["dataset_summaries"] == [
        {"experiment_id": run.info.experiment_id, "name": "iris", "digest": "d1g3st", "context": "training"},
        {"experiment_id": run.info.experiment_id, "name": "wine", "digest": "w1"},
    ]
    for body in ({"experiment_ids": []}, {"experiment_ids": [str(i) for i in range(21)]}):
        bad = httpx.post(url, json=body)
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_create_promptlab_run(server: LiveServer, client: mlflow.MlflowClient, run, tmp_path) -> None:
    body = {
        "experiment_id": run.info.experiment_id, "run_name": "lab", "tags": [{"key": "team", "value": "nlp"}],
        "prompt_template": "Answer {{question}}", "prompt_parameters": [{"key": "question", "value": "2+2?"}],
        "model_route": "chat", "model_parameters": [{"key": "temperature", "value": 0.1}],
        "model_input": "Answer 2+2?", "model_output": "4",
        "model_output_parameters": [{"key": "latency", "value": 12}], "mlflow_version": "3.17.2",
        "user_id": "ann", "start_time": 1_700_000_000_000,
    }  # fmt: skip
    resp = httpx.post(f"{server.url}{AJAX}/runs/create-promptlab-run", json=body)
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["run"]["info"]["run_id"]
    made = client.get_run(run_id)
    assert (made.info.status, made.info.run_name, made.info.user_id) == ("FINISHED", "lab", "ann")
    assert made.data.params == {
        "temperature": "0.1",
        "model_route": "chat",
        "prompt_template": "Answer {{question}}",
    }
    assert made.data.tags["mlflow.runSourceType"] == "PROMPT_ENGINEERING" and made.data.tags["team"] == "nlp"
    assert json.loads(made.data.tags["mlflow.loggedArtifacts"]) == [
        {"path": "eval_results_table.json", "type": "table"}
    ]
    table = json.loads(
        Path(client.download_artifacts(run_id, "eval_results_table.json", str(tmp_path))).read_text()
    )
    assert table == {
        "columns": ["question", "prompt", "output", "latency"],
        "data": [["2+2?", "Answer 2+2?", "4", "12"]],
    }
    assert {f.path for f in client.list_artifacts(run_id, "model")} == {
        "model/MLmodel",
        "model/parameters.yaml",
    }
    missing = httpx.post(f"{server.url}{AJAX}/runs/create-promptlab-run", json={**body, "model_route": ""})
    assert missing.status_code == 400 and "model_route" in missing.json()["message"]
