"""``/graphql``: the queries MLflow's web UI sends (GetRun, GetMetricHistoryBulkInterval, SearchRuns,
MlflowSearchDatasets), answered as MLflow's graphene schema answers them, and the depth/size limits.

One ``mltrail server`` for the module; data is written with the official ``mlflow`` client.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import mlflow
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric

from support.live_server import LiveServer, start_server, stop_server

RUN_FIELDS = """
        info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
        experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
        data { metrics { key value step timestamp } params { key value } tags { key value } }
        inputs { datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } } }
"""
GET_RUN = """
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError { helpUrl code message }
      run { RUN_FIELDS modelVersions { status version name source } }
    }
  }
""".replace("RUN_FIELDS", RUN_FIELDS)
BULK = """
  query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!)
  @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetMetricHistoryBulkInterval(input: $data) {
      __typename
      metrics { timestamp step runId key value }
      apiError { code message }
    }
  }
"""
SEARCH_RUNS = """
  %s SearchRuns($data: MlflowSearchRunsInput!) {
    mlflowSearchRuns(input: $data) { apiError { code message } nextPageToken runs { %s } }
  }
"""
SEARCH_DATASETS = """
  mutation MlflowSearchDatasets($data: MlflowSearchDatasetsInput!) {
    mlflowSearchDatasets(input: $data) { datasetSummaries { experimentId name digest context } }
  }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("graphql"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def logged(server: LiveServer) -> dict:
    client = mlflow.MlflowClient(server.url, registry_uri=server.url)
    experiment_id = client.create_experiment("gql", tags={"team": "nlp"})
    run = client.create_run(experiment_id, run_name="gql-run", tags={"k": "v"})
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", v, 1000 + i, i) for i, v in enumerate([3.0, 2.0, float("nan")])],
                     params=[mlflow.entities.Param("lr", "0.1")])  # fmt: skip
    client.log_inputs(run_id, [DatasetInput(Dataset("iris", "d1", "local", "{}"), [InputTag("mlflow.data.context",
                                                                                           "train")])])  # fmt: skip
    client.set_terminated(run_id)
    client.create_registered_model("gql-model")
    client.create_model_version("gql-model", f"runs:/{run_id}/model", run_id=run_id)
    other = client.create_run(experiment_id, run_name="other").info.run_id
    return {"client": client, "experiment_id": experiment_id, "run_id": run_id, "other": other}


