"""Issue 19's new APIs, one official-client script against ``mltrail server`` and a real ``mlflow server``.

ONE real ``mlflow server`` 3.17.2 and ONE ``mltrail server`` for the module (``support.parity_servers``:
workspaces on, keys for gateway secrets, private webhook targets allowed). Each test runs the same
script (``_webhooks``, ``_review``, …) with the official ``mlflow`` client against both and compares
what comes back as ``support.parity_norm`` makes it comparable: entities turned into their protobuf
JSON, ids replaced by ``<id:N>`` in order of first appearance (so "the same id as before" still
compares), wall-clock times by ``<time>``; error answers compared as (HTTP status, ``error_code``).
Where mltrail deliberately answers otherwise the script says so where it asserts. The AI gateway's
configuration is compared in ``test_mlflow_server_parity_genai``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from support.live_server import LiveServer
from support.parity_norm import HOUR, T0, Norm, client_error, http_error, rest_store, run_both
from support.parity_servers import parity_servers

#: every raw HTTP call of the scripts (a loaded machine can be slow; httpx's default is 5 s)
HTTP = httpx.Client(timeout=120)


# ---------------------------------------------------------------- servers


class _Receiver:
    """A loopback webhook receiver that keeps each request's path and JSON body."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body or b"{}")))
                # a 4xx, not a 5xx: MLflow's test_webhook retries a 5xx with 1 s, 2 s, 4 s backoff
                status = 400 if self.path.endswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def receiver() -> Iterator[_Receiver]:
    rec = _Receiver()
    yield rec
    rec.httpd.shutdown()
    rec.httpd.server_close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    """``{"mltrail": ..., "mlflow": ...}`` (``support.parity_servers``), MLflow's also sending webhooks."""
    mlflow_env = {
        # loopback receivers over plain http, as mltrail's LOOPBACK_HTTP allows
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        # MLflow caches each event's webhook list for 60 s: a hook created after an earlier
        # test fired that event would miss it (mltrail drops its cache when a hook changes)
        "MLFLOW_WEBHOOK_CACHE_TTL": "0",
    }
    try:
        with parity_servers(tmp_path_factory, "parity", mlflow_env=mlflow_env) as both:
            yield both
    finally:
        HTTP.close()


# ---------------------------------------------------------------- comparing


def _same(got: dict[str, dict]) -> None:
    """mltrail's answers are the real server's, item by item (the message shows the items that differ)."""
    ours, theirs = got["mltrail"], got["mlflow"]
    differ = {
        key: {"mltrail": ours.get(key), "mlflow": theirs.get(key)}
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    }
    assert not differ, json.dumps(differ, indent=1, default=str)


def _experiment(url: str, prefix: str) -> str:
    # Same name on both servers (each is fresh), so names in answers compare too.
    return MlflowClient(url).create_experiment(prefix)


# ---------------------------------------------------------------- webhooks


def _webhooks(url: str, receiver: _Receiver) -> dict:
    n, client = Norm(), MlflowClient(url, registry_uri=url)
    out: dict[str, Any] = {}
    first = client.create_webhook(
        "hook-one", f"{receiver.url}/hook", ["model_version.created", "prompt_alias.deleted"],
        description="first", secret="s3cret",
    )  # fmt: skip
    second = client.create_webhook("hook-two", f"{receiver.url}/fail", ["registered_model.created"])
    out["created"] = n([first, second])
    page = client.list_webhooks(max_results=1)
    rest = client.list_webhooks(max_results=10, page_token=page.token)
    out["pages"] = (n(list(page)), bool(page.token), n(list(rest)), rest.token)
    out["updated"] = n(
        client.update_webhook(first.webhook_id, description="changed", status="DISABLED",
                              events=["model_version_tag.set"])
    )  # fmt: skip
    out["got"] = n(client.get_webhook(first.webhook_id))
    client.update_webhook(first.webhook_id, status="ACTIVE")
    before = len(receiver.received)
    out["test_ok"] = n(client.test_webhook(first.webhook_id))
    out["test_fail"] = n(client.test_webhook(second.webhook_id))
    # With --enable-workspaces the envelope names the hook's workspace ("default" here), on both.
    out["payload"] = n([body for _, body in receiver.received[before:]])
    client.delete_webhook(second.webhook_id)
    out["after_delete"] = n(list(client.list_webhooks()))
    api = f"{url}/api/2.0/mlflow/webhooks"
    out["errors"] = {
        "get_missing": client_error(lambda: client.get_webhook(second.webhook_id)),
        "delete_missing": client_error(lambda: client.delete_webhook("nope")),
        "no_name": http_error(
            HTTP.post(
                api,
                json={
                    "url": f"{receiver.url}/x",
                    "events": [{"entity": "registered_model", "action": "created"}],
                },
            )
        ),
        "no_events": http_error(HTTP.post(api, json={"name": "x", "url": f"{receiver.url}/x", "events": []})),
        "bad_max_results": http_error(HTTP.get(api, params={"max_results": 100000})),
    }
    out["differs"] = {
        "bad_event": http_error(HTTP.post(api, json={"name": "x", "url": f"{receiver.url}/x",
                                                        "events": [{"entity": "run", "action": "created"}]})),
        "bad_url": http_error(HTTP.post(api, json={"name": "x", "url": "ftp://example.com/x",
                                                      "events": [{"entity": "registered_model", "action": "created"}]})),
    }  # fmt: skip
    return out


