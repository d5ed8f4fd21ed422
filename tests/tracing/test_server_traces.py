"""Tracing against a live ``mltrail server``: the mltrail SDK, the official mlflow 3 client, raw REST and OTLP."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

import mltrail as mlflow

openai = pytest.importorskip("openai")


@pytest.fixture
def api(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


def test_sdk_autolog_through_the_server(live_server, openai_server):
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"server-{uuid.uuid4().hex[:6]}")
    mlflow.openai.autolog()
    with mlflow.start_run() as run:
        @mlflow.trace(span_type="CHAIN")
        def ask(question):
            resp = openai.OpenAI().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
            return resp.choices[0].message.content

        assert ask("hello there") == "Answer to: hello there"
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    root, chat = trace.data.spans
    assert (root.name, root.span_type, root.inputs, root.outputs) == (
        "ask", "CHAIN", {"question": "hello there"}, "Answer to: hello there")
    assert chat.span_type == "CHAT_MODEL" and chat.parent_id == root.span_id
    assert chat.get_attribute("mlflow.chat.tokenUsage")["total_tokens"] == 6
    df = mlflow.search_traces(run_id=run.info.run_id, filter_string="attributes.status = 'OK'")
    assert list(df["trace_id"]) == [trace.info.trace_id]
    mlflow.set_trace_tag(trace.info.trace_id, "reviewed", "yes")
    assert mlflow.get_trace(trace.info.trace_id).info.tags["reviewed"] == "yes"


_OFFICIAL = r'''
import json, os, sys
import mlflow
mlflow.set_experiment(os.environ["EXP"])

@mlflow.trace(span_type="CHAIN")
def pipeline(q):
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": q})
        span.set_outputs([{"doc": 1}])
    return {"answer": q.upper()}

@mlflow.trace
def broken():
    raise ValueError("nope")

pipeline("hi")
try:
    broken()
except ValueError:
    pass
mlflow.flush_trace_async_logging()
ok = mlflow.search_traces(filter_string="attributes.status = 'OK'", return_type="list")
err = mlflow.search_traces(filter_string="attributes.status = 'ERROR'", return_type="list")
df = mlflow.search_traces()
ours = mlflow.get_trace(os.environ["OURS"])
print(json.dumps({
    "ok": [[s.name, s.span_type, s.inputs, s.outputs, s.parent_id is None] for s in ok[0].data.spans],
    "err": [err[0].info.state, err[0].data.spans[0].events[0].attributes["exception.type"]],
    "df": [len(df), sorted(df.columns.tolist())],
    "ours": [[s.name, s.span_type, s.inputs, s.outputs] for s in ours.data.spans],
    "ours_state": str(ours.info.state),
}))
'''


def test_official_mlflow_client_traces_against_mltrail_server(live_server):
    # A trace written by mltrail's SDK, read back by the official client below.
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"ours-{uuid.uuid4().hex[:6]}")
    with mlflow.start_span("ours", span_type="TOOL") as span:
        span.set_inputs({"x": 1})
        span.set_outputs({"y": [1, 2]})
    ours = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()

    exp = f"official-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=live_server.url, EXP=exp, OURS=ours)
    proc = subprocess.run([sys.executable, "-c", _OFFICIAL], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] == [["pipeline", "CHAIN", {"q": "hi"}, {"answer": "HI"}, True],
                         ["retrieve", "RETRIEVER", {"query": "hi"}, [{"doc": 1}], False]]
    assert out["err"] == ["ERROR", "ValueError"]
    assert out["df"][0] == 2 and "trace_id" in out["df"][1] and "spans" in out["df"][1]
    assert out["ours"] == [["ours", "TOOL", {"x": 1}, {"y": [1, 2]}]]
    assert out["ours_state"].endswith("OK")

    # ...and the official client's traces read back through mltrail's SDK.
    mlflow.set_experiment(exp)
    traces = mlflow.search_traces(return_type="list", order_by=["timestamp_ms ASC"])
    assert [t.info.tags["mlflow.traceName"] for t in traces] == ["pipeline", "broken"]
    assert traces[0].data.spans[1].outputs == [{"doc": 1}]


def test_otlp_json_ingest_and_rest_errors(api):
    exp_id = api.post("/api/2.0/mlflow/experiments/create", json={"name": f"otlp-{uuid.uuid4().hex[:6]}"}).json()[
        "experiment_id"]
    trace_hex, span_hex = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    payload = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
        "traceId": trace_hex, "spanId": span_hex, "name": "external", "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000", "status": {"code": 2, "message": "bad"},
        "attributes": [{"key": "mlflow.spanType", "value": {"stringValue": "TOOL"}},
                       {"key": "mlflow.spanInputs", "value": {"kvlistValue": {"values": [
                           {"key": "n", "value": {"intValue": "3"}}]}}},
                       {"key": "http.ok", "value": {"boolValue": False}}],
    }]}]}]}
    r = api.post("/v1/traces", json=payload, headers={"x-mlflow-experiment-id": exp_id})
    assert r.status_code == 200, r.text
    trace_id = f"tr-{trace_hex}"
    got = api.get("/api/3.0/mlflow/traces/get", params={"trace_id": trace_id}).json()["trace"]
    assert got["trace_info"]["state"] == "IN_PROGRESS"  # spans only: no StartTraceV3 yet
    (span,) = got["spans"]
    assert span["name"] == "external" and span["status"]["code"] == "STATUS_CODE_ERROR"
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["mlflow.spanInputs"] == {"kvlist_value": {"values": [{"key": "n", "value": {"int_value": 3}}]}}
    assert attrs["http.ok"] == {"bool_value": False}
    info = api.get(f"/api/3.0/mlflow/traces/{trace_id}").json()["trace"]["trace_info"]
    assert info["tags"]["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    found = api.post("/api/3.0/mlflow/traces/search", json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}],
        "filter": "attributes.status = 'IN_PROGRESS'"}).json()
    assert [t["trace_id"] for t in found["traces"]] == [trace_id]
    assert api.patch(f"/api/2.0/mlflow/traces/{trace_id}/tags", json={"key": "k", "value": "v"}).status_code == 200
    assert api.request("DELETE", f"/api/2.0/mlflow/traces/{trace_id}/tags", json={"key": "k"}).status_code == 200

    def error(resp, status, code):
        assert resp.status_code == status, resp.text
        assert resp.json()["error_code"] == code

    missing = f"tr-{uuid.uuid4().hex}"
    error(api.get(f"/api/3.0/mlflow/traces/{missing}"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get("/api/3.0/mlflow/traces/get", params={"trace_id": missing}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.post("/v1/traces", content=b"\xff\xff\xff", headers={"content-type": "application/x-protobuf"}),
          400, "INVALID_PARAMETER_VALUE")
    error(api.post("/v1/traces", content=b"[1]", headers={"content-type": "application/json"}),
          400, "INVALID_PARAMETER_VALUE")
    error(api.post("/v1/traces", content=b"x", headers={"content-type": "text/plain"}), 400, "INVALID_PARAMETER_VALUE")
    error(api.post("/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]},
                   headers={"x-mlflow-experiment-id": exp_id}), 422, "INVALID_PARAMETER_VALUE")  # MLflow: 422
    error(api.post("/api/3.0/mlflow/traces/search", json={"locations": [
        {"mlflow_experiment": {"experiment_id": exp_id}}], "filter": "status ~ 1"}), 400, "INVALID_PARAMETER_VALUE")
    error(api.post("/api/3.0/mlflow/traces/search", json={}), 400, "INVALID_PARAMETER_VALUE")
    error(api.post("/api/3.0/mlflow/traces", json={"trace": {}}), 400, "INVALID_PARAMETER_VALUE")
    error(api.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": {
        "trace_id": "tr-x", "trace_location": {"mlflow_experiment": {"experiment_id": exp_id}},
        "request_time": "yesterday"}}}), 400, "INVALID_PARAMETER_VALUE")
    deleted = api.post("/api/2.0/mlflow/traces/delete-traces", json={"experiment_id": exp_id,
                                                                     "request_ids": [trace_id]}).json()
    assert deleted == {"traces_deleted": 1}


def test_search_pages_by_keyset_in_any_sort_over_rest(api):
    exp_id = api.post("/api/2.0/mlflow/experiments/create", json={"name": f"pages-{uuid.uuid4().hex[:6]}"}).json()[
        "experiment_id"]
    for i in range(5):  # five traces, two latencies tied, one without a latency
        trace_hex = uuid.uuid4().hex
        info = {"trace_id": f"tr-{trace_hex}",
                "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}},
                "request_time": f"2026-01-01T00:00:0{i}Z", "state": "OK", "tags": {"mlflow.traceName": f"t{i}"}}
        if i:
            info["execution_duration"] = f"{min(i, 3)}s"
        assert api.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}}).status_code == 200
    where = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}]

    def search(token=None, order="execution_time_ms DESC"):
        body = {"locations": where, "max_results": 2, "order_by": [order]}
        return api.post("/api/3.0/mlflow/traces/search", json={**body, **({"page_token": token} if token else {})})

    names, token = [], None
    while True:
        page = search(token).json()
        names += [t["tags"]["mlflow.traceName"] for t in page["traces"]]
        token = page.get("next_page_token")
        if not token:
            break
        assert "after" in json.loads(base64.b64decode(token))  # a keyset position, opaque to the client
    assert set(names[:2]) == {"t3", "t4"} and names[2:] == ["t2", "t1", "t0"]  # no latency: last
    second = search().json()["next_page_token"]
    for bad, order in (("bm90IGEgdG9rZW4=", "execution_time_ms DESC"), (second, "status ASC"), ("%%%", "name ASC")):
        resp = search(bad, order)
        assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text


def test_otlp_protobuf_from_the_opentelemetry_library_is_decoded(api):
    trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    common = pytest.importorskip("opentelemetry.proto.common.v1.common_pb2")
    exp_id = api.post("/api/2.0/mlflow/experiments/create", json={"name": f"pb-{uuid.uuid4().hex[:6]}"}).json()[
        "experiment_id"]
    request = trace_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    trace_bytes = uuid.uuid4().bytes
    root = scope.spans.add(trace_id=trace_bytes, span_id=b"\x01" * 8, name="root", start_time_unix_nano=10**18,
                           end_time_unix_nano=10**18 + 5)
    root.status.code = 1
    child = scope.spans.add(trace_id=trace_bytes, span_id=b"\x02" * 8, parent_span_id=b"\x01" * 8, name="child",
                            start_time_unix_nano=10**18 + 1, end_time_unix_nano=10**18 + 2)
    values = {"s": common.AnyValue(string_value="x"), "i": common.AnyValue(int_value=-7),
              "d": common.AnyValue(double_value=1.5), "b": common.AnyValue(bool_value=True),
              "a": common.AnyValue(array_value=common.ArrayValue(values=[common.AnyValue(int_value=1)]))}
    for key, value in values.items():
        child.attributes.add(key=key, value=value)
    child.events.add(time_unix_nano=10**18 + 1, name="exception",
                     attributes=[common.KeyValue(key="exception.type", value=common.AnyValue(string_value="E"))])
    r = api.post("/v1/traces", content=request.SerializeToString(),
                 headers={"content-type": "application/x-protobuf", "x-mlflow-experiment-id": exp_id})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"

    mlflow.set_tracking_uri(str(api.base_url).rstrip("/"))
    trace = mlflow.get_trace(f"tr-{trace_bytes.hex()}")
    root_span, child_span = trace.data.spans
    assert (root_span.name, root_span.parent_id, child_span.parent_id) == ("root", None, "01" * 8)
    assert child_span.decoded_attributes() == {
        "s": "x", "i": -7, "d": 1.5, "b": True, "a": [1], "mlflow.traceRequestId": f"tr-{trace_bytes.hex()}"}
    assert child_span.events[0].attributes == {"exception.type": "E"}
    assert child_span.end_time_ns == 10**18 + 2


_ARTIFACT_PATH = r'''
import json, os, uuid
import mlflow
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.tracing.client import TracingClient
mlflow.set_experiment(os.environ["EXP"])
exp = mlflow.get_experiment_by_name(os.environ["EXP"]).experiment_id

@mlflow.trace
def double(x):
    return x * 2

double(21)
mlflow.flush_trace_async_logging()
source = mlflow.get_trace(mlflow.get_last_active_trace_id())
# The same spans under a trace whose spans never reach the database: the client's
# fallback uploads them as traces.json through the artifact proxy.
client = TracingClient()
info = TraceInfo(trace_id=os.environ["NEW_ID"], trace_location=TraceLocation.from_experiment_id(exp),
                 request_time=source.info.request_time, state=TraceState.OK, execution_duration=3)
returned = client.start_trace(info)
client._upload_trace_data(returned, source.data)
got = mlflow.get_trace(os.environ["NEW_ID"])
print(json.dumps([returned.tags.get("mlflow.trace.spansLocation"), [[s.name, s.outputs] for s in got.data.spans]]))
'''


def test_spans_stored_as_a_traces_json_artifact_are_served(live_server):
    exp, new_id = f"artifact-{uuid.uuid4().hex[:6]}", f"tr-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=live_server.url, EXP=exp, NEW_ID=new_id)
    proc = subprocess.run([sys.executable, "-c", _ARTIFACT_PATH], env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    location, spans = json.loads(proc.stdout.strip().splitlines()[-1])
    assert location is None and spans == [["double", 42]]
    # mltrail's SDK gets the spans from the server, which reads the artifact.
    mlflow.set_tracking_uri(live_server.url)
    trace = mlflow.get_trace(new_id)
    assert [(s.name, s.outputs) for s in trace.data.spans] == [("double", 42)]


def test_brief_langchain_example_through_the_server(live_server, openai_server):
    pytest.importorskip("langchain_openai")
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"lc-{uuid.uuid4().hex[:6]}")
    mlflow.langchain.autolog()
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    with mlflow.start_run() as run:
        llm = ChatOpenAI(model="gpt-4o-mini", temperature=0)
        prompt = ChatPromptTemplate.from_messages([
            ("system", "You are a helpful assistant."),
            ("user", "{question}"),
        ])
        chain = prompt | llm
        response = chain.invoke({"question": "What is MLflow?"})
    (trace,) = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert [(s.name, s.span_type) for s in trace.data.spans] == [
        ("RunnableSequence", "CHAIN"), ("ChatPromptTemplate", "CHAIN"), ("ChatOpenAI", "CHAT_MODEL")]
    assert trace.data.spans[0].outputs["content"] == response.content
    assert trace.data.spans[2].get_attribute("mlflow.chat.tokenUsage")["total_tokens"] == 13


def test_otlp_exporter_environment_sends_spans_to_a_collector(live_server, monkeypatch, tmp_path):
    # mltrail server's /v1/traces stands in for an OpenTelemetry collector.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live_server.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=ml%20ops")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'local.db'}")
    mlflow.set_experiment(experiment_id="0")

    @mlflow.trace(span_type="TOOL")
    def add(a, b):
        return a + b

    add(1, 2)
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    assert mlflow.get_trace(trace_id) is None  # sent to the collector instead of the local store
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    mlflow.set_tracking_uri(live_server.url)
    # The collector files the spans under the experiment named in the header: "0" on its side too.
    trace = mlflow.get_trace(trace_id)
    assert trace.info.experiment_id == "0"
    (span,) = trace.data.spans
    assert (span.name, span.span_type, span.inputs, span.outputs) == ("add", "TOOL", {"a": 1, "b": 2}, 3)