def _post(server: LiveServer, query: str, variables: dict | None = None) -> dict:
    resp = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_get_run_as_the_ui_asks(server: LiveServer, logged: dict) -> None:
    out = _post(server, GET_RUN, {"data": {"runId": logged["run_id"]}})
    assert out["errors"] is None
    got = out["data"]["mlflowGetRun"]
    assert got["apiError"] is None
    run, official = got["run"], logged["client"].get_run(logged["run_id"])
    assert run["info"] == {
        "runName": "gql-run", "status": "FINISHED", "runUuid": logged["run_id"], "experimentId": logged["experiment_id"],
        "artifactUri": official.info.artifact_uri, "endTime": str(official.info.end_time), "lifecycleStage": "active",
        "startTime": str(official.info.start_time), "userId": official.info.user_id,
    }  # fmt: skip
    assert run["experiment"]["name"] == "gql" and {"key": "team", "value": "nlp"} in run["experiment"]["tags"]
    assert run["data"]["metrics"] == [
        {"key": "loss", "value": None, "step": "2", "timestamp": "1002"}
    ]  # NaN: null
    assert run["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "k", "value": "v"} in run["data"]["tags"]
    [dataset_input] = run["inputs"]["datasetInputs"]
    assert dataset_input["dataset"]["name"] == "iris" and dataset_input["tags"] == [
        {"key": "mlflow.data.context", "value": "train"}]  # fmt: skip
    assert [(v["name"], v["version"], v["status"]) for v in run["modelVersions"]] == [
        ("gql-model", "1", "READY")
    ]


def test_metric_history_bulk_interval(server: LiveServer, logged: dict) -> None:
    data = {"runIds": [logged["run_id"]], "metricKey": "loss", "maxResults": 320}
    got = _post(server, BULK, {"data": data})["data"]["mlflowGetMetricHistoryBulkInterval"]
    assert got["__typename"] == "MlflowGetMetricHistoryBulkIntervalResponse"
    assert [(m["step"], m["value"], m["runId"]) for m in got["metrics"]] == [
        ("0", 3.0, logged["run_id"]), ("1", 2.0, logged["run_id"]), ("2", None, logged["run_id"])]  # fmt: skip
    official = logged["client"].get_metric_history(logged["run_id"], "loss")
    assert [m["timestamp"] for m in got["metrics"]] == [str(m.timestamp) for m in official]


@pytest.mark.parametrize("operation", ["query", "mutation"])
def test_search_runs(server: LiveServer, logged: dict, operation: str) -> None:
    data = {"experimentIds": [logged["experiment_id"]], "filter": "attributes.run_name = 'gql-run'", "maxResults": 5,
            "runViewType": "ACTIVE_ONLY"}  # fmt: skip
    got = _post(server, SEARCH_RUNS % (operation, RUN_FIELDS), {"data": data})["data"]["mlflowSearchRuns"]
    assert [r["info"]["runUuid"] for r in got["runs"]] == [logged["run_id"]]
    assert got["runs"][0]["experiment"]["experimentId"] == logged["experiment_id"]
    assert math.isnan(logged["client"].get_run(logged["run_id"]).data.metrics["loss"])


def test_search_datasets(server: LiveServer, logged: dict) -> None:
    got = _post(server, SEARCH_DATASETS, {"data": {"experimentIds": [logged["experiment_id"]]}})
    assert got["data"]["mlflowSearchDatasets"]["datasetSummaries"] == [
        {"experimentId": logged["experiment_id"], "name": "iris", "digest": "d1", "context": "train"}]  # fmt: skip


def test_get_works_too(server: LiveServer, logged: dict) -> None:
    resp = httpx.get(f"{server.url}/graphql", params={"query": '{ test(inputString: "hi") { output } }'})
    assert resp.json() == {"data": {"test": {"output": "hi"}}, "errors": None}


def test_errors_are_graphql_errors(server: LiveServer, logged: dict) -> None:
    unknown_field = _post(server, '{ mlflowGetRun(input: {runId: "x"}) { run { info { secret } } } }')
    assert unknown_field["data"] is None and "Cannot query field 'secret'" in unknown_field["errors"][0]
    missing_run = _post(server, GET_RUN, {"data": {"runId": "0" * 32}})
    assert missing_run["data"] == {"mlflowGetRun": None} and "0" * 32 in missing_run["errors"][0]
    bad_input = _post(
        server, BULK, {"data": {"runIds": [logged["run_id"]], "metricKey": "loss", "maxResults": 0}}
    )
    assert "max_results" in bad_input["errors"][0]
    assert _post(server, "")["errors"] == ["Must provide query string."]
    assert _post(server, "{ mlflowGetRun(")["data"] is None  # a syntax error is an error, not a 500


def test_deep_wide_or_long_queries_are_refused(server: LiveServer) -> None:
    deep = "{ mlflowGetRun(input: {}) { run { info { " + "a { " * 12 + "b" + " }" * 12 + " } } } }"
    assert _post(server, deep)["errors"] == ["Query exceeds maximum depth of 10"]
    aliases = "{ " + " ".join(f't{i}: test(inputString: "x") {{ output }}' for i in range(11)) + " }"
    assert "at most 10 root fields" in _post(server, aliases)["errors"][0]
    many_aliases = '{ test(inputString: "x") { ' + " ".join(f"o{i}: output" for i in range(11)) + " } }"
    assert "at most 10 aliases" in _post(server, many_aliases)["errors"][0]
    fragments = "query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }"
    assert _post(server, fragments)["data"] is None  # a fragment cycle ends, refused by validation
    long_query = '{ test(inputString: "' + "x" * 60_000 + '") { output } }'
    assert "maximum length" in _post(server, long_query)["errors"][0]
    many_tokens = '{ test(inputString: "x") { ' + "output " * 6000 + "} }"
    assert _post(server, many_tokens)["data"] is None