def test_webhooks(servers: dict[str, LiveServer], receiver: _Receiver) -> None:
    got = run_both(servers, _webhooks, receiver)
    # MLflow 3.17.2 answers an unknown event entity and a non-http(s) URL with a 500 (a server error on
    # bad input); mltrail answers 400 INVALID_PARAMETER_VALUE, as a client mistake should be answered.
    assert got["mlflow"].pop("differs") == {"bad_event": (500, ""), "bad_url": (500, "")}
    bad = (400, "INVALID_PARAMETER_VALUE")
    assert got["mltrail"].pop("differs") == {"bad_event": bad, "bad_url": bad}
    _same(got)


# ---------------------------------------------------------------- label schemas, review queues, workspaces


def _review(url: str) -> dict:
    import mlflow
    from mlflow.genai import label_schemas as mls
    from mlflow.genai import review_queues as mrq

    mlflow.set_tracking_uri(url)
    n, out = Norm(), {}
    exp = _experiment(url, "review-parity")
    trace = rest_store(url).deprecated_start_trace_v2(exp, T0, {}, {}).request_id
    tone = mls.create_label_schema(
        "tone", type="feedback", input=mls.InputPassFail(positive_label="Polite", negative_label="Rude"),
        experiment_id=exp,
    )  # fmt: skip
    score = mls.create_label_schema(
        "score", type="expectation", input=mls.InputNumeric(min_value=0, max_value=1), enable_comment=True,
        experiment_id=exp,
    )  # fmt: skip
    out["schemas"] = n(list(mls.list_label_schemas(exp)))
    out["schema_by_name"] = n(mls.get_label_schema("tone", experiment_id=exp))
    out["schema_updated"] = n(mls.update_label_schema(score.schema_id, instruction="0 to 1",
                                                     input=mls.InputNumeric(min_value=0, max_value=10)))  # fmt: skip
    queue = mrq.create_review_queue(
        "Triage", queue_type="custom", users=["Ann"], schema_ids=[tone.schema_id, score.schema_id],
        experiment_id=exp,
    )  # fmt: skip
    out["queue"] = n(queue)
    out["items"] = n(mrq.add_items_to_review_queue(queue.queue_id, item_ids=[trace]))
    out["user_queue"] = n(mrq.get_or_create_user_queue("Bob", experiment_id=exp))
    out["done"] = n(mrq.set_review_queue_item_status(queue.queue_id, item_id=trace, status="complete",
                                                    completed_by="Ann"))  # fmt: skip
    out["complete"] = n(list(mrq.list_review_queue_items(queue.queue_id, status="complete")))
    out["anns"] = n(list(mrq.list_review_queues(user="ann", experiment_id=exp)))
    out["renamed"] = n(mrq.update_review_queue(queue.queue_id, name="Triage 2", users=[]))
    mrq.remove_items_from_review_queue(queue.queue_id, item_ids=[trace])
    mrq.delete_review_queue(queue.queue_id)
    mls.delete_label_schema(schema_id=tone.schema_id)
    out["left"] = n([list(mrq.list_review_queues(experiment_id=exp)),
                     [s.name for s in mls.list_label_schemas(exp)]])  # fmt: skip
    api = f"{url}/api/3.0/mlflow"
    schema = {"experiment_id": exp, "name": "q", "type": "FEEDBACK"}
    out["errors"] = {
        "type_change": client_error(lambda: mls.update_label_schema(score.schema_id, input=mls.InputText())),
        "no_input": http_error(HTTP.post(f"{api}/label-schemas/create", json=schema)),
        "dup_options": http_error(HTTP.post(f"{api}/label-schemas/create",
                                              json={**schema, "input": {"categorical": {"options": ["a", "a"]}}})),
        "bad_type": http_error(HTTP.post(f"{api}/label-schemas/create",
                                           json={**schema, "type": "OPINION", "input": {"text": {}}})),
        "no_experiment": http_error(HTTP.post(f"{api}/label-schemas/create",
                                                json={**schema, "experiment_id": "987654", "input": {"text": {}}})),
        "reserved_name": http_error(HTTP.post(f"{api}/review-queues/create",
                                                json={"experiment_id": exp, "name": "default", "queue_type": "CUSTOM"})),
        "no_queue": http_error(HTTP.post(f"{api}/review-queues/items/add",
                                           json={"queue_id": "rq-nope", "item_ids": [trace]})),
        "max_5000": http_error(HTTP.get(f"{api}/review-queues/list",
                                          params={"experiment_id": exp, "max_results": 5000})),
        "too_many": http_error(HTTP.get(f"{api}/review-queues/list",
                                          params={"experiment_id": exp, "max_results": 50001})),
        "schemas_too_many": http_error(HTTP.get(f"{api}/label-schemas/list",
                                                  params={"experiment_id": exp, "max_results": 50001})),
    }  # fmt: skip
    return out


def test_label_schemas_and_review_queues(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _review)
    _same(got)


def _workspaces(url: str) -> dict:
    import mlflow

    mlflow.set_tracking_uri(url)
    n, out = Norm(), {}
    out["created"] = n(mlflow.create_workspace("team-a", description="Team A"))
    out["got"] = n(mlflow.get_workspace("team-a"))
    out["updated"] = n(mlflow.update_workspace("team-a", default_artifact_root="s3://bucket/team"))
    out["listed"] = n(sorted(w.name for w in mlflow.list_workspaces()))
    out["errors"] = {
        "again": client_error(lambda: mlflow.create_workspace("team-a")),
        "bad_name": http_error(HTTP.post(f"{url}/api/3.0/mlflow/workspaces", json={"name": "Not_A_Name"})),
    }
    mlflow.delete_workspace("team-a")
    out["errors"]["gone"] = client_error(lambda: mlflow.get_workspace("team-a"))
    out["left"] = sorted(w.name for w in mlflow.list_workspaces())
    return out


def test_workspaces(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _workspaces)
    _same(got)


# ---------------------------------------------------------------- MLflow 2's trace routes and trace metrics


def _traces(url: str) -> dict:
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
    from mlflow.entities.trace_status import TraceStatus

    n, store, out = Norm(), rest_store(url), {}
    exp = _experiment(url, "traces-parity")
    plan = [
        ("chat", T0, 100, TraceStatus.OK, {"env": "prod"}),
        ("chat", T0 + 1000, 300, TraceStatus.OK, {"env": "prod"}),
        ("chat", T0 + HOUR, 500, TraceStatus.ERROR, {"env": "dev"}),
        ("search", T0 + HOUR + 5, 200, TraceStatus.ERROR, {"env": "prod"}),
        ("search", T0 + 2 * HOUR, 400, TraceStatus.OK, {"env": "dev"}),
    ]
    started, ended = [], []
    for name, start, duration, status, tags in plan:
        info = store.deprecated_start_trace_v2(
            exp, start, {"user": "ann"}, {"mlflow.traceName": name, **tags}
        )
        started.append(info)
        ended.append(store.deprecated_end_trace_v2(info.request_id, start + duration, status, {"out": "x"},
                                                   {"k2": "v2"}))  # fmt: skip
    out["started"], out["ended"] = n(started[:2]), n(ended[:2])
    api = f"{url}/api/2.0/mlflow/traces"
    out["info"] = n(HTTP.get(f"{api}/{started[2].request_id}/info").json())
    out["search"] = n(HTTP.get(api, params={"experiment_ids": exp, "filter": "tags.env = 'dev'",
                                             "order_by": "timestamp_ms DESC"}).json())  # fmt: skip
    out["differs"] = http_error(HTTP.post(api, json={"timestamp_ms": T0}))  # no experiment_id
    out["errors"] = {
        "unknown_experiment": http_error(HTTP.post(api, json={"experiment_id": "999999", "timestamp_ms": T0})),
        "end_missing": http_error(HTTP.patch(f"{api}/{'0' * 32}", json={"timestamp_ms": T0, "status": "OK"})),
        "info_missing": http_error(HTTP.get(f"{api}/{'0' * 32}/info")),
    }  # fmt: skip

    def points(metric: str, aggs: list, **kw: Any) -> list:
        found = store.query_trace_metrics([exp], MetricViewType.TRACES, metric, aggs, **kw)
        return [(p.dimensions, p.values) for p in found]

    count = [MetricAggregation(AggregationType.COUNT)]
    latency = [MetricAggregation(AggregationType.AVG), MetricAggregation(AggregationType.PERCENTILE, 50.0),
               MetricAggregation(AggregationType.MAX)]  # fmt: skip
    out["metrics"] = {
        "by_status": points("trace_count", count, dimensions=["trace_status"]),
        "latency_by_name": points("latency", latency, dimensions=["trace_name"]),
        "hourly": points("trace_count", count, time_interval_seconds=3600, start_time_ms=T0,
                         end_time_ms=T0 + 3 * HOUR),
        "filtered": points("trace_count", count, filters=["trace.tag.env = 'prod'", "trace.status = 'ERROR'"]),
    }  # fmt: skip
    out["metric_errors"] = [
        client_error(lambda: points("nope", count)),
        client_error(lambda: points("trace_count", [MetricAggregation(AggregationType.AVG)])),
        client_error(lambda: points("trace_count", count, time_interval_seconds=60)),
    ]
    return out


def test_v2_traces_and_trace_metrics(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _traces)
    # MLflow 3.17.2 fails on a v2 start without experiment_id (int("") in the handler: a 500); mltrail 400.
    assert got["mlflow"].pop("differs") == (500, "INTERNAL_ERROR")
    assert got["mltrail"].pop("differs") == (400, "INVALID_PARAMETER_VALUE")
    _same(got)


# ---------------------------------------------------------------- runs: GraphQL, outputs, bulk history


GET_RUN = """
  query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
    mlflowGetRun(input: $data) {
      apiError { helpUrl code message }
      run {
        info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
        experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
        data { metrics { key value step timestamp } params { key value } tags { key value } }
        inputs { datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } } }
        outputs { modelOutputs { modelId step } }
        modelVersions { status version name source }
      }
    }
  }
"""
SEARCH_RUNS = """
  query SearchRuns($data: MlflowSearchRunsInput!) {
    mlflowSearchRuns(input: $data) {
      apiError { code message } nextPageToken
      runs { info { runName status runUuid } data { metrics { key value step } params { key value } } }
    }
  }
"""


def _runs(url: str) -> dict:
    from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput, Metric, Param

    n, client, store, out = Norm(), MlflowClient(url, registry_uri=url), rest_store(url), {}
    exp = client.create_experiment("runs-parity", tags={"team": "nlp"})
    run_id = client.create_run(exp, run_name="parity-run", tags={"k": "v"}).info.run_id
    other = client.create_run(exp, run_name="other").info.run_id
    client.log_batch(run_id, metrics=[Metric("loss", v, T0 + i, i) for i, v in enumerate([3.0, 2.0, float("nan")])],
                     params=[Param("lr", "0.1")])  # fmt: skip
    client.log_batch(other, metrics=[Metric("loss", 10.0 - i, T0 + i, i) for i in range(0, 100, 3)])
    dataset = Dataset("iris", "d1", "local", "{}")
    client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])])
    model = client.create_logged_model(exp, name="parity-model", source_run_id=run_id)
    store.log_outputs(run_id, [LoggedModelOutput(model.model_id, 2)])
    client.log_text(run_id, "flavors: {}\n", "model/MLmodel")
    client.set_terminated(run_id)
    client.create_registered_model("parity-registered")
    client.create_model_version("parity-registered", f"runs:/{run_id}/model", run_id=run_id)
    get_artifact = f"{url}/model-versions/get-artifact"
    version = {"name": "parity-registered", "version": "1"}
    answers = [
        HTTP.get(get_artifact, params={**version, "path": "MLmodel"}),
        HTTP.get(get_artifact, params={**version, "path": "../secret"}),
        HTTP.get(get_artifact, params={"name": "parity-registered", "version": "9", "path": "MLmodel"}),
    ]
    out["differs"] = (answers[0].status_code, answers[0].text)
    out["model_version_artifact"] = [http_error(r) for r in answers[1:]]
    out["outputs"] = n(client.get_run(run_id).outputs)
    out["outputs_errors"] = [
        client_error(lambda: store.log_outputs("0" * 32, [LoggedModelOutput(model.model_id, 1)])),
        http_error(HTTP.post(f"{url}/api/2.0/mlflow/runs/outputs", json={"run_id": run_id})),
    ]

    def graphql(query: str, data: dict) -> dict:
        resp = HTTP.post(f"{url}/graphql", json={"query": query, "variables": {"data": data}})
        return {"status": resp.status_code, **resp.json()}

    got = graphql(GET_RUN, {"runId": run_id})
    for key in ("artifactUri", "artifactLocation"):  # where each server keeps artifacts: not data
        run = got["data"]["mlflowGetRun"]["run"]
        run.get("info", {}).pop(key, None), run.get("experiment", {}).pop(key, None)
    out["graphql_get_run"] = n(json.loads(json.dumps(got).replace(run_id, "<run>")))
    out["graphql_get_missing"] = n(graphql(GET_RUN, {"runId": "0" * 32}))
    out["graphql_search"] = n(graphql(SEARCH_RUNS, {"experimentIds": [exp], "maxResults": 1,
                                                    "orderBy": ["attributes.run_name ASC"]}))  # fmt: skip

    api = f"{url}/api/2.0/mlflow/metrics/get-history-bulk-interval"
    both = [("run_ids", run_id), ("run_ids", other), ("metric_key", "loss")]
    out["bulk"] = {
        "all": n(HTTP.get(api, params=both).json()),
        "sampled": n(HTTP.get(api, params=[*both, ("max_results", "5")]).json()),
        "ranged": n(HTTP.get(api, params=[*both, ("start_step", "10"), ("end_step", "30")]).json()),
        "no_runs": http_error(HTTP.get(api, params=[("metric_key", "loss")])),
        "no_key": http_error(HTTP.get(api, params=[("run_ids", run_id)])),
        "too_many": http_error(HTTP.get(api, params=[*both, ("max_results", "100000")])),
    }
    return out


def test_runs_graphql_outputs_and_bulk_history(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _runs)
    # The real server cannot read a version whose run stores artifacts under its own mlflow-artifacts:
    # proxy (it resolves them through its sqlite:// tracking URI: 500 "the tracking URI must be a valid
    # http or https URI"); mltrail serves the file.
    assert got["mlflow"].pop("differs")[0] == 500
    assert got["mltrail"].pop("differs") == (200, "flavors: {}\n")
    _same(got)


# ---------------------------------------------------------------- workspaces as tenancy (--enable-workspaces)


def _tenancy(url: str) -> dict:
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    client = MlflowClient(url, registry_uri=url)
    n, out = Norm(), {}
    for name in ("ws-one", "ws-two", "ws-three"):
        mlflow.create_workspace(name)
    try:
        mlflow.set_workspace("ws-one")
        one = client.create_experiment("shared-exp")
        run_one = client.create_run(one, run_name="r1").info.run_id
        client.create_registered_model("model-one")
        client.create_model_version("model-one", "s3://bucket/model")
        mlflow.genai.register_prompt("prompt-one", "Hello {{name}}")
        logged_one = client.create_logged_model(one, name="lm-one").model_id
        out["location_one"] = client.get_experiment(one).artifact_location.replace(f"/{one}", "/<exp>")
        out["own_location"] = client_error(
            lambda: client.create_experiment("placed", artifact_location="/tmp/x")
        )

        mlflow.set_workspace("ws-two")
        two = client.create_experiment("shared-exp")  # the same name in another workspace
        out["two_ids"] = one != two
        out["by_name"] = client.get_experiment_by_name("shared-exp").experiment_id == two
        out["search"] = sorted(e.name for e in client.search_experiments(view_type=3))
        out["search_runs"] = n(client.search_runs([one]))
        out["search_models"] = n(client.search_registered_models())
        out["search_versions"] = n(client.search_model_versions())
        out["search_prompts"] = [p.name for p in mlflow.genai.search_prompts()]
        out["other"] = {
            "experiment": client_error(lambda: client.get_experiment(one)),
            "run": client_error(lambda: client.get_run(run_one)),
            "create_run": client_error(lambda: client.create_run(one)),
            "delete_experiment": client_error(lambda: client.delete_experiment(one)),
            "model": client_error(lambda: client.get_registered_model("model-one")),
            "version": client_error(lambda: client.get_model_version("model-one", "1")),
            "new_version": client_error(lambda: client.create_model_version("model-one", "s3://bucket/m")),
            "prompt": client_error(lambda: mlflow.genai.load_prompt("prompts:/prompt-one/1")),
            "logged_model": client_error(lambda: client.get_logged_model(logged_one)),
        }
        # A registered model / prompt name is unique per workspace: ws-two may have its own.
        client.create_registered_model("model-one", description="two's")
        out["own_version"] = client.create_model_version("model-one", "s3://bucket/two").version
        mlflow.genai.register_prompt("prompt-one", "Bye {{name}}")
        out["own_prompt"] = mlflow.genai.load_prompt("prompts:/prompt-one/1").template
        out["taken_here"] = client_error(lambda: client.create_registered_model("model-one"))

        mlflow.set_workspace("ws-one")
        out["back"] = (
            client.get_run(run_one).info.experiment_id == one,
            [m.name for m in client.search_registered_models()],
            [p.name for p in mlflow.genai.search_prompts()],
            client.get_registered_model("model-one").description,
            client.get_model_version("model-one", "1").source,
            mlflow.genai.load_prompt("prompts:/prompt-one/1").template,
        )
        mlflow.set_workspace("no-such-ws")
        out["unknown_workspace"] = client_error(lambda: client.search_experiments())
        bad = HTTP.get(f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                       headers={"X-MLFLOW-WORKSPACE": "Not_A_Name"})  # fmt: skip
        out["bad_header"] = http_error(bad)

        mlflow.set_workspace(None)
        client.create_experiment("clash-exp")
        out["default_search"] = "shared-exp" in [e.name for e in client.search_experiments()]
        mlflow.set_workspace("ws-three")
        client.create_experiment("clash-exp")
        moved = client.create_experiment("moved-exp")
        mlflow.set_workspace(None)
        api = f"{url}/api/3.0/mlflow/workspaces"
        # raw calls: MLflow answers INVALID_STATE with HTTP 500, which its client retries for minutes
        out["refused_deletes"] = [
            http_error(HTTP.delete(f"{api}/ws-one")),  # RESTRICT while it holds experiments
            http_error(HTTP.delete(f"{api}/ws-three", params={"mode": "SET_DEFAULT"})),  # "clash-exp"
        ]
        out["bad_mode"] = http_error(HTTP.delete(f"{api}/ws-one", params={"mode": "NOPE"}))
        mlflow.set_workspace("ws-three")
        clash = client.get_experiment_by_name("clash-exp").experiment_id
        client.rename_experiment(clash, "renamed-clash")
        mlflow.set_workspace(None)
        mlflow.delete_workspace("ws-three", mode="SET_DEFAULT")
        out["moved"] = (client.get_experiment(moved).name, client.get_experiment(clash).name)
    finally:
        mlflow.set_workspace(None)
    for name in ("ws-one", "ws-two"):
        mlflow.delete_workspace(name, mode="CASCADE")
    out["after_cascade"] = (
        sorted(w.name for w in mlflow.list_workspaces() if w.name.startswith("ws-")),
        client_error(lambda: client.get_run(run_one)),
        client.get_experiment_by_name("shared-exp"),
    )
    return out


def test_workspace_tenancy(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _tenancy)
    # INVALID_STATE is an HTTP 500 on MLflow's server, a 400 on mltrail's (a refusal, not a failure).
    assert got["mlflow"].pop("refused_deletes") == [(500, "INVALID_STATE")] * 2
    assert got["mltrail"].pop("refused_deletes") == [(400, "INVALID_STATE")] * 2
    _same(got)


def _sdk_workspace(url: str) -> dict:
    """mltrail's own client in a workspace: its X-MLFLOW-WORKSPACE header works on both servers."""
    import mltrail
    from mltrail.exceptions import MltrailException

    mltrail.set_tracking_uri(url)
    out: dict[str, Any] = {}
    mltrail.create_workspace("sdk-ws")
    try:
        mltrail.set_workspace("sdk-ws")
        exp = mltrail.create_experiment("sdk-exp")
        with mltrail.start_run(experiment_id=exp) as run:
            mltrail.log_param("p", "1")
        out["search"] = [e.name for e in mltrail.search_experiments()]
        out["params"] = mltrail.get_run(run.info.run_id).data.params
        mltrail.set_workspace(None)
        out["outside_by_name"] = mltrail.get_experiment_by_name("sdk-exp")
        try:
            mltrail.get_run(run.info.run_id)
            out["outside_run"] = "found"
        except MltrailException as exc:
            out["outside_run"] = exc.error_code
        mltrail.delete_workspace("sdk-ws", mode="CASCADE")
        out["left"] = [w.name for w in mltrail.list_workspaces() if w.name == "sdk-ws"]
    finally:
        mltrail.set_workspace(None)
        mltrail.set_tracking_uri(None)
    return out


def test_mltrail_sdk_in_a_workspace(servers: dict[str, LiveServer]) -> None:
    got = run_both(servers, _sdk_workspace)
    assert got["mltrail"]["outside_run"] == "RESOURCE_DOES_NOT_EXIST"
    _same(got)


# ---------------------------------------------------------------- registry webhooks, gateway proxy


REGISTRY_EVENTS = [
    "registered_model.created", "model_version.created", "model_version_tag.set", "model_version_tag.deleted",
    "model_version_alias.created", "model_version_alias.deleted", "prompt.created", "prompt_version.created",
    "prompt_tag.set", "prompt_version_tag.set", "prompt_alias.created",
]  # fmt: skip


def _deliveries(receiver: _Receiver, path: str, want: int) -> list[dict]:
    """The JSON bodies delivered to ``path``, once ``want`` of them arrived (deliveries are asynchronous)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        bodies = [body for got_path, body in list(receiver.received) if got_path == path]
        if len(bodies) >= want or time.monotonic() > deadline:
            return bodies
        time.sleep(0.05)


def _registry_webhooks(url: str, receiver: _Receiver) -> dict:
    client = MlflowClient(url, registry_uri=url)
    path = f"/registry/{url.rsplit(':', 1)[-1]}"  # one receiver, one path per server
    hook = client.create_webhook("registry-hook", receiver.url + path, REGISTRY_EVENTS)
    client.create_registered_model("hooked-model", description="for hooks")
    version = client.create_model_version("hooked-model", "s3://parity-bucket/model", description="v1")
    client.set_model_version_tag("hooked-model", version.version, "stage", "qa")
    client.delete_model_version_tag("hooked-model", version.version, "stage")
    client.set_registered_model_alias("hooked-model", "champion", version.version)
    client.delete_registered_model_alias("hooked-model", "champion")
    prompt = client.register_prompt("hooked-prompt", "Hello {{name}}", commit_message="first")
    client.set_prompt_tag("hooked-prompt", "team", "docs")
    client.set_prompt_version_tag("hooked-prompt", prompt.version, "reviewed", "yes")
    client.set_prompt_alias("hooked-prompt", "prod", prompt.version)
    # every event above once, and prompt_tag.set twice: register_prompt's commit message is a tag too
    bodies = _deliveries(receiver, path, 12)
    client.delete_webhook(hook.webhook_id)
    # the same envelope minus MLflow's workspace (see _webhooks); sorted: deliveries race each other
    bodies = sorted(
        ({k: v for k, v in body.items() if k != "workspace"} for body in bodies),
        key=lambda b: (b.get("entity", ""), b.get("action", ""), json.dumps(b.get("data"), sort_keys=True)),
    )
    return {"events": [(b.get("entity"), b.get("action")) for b in bodies], "payloads": Norm()(bodies)}


def test_registry_events_deliver_the_same_webhooks(
    servers: dict[str, LiveServer], receiver: _Receiver
) -> None:
    got = run_both(servers, _registry_webhooks, receiver)
    assert len(got["mlflow"]["events"]) == 12, got["mlflow"]["events"]
    _same(got)


def _gateway_proxy(url: str, base_url: str) -> dict:
    import time

    import openai
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    store, out = rest_store(url), {}
    secret = store.create_gateway_secret(
        "proxy-key", {"api_key": "sk-proxy-0123456789"}, provider="openai", auth_config={"api_base": base_url}
    )
    model = store.create_gateway_model_definition("proxy-model", secret.secret_id, "openai", "gpt-4o-mini")
    config = GatewayEndpointModelConfig(model.model_definition_id, GatewayModelLinkageType.PRIMARY)
    endpoint = store.create_gateway_endpoint("proxied", [config])
    messages = [{"role": "user", "content": "one two three"}]
    unified = openai.OpenAI(base_url=f"{url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    reply = unified.chat.completions.create(model="proxied", messages=messages)
    out["chat"] = {
        "message": (reply.choices[0].message.role, reply.choices[0].message.content),
        "finish": reply.choices[0].finish_reason,
        "usage": (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens),
    }
    stream = unified.chat.completions.create(model="proxied", messages=messages, stream=True)
    out["streamed"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    passthrough = openai.OpenAI(base_url=f"{url}/gateway/openai/v1", api_key="unused", max_retries=0)
    raw = passthrough.chat.completions.with_raw_response.create(model="proxied", messages=messages)
    answer = json.loads(raw.text)
    out["passthrough"] = Norm()({k: v for k, v in answer.items() if k not in ("id", "created")})
    vectors = passthrough.embeddings.create(model="proxied", input=["a b", "c"])
    out["embeddings"] = ([len(v.embedding) for v in vectors.data], vectors.usage.prompt_tokens)
    out["invocations"] = http_error(
        HTTP.post(f"{url}/gateway/proxied/mlflow/invocations", json={"messages": messages})
    )
    out["unknown_endpoint"] = HTTP.post(
        f"{url}/gateway/mlflow/v1/chat/completions", json={"model": "nope", "messages": messages}
    ).status_code
    out["models"] = [m.id for m in unified.models.list().data]
    # One trace per call in the endpoint's experiment, with MLflow's metadata and span names.
    import mlflow

    client = MlflowClient(url)
    mlflow.set_tracking_uri(url)  # the client reads MLflow's trace spans through its artifact proxy
    deadline = time.monotonic() + 60
    while True:  # MLflow exports its gateway traces asynchronously, spans and metadata after the info
        traces = client.search_traces(locations=[endpoint.experiment_id], order_by=["timestamp_ms ASC"])
        done = [
            t
            for t in traces
            if t.info.state == "OK" and "mlflow.gateway.requestType" in t.info.trace_metadata
        ]
        if len(done) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    shapes = [
        {
            "request_type": t.info.trace_metadata.get("mlflow.gateway.requestType"),
            "endpoint": t.info.trace_metadata.get("mlflow.gateway.endpointId") == endpoint.endpoint_id,
            "state": str(t.info.state),
            "root": t.data.spans[0].name,
            "root_attributes": sorted(k for k in t.data.spans[0].attributes if not k.startswith("mlflow.")),
        }
        for t in traces
    ]
    out["traces"] = shapes
    out["trace_usage"] = traces[0].info.token_usage if traces else None
    mlflow.set_tracking_uri(None)
    unified.close()
    passthrough.close()
    store.delete_gateway_endpoint(endpoint.endpoint_id)
    return out


def test_gateway_proxy_answers_and_traces(servers: dict[str, LiveServer]) -> None:
    from support.openai_server import OpenAIServer

    with OpenAIServer() as fake:
        got = run_both(servers, _gateway_proxy, fake.base_url)
    _same(got)


def _gateway_anthropic(url: str, fake: Any) -> dict:
    """OpenAI-format calls to an Anthropic endpoint: what reaches Anthropic, what the caller gets back."""
    import openai
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    from support.anthropic_server import TEST_API_KEY, default_responder

    store, out = rest_store(url), {}
    secret = store.create_gateway_secret(
        "claude-key",
        {"api_key": TEST_API_KEY},
        provider="anthropic",
        auth_config={"api_base": fake.base_url + "/v1"},
    )
    model = store.create_gateway_model_definition(
        "claude-model", secret.secret_id, "anthropic", "claude-3-5-haiku"
    )
    config = GatewayEndpointModelConfig(model.model_definition_id, GatewayModelLinkageType.PRIMARY)
    endpoint = store.create_gateway_endpoint("claude-proxied", [config])
    client = openai.OpenAI(base_url=f"{url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two three"}]
    reply = client.chat.completions.create(
        model="claude-proxied", messages=messages, temperature=1.0, max_tokens=30, stop=["zzz"]
    )
    out["chat_sent"] = fake.requests[-1]["body"]
    out["chat"] = {
        "id": reply.id.startswith("msg_"),
        "message": (reply.choices[0].message.role, reply.choices[0].message.content),
        "finish": reply.choices[0].finish_reason,
        "usage": (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens),
    }
    short = client.chat.completions.create(model="claude-proxied", messages=messages[1:], max_tokens=2)
    out["short"] = (short.choices[0].message.content, short.choices[0].finish_reason)
    chunks = list(client.chat.completions.create(model="claude-proxied", messages=messages, stream=True))
    out["streamed"] = {
        "text": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
        "finish": [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason],
        "usage": [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage],
        "sent_stream": fake.requests[-1]["body"].get("stream"),
    }
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}  # fmt: skip
    fake.set_responder(
        lambda body: [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}},
        ]
    )
    try:
        called = client.chat.completions.create(
            model="claude-proxied", messages=messages[1:], tools=[tool], tool_choice="required"
        )
    finally:
        fake.set_responder(default_responder)
    sent = fake.requests[-1]["body"]
    out["tools_sent"] = (sent["tools"], sent["tool_choice"])
    call = called.choices[0].message.tool_calls[0]
    out["tool_call"] = (called.choices[0].finish_reason, called.choices[0].message.content, call.id,
                        call.function.name, json.loads(call.function.arguments))  # fmt: skip
    followed = client.chat.completions.create(
        model="claude-proxied",
        messages=[*messages[1:], called.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
    )  # fmt: skip
    out["tool_result_sent"] = fake.requests[-1]["body"]["messages"][1:]
    out["followed"] = followed.choices[0].message.content
    seen = len(fake.requests)
    refused = HTTP.post(
        f"{url}/gateway/mlflow/v1/chat/completions",
        json={"model": "claude-proxied", "messages": messages, "n": 2},
    )
    out["n_refused"] = (
        refused.status_code >= 400,
        len(fake.requests) == seen,
        "'n' must be '1'" in refused.text,
    )
    client.close()
    store.delete_gateway_endpoint(endpoint.endpoint_id)
    return out


def test_gateway_openai_format_calls_to_anthropic_are_translated_alike(
    servers: dict[str, LiveServer],
) -> None:
    from support.anthropic_server import AnthropicServer

    with AnthropicServer() as fake:
        got = run_both(servers, _gateway_anthropic, fake)
    # One difference on purpose: an assistant turn's text next to its tool calls is kept (MLflow
    # drops it, and Anthropic takes both); compared without it, the rest is the same.
    assistant = got["mltrail"]["tool_result_sent"][0]["content"]
    assert assistant[0] == {"type": "text", "text": "Looking."}
    del assistant[0]
    _same(got)
