"""``mltrail.genai.evaluate``: every data form, predict_fn, scorer failures, concurrency, model links,
embedded and against a live server; and the ``traces/link-to-run`` endpoint."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pandas as pd
import pytest

import mltrail as mlflow
from mltrail.entities.assessment import Feedback
from mltrail.exceptions import MltrailException
from support.deployments_server import deployments_server  # noqa: F401  (fixture)
from support.fake_http import FakeHTTPServer, JSONHandler
from support.sql_backends import SQL_BACKENDS


class CodeScorer:
    """The scorer protocol the harness relies on (MLflow's ``Scorer.run``), without G1's decorator."""

    def __init__(self, name: str, fn: Any, aggregations: list[Any] | None = None) -> None:
        self.name, self.fn, self.aggregations = name, fn, aggregations

    def run(self, *, inputs=None, outputs=None, expectations=None, trace=None) -> Any:
        return self.fn(inputs=inputs, outputs=outputs, expectations=expectations, trace=trace)


EXACT = CodeScorer("exact", lambda outputs, expectations, **_: outputs == expectations["expected"])
LENGTH = CodeScorer("length", lambda outputs, **_: len(outputs), ["min", "max", "mean"])
RATED = CodeScorer("rated", lambda inputs, outputs, **_: Feedback(value="yes" if outputs else "no",
                                                                   rationale=f"q was {inputs['q']}"))
DATA = [
    {"inputs": {"q": "a"}, "outputs": "A", "expectations": {"expected": "A"}},
    {"inputs": {"q": "b"}, "outputs": "bb", "expectations": {"expected": "B"}},
]


@pytest.fixture(params=["embedded", "server"])
def where(request) -> str:
    if request.param == "server":
        mlflow.set_tracking_uri(request.getfixturevalue("live_server").url)
    mlflow.set_experiment(f"genai-eval-{uuid.uuid4().hex[:8]}")
    return request.param


def _assessments(trace_id: str) -> dict[str, Any]:
    return {a.name: a for a in mlflow.get_trace(trace_id).info.assessments}


def test_list_of_dicts_logs_feedback_metrics_run_and_result_df(where):
    result = mlflow.genai.evaluate(data=DATA, scorers=[EXACT, LENGTH, RATED])

    assert result.metrics == {"exact/mean": 0.5, "length/min": 1.0, "length/max": 2.0, "length/mean": 1.5,
                              "rated/mean": 1.0}
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics == result.metrics
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.info.status == "FINISHED"  # a run evaluate started itself is ended
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["dataset"]
    df = result.result_df
    assert list(df.columns) == ["trace_id", "exact/value", "length/value", "rated/value", "rated/rationale",
                                "expected/value", "trace", "client_request_id", "state", "request_time",
                                "execution_duration", "request", "response", "trace_metadata", "tags", "spans",
                                "assessments"]
    assert df["exact/value"].tolist() == [True, False]
    assert df["rated/rationale"].tolist() == ["q was a", "q was b"]
    assert df["request"].tolist() == [{"q": "a"}, {"q": "b"}]
    # one minimal trace per row, in the run, carrying each feedback and the expectation
    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert sorted(t.info.trace_id for t in traces) == sorted(df["trace_id"])
    got = _assessments(df["trace_id"][1])
    assert got["exact"].value is False and got["length"].value == 2 and got["rated"].rationale == "q was b"
    assert got["exact"].source.source_type == "CODE" and got["exact"].source.source_id == "exact"
    assert got["expected"].expectation is not None and got["expected"].value == "B"
    assert got["exact"].metadata["mlflow.assessment.sourceRunId"] == result.run_id
    trace = mlflow.get_trace(df["trace_id"][1])
    assert trace.data.spans[0].name == "root_span" and trace.data.spans[0].outputs == "bb"
    assert got["exact"].span_id == trace.data.spans[0].span_id


def test_dataframe_with_predict_fn_called_with_kwargs_and_traced(where):
    calls = []

    def untraced(question: str, context: str) -> str:
        calls.append((question, context))
        return f"{question}|{context}"

    @mlflow.trace(span_type="AGENT")
    def traced(question: str, context: str) -> str:
        with mlflow.start_span("retrieve"):
            pass
        return context.upper()

    data = pd.DataFrame([{"inputs": {"question": "q1", "context": "c1"}},
                         {"inputs": {"question": "q2", "context": "c2"}}])
    seen = CodeScorer("seen", lambda outputs, trace, **_: outputs is not None and trace is not None)
    result = mlflow.genai.evaluate(data=data, predict_fn=untraced, scorers=[seen])
    assert sorted(calls) == [("q1", "c1"), ("q2", "c2")]  # once per row, never an extra probe call
    assert result.metrics == {"seen/mean": 1.0}
    trace = mlflow.get_trace(result.result_df["trace_id"][0])
    assert trace.data.spans[0].name == "untraced"
    assert trace.data.spans[0].inputs == {"question": "q1", "context": "c1"}
    assert trace.data.spans[0].outputs == "q1|c1"
    assert trace.info.trace_metadata["mlflow.sourceRun"] == result.run_id

    result = mlflow.genai.evaluate(data=data, predict_fn=traced, scorers=[seen])
    trace = mlflow.get_trace(result.result_df["trace_id"][1])
    assert [s.name for s in trace.data.spans] == ["traced", "retrieve"]  # the function's own trace, not wrapped
    assert trace.data.spans[0].outputs == "C2"
    assert result.result_df["response"].tolist() == ["C1", "C2"]
    assert len(mlflow.search_traces(run_id=result.run_id, return_type="list")) == 2


def test_predict_fn_failure_is_recorded_on_an_error_trace(where):
    def flaky(q: str) -> str:
        if q == "b":
            raise RuntimeError("model down")
        return q

    result = mlflow.genai.evaluate(data=[{"inputs": {"q": "a"}}, {"inputs": {"q": "b"}}], predict_fn=flaky,
                                   scorers=[CodeScorer("has_output", lambda outputs, **_: outputs is not None)])
    assert result.metrics == {"has_output/mean": 0.5}
    states = dict(zip(result.result_df["request"].map(lambda r: r["q"]), result.result_df["state"], strict=True))
    assert states == {"a": "OK", "b": "ERROR"}


def test_traces_from_search_traces_are_scored_and_linked_to_the_run(where):
    @mlflow.trace
    def answer(q: str) -> str:
        return q * 2

    ids = []
    for q in ("x", "y"):
        answer(q)
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.log_expectation(trace_id=ids[0], name="expected", value="xx")
    traces_df = mlflow.search_traces()
    assert "trace" in traces_df.columns

    check = CodeScorer("check", lambda inputs, outputs, expectations, trace, **_:
                       Feedback(value=outputs == inputs["q"] * 2 and trace.info.trace_id in ids,
                                rationale=str(sorted(expectations))))
    result = mlflow.genai.evaluate(data=traces_df, scorers=[check])
    assert result.metrics == {"check/mean": 1.0}
    assert sorted(result.result_df["trace_id"]) == sorted(ids)
    by_id = dict(zip(result.result_df["trace_id"], result.result_df["check/rationale"], strict=True))
    assert by_id == {ids[0]: "['expected']", ids[1]: "[]"}  # expectations come from the trace's assessments
    linked = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert sorted(t.info.trace_id for t in linked) == sorted(ids)  # the run links the traces it scored

    # a list of Trace objects, and records with a `trace` field, are the same data
    traces = mlflow.search_traces(return_type="list")
    for data in (traces, [{"trace": t} for t in traces]):
        assert mlflow.genai.evaluate(data=data, scorers=[check]).metrics == {"check/mean": 1.0}


def test_dataset_object_with_to_df_or_records(where):
    class Records:
        records = DATA

    class ToDf:
        def to_df(self) -> pd.DataFrame:
            return pd.DataFrame(DATA)

    for data in (Records(), ToDf()):
        assert mlflow.genai.evaluate(data=data, scorers=[EXACT]).metrics == {"exact/mean": 0.5}


def test_tags_go_on_the_traces(where):
    data = [{**DATA[0], "tags": {"team": "search", "mlflow.user": "not-allowed"}}]
    result = mlflow.genai.evaluate(data=data, scorers=[EXACT])
    tags = mlflow.get_trace(result.result_df["trace_id"][0]).info.tags
    assert tags["team"] == "search"
    assert tags.get("mlflow.user") != "not-allowed"


@pytest.mark.parametrize(("data", "scorers", "message"), [
    ([], [EXACT], "The dataset is empty"),
    ([{"outputs": "x"}], [EXACT], "Either `inputs` or `trace` column is required"),
    ([{"inputs": "not a dict"}], [EXACT], "The 'inputs' column must be a dictionary"),
    (["a string"], [EXACT], "Every item in the list must be a dictionary"),
    ({"inputs": {"q": 1}}, [EXACT], "Invalid type for parameter `data`"),
    (DATA, EXACT, "The `scorers` argument must be a list of scorers"),
    (DATA, [CodeScorer], "passed a scorer class instead of an instance"),
    (DATA, [lambda outputs: True], "invalid item with type: function"),
    ([{**DATA[0], "tags": "x"}], [EXACT], "Tags must be a dictionary"),
])
def test_bad_data_and_scorers_are_refused_as_mlflow_refuses_them(data, scorers, message):
    with pytest.raises(MltrailException, match=message) as err:
        mlflow.genai.evaluate(data=data, scorers=scorers)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_failing_scorer_is_an_error_feedback_and_the_others_still_count(where):
    def boom(**_: Any) -> Any:
        raise ValueError("judge exploded")

    odd = CodeScorer("odd", lambda **_: object())  # an unsupported return value is an error too
    result = mlflow.genai.evaluate(data=DATA, scorers=[EXACT, CodeScorer("boom", boom), odd])
    assert result.metrics == {"exact/mean": 0.5}
    assert result.result_df["boom/error_message"].tolist() == ["judge exploded"] * 2
    feedback = _assessments(result.result_df["trace_id"][0])["boom"]
    assert feedback.error.error_code == "SCORER_ERROR" and "ValueError" in feedback.error.stack_trace
    assert _assessments(result.result_df["trace_id"][0])["odd"].error.error_code == "SCORER_ERROR"


def test_active_run_is_reused_and_left_open(where):
    with mlflow.start_run() as run:
        result = mlflow.genai.evaluate(data=DATA, scorers=[EXACT])
        assert result.run_id == run.info.run_id
        assert mlflow.active_run().info.run_id == run.info.run_id
        assert mlflow.get_run(run.info.run_id).info.status == "RUNNING"
    assert mlflow.get_run(run.info.run_id).data.metrics == {"exact/mean": 0.5}


def test_model_id_links_traces_and_metrics(where):
    model = mlflow.create_external_model(name="agent")
    result = mlflow.genai.evaluate(data=DATA, predict_fn=lambda q: q, scorers=[EXACT], model_id=model.model_id)
    for trace_id in result.result_df["trace_id"]:
        assert mlflow.get_trace(trace_id).info.trace_metadata["mlflow.modelId"] == model.model_id
    assert mlflow.get_active_model_id() is None  # only during the evaluation
    assert mlflow.get_logged_model(model.model_id).metrics[0].key == "exact/mean"


def test_aggregations_and_custom_aggregation(where):
    def spread(values: list[float]) -> float:
        return max(values) - min(values)

    scorer = CodeScorer("length", lambda outputs, **_: len(outputs),
                        ["min", "max", "mean", "median", "variance", "p90", spread])
    data = [{"inputs": {"q": str(i)}, "outputs": "x" * i} for i in (1, 2, 3, 4)]
    metrics = mlflow.genai.evaluate(data=data, scorers=[scorer]).metrics
    assert metrics == pytest.approx({"length/min": 1.0, "length/max": 4.0, "length/mean": 2.5, "length/median": 2.5,
                                     "length/variance": 1.25, "length/p90": 3.7, "length/spread": 3.0})
    no_aggregates = CodeScorer("none", lambda **_: 1, [])
    assert mlflow.genai.evaluate(data=data, scorers=[no_aggregates]).metrics == {}


# ------------------------------------------------------------------ concurrency
class _OverlapHandler(JSONHandler):
    """A judge endpoint that records how many requests are in flight at once.

    Until ``target`` requests have been in flight together (or 5 s passed) each
    request waits, so reaching the target does not depend on timing; then each
    answers after 50 ms.
    """

    def do_POST(self) -> None:
        srv = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with srv.cond:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            srv.cond.notify_all()
            srv.cond.wait_for(lambda: srv.in_flight >= srv.target or srv.reached, timeout=5)
            srv.reached = srv.reached or srv.in_flight >= srv.target
        time.sleep(0.05)
        with srv.cond:
            srv.in_flight -= 1
            srv.requests.append(1)
        self._send_json(200, {"score": 1})


class OverlapJudge(FakeHTTPServer):
    def __init__(self, target: int) -> None:
        from http.server import ThreadingHTTPServer

        super().__init__(ThreadingHTTPServer, _OverlapHandler)
        self._server.cond = threading.Condition()
        self._server.in_flight = 0
        self._server.max_in_flight = 0
        self._server.target = target
        self._server.reached = False

    @property
    def max_in_flight(self) -> int:
        return self._server.max_in_flight


def _judge_scorer(judge: OverlapJudge, name: str) -> CodeScorer:
    return CodeScorer(name, lambda outputs, **_: httpx.post(judge.root_url + "/judge", json={"o": outputs},
                                                            timeout=10).json()["score"])


@pytest.mark.parametrize(("rows", "row_workers", "expected"), [
    (12, "3", 3),      # rows overlap up to MLFLOW_GENAI_EVAL_MAX_WORKERS (never more), one judge call each
    (6, "1", 1),       # one row at a time
])
def test_rows_run_concurrently_up_to_max_workers(monkeypatch, rows, row_workers, expected):
    monkeypatch.setenv("MLFLOW_GENAI_EVAL_MAX_WORKERS", row_workers)
    with OverlapJudge(target=expected) as judge:
        data = [{"inputs": {"q": str(i)}, "outputs": str(i)} for i in range(rows)]
        result = mlflow.genai.evaluate(data=data, scorers=[_judge_scorer(judge, "j")])
        assert result.metrics == {"j/mean": 1.0}
        assert len(judge.requests) == rows
        assert judge.max_in_flight == expected


@pytest.mark.parametrize(("scorer_workers", "expected"), [(None, 3), ("1", 1)])
def test_scorers_of_a_row_run_in_parallel(monkeypatch, scorer_workers, expected):
    monkeypatch.setenv("MLFLOW_GENAI_EVAL_MAX_WORKERS", "1")
    if scorer_workers:
        monkeypatch.setenv("MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS", scorer_workers)
    with OverlapJudge(target=expected) as judge:
        scorers = [_judge_scorer(judge, f"j{i}") for i in range(3)]
        data = [{"inputs": {"q": str(i)}, "outputs": str(i)} for i in range(4)]
        result = mlflow.genai.evaluate(data=data, scorers=scorers)
        assert sorted(result.metrics) == ["j0/mean", "j1/mean", "j2/mean"]
        assert judge.max_in_flight == expected


def test_worker_threads_trace_into_the_runs_experiment_not_the_active_one(tmp_path):
    mlflow.set_experiment("other")
    target = mlflow.create_experiment("target")
    with mlflow.start_run(experiment_id=target) as run:
        result = mlflow.genai.evaluate(data=DATA, predict_fn=lambda q: q, scorers=[EXACT])
    for trace_id in result.result_df["trace_id"]:
        info = mlflow.get_trace(trace_id).info
        assert info.experiment_id == target and info.trace_metadata["mlflow.sourceRun"] == run.info.run_id


# ------------------------------------------------------------------ link-to-run
def test_link_to_run_endpoint_with_the_official_client(live_server):
    from mlflow import MlflowClient as OfficialClient

    mlflow.set_tracking_uri(live_server.url)
    exp = mlflow.set_experiment(f"link-{uuid.uuid4().hex[:8]}").experiment_id

    @mlflow.trace
    def f(x: int) -> int:
        return x

    ids = []
    for i in range(3):
        f(i)
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()
    run_id = mlflow.MlflowClient().create_run(exp).info.run_id
    OfficialClient(live_server.url).link_traces_to_run([*ids[:2], "tr-unknown"], run_id=run_id)
    found = OfficialClient(live_server.url).search_traces(locations=[exp], run_id=run_id)
    assert sorted(t.info.trace_id for t in found) == sorted(ids[:2])

    url = f"{live_server.url}/api/2.0/mlflow/traces/link-to-run"
    for body, fragment in [({"trace_ids": ids}, "run_id"), ({"run_id": run_id}, "trace_ids"),
                           ({"trace_ids": [f"tr-{i}" for i in range(101)], "run_id": run_id}, "more than 100"),
                           ({"trace_ids": "tr-1", "run_id": run_id}, "")]:
        resp = httpx.post(url, json=body)
        assert resp.status_code == 400, body
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE" and fragment in resp.json()["message"]
    resp = httpx.post(url, json={"trace_ids": ids, "run_id": "no-such-run"})
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_sql_store_links_traces_on_every_backend(request, tmp_path, backend):
    from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo
    from mltrail.store.sql.traces import SqlTraceStore
    from mltrail.store.sql.tracking import SqlTrackingStore

    uri = f"sqlite:///{tmp_path / 't.db'}" if backend == "sqlite" else request.getfixturevalue(f"{backend}_uri")
    tracking = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    exp = tracking.create_experiment(f"link-{uuid.uuid4().hex[:8]}")
    run_id, other_run = (tracking.create_run(exp, "u", 0, [], f"r{i}").info.run_id for i in range(2))
    store = SqlTraceStore(uri)

    def trace(metadata: dict[str, str]) -> str:
        trace_id = f"tr-{uuid.uuid4().hex}"
        span = Span(trace_id, uuid.uuid4().hex[:16], None, "root", 1_000_000, 2_000_000)
        store.log_traces([Trace(TraceInfo(trace_id, exp, 1, 1, "OK", metadata, {}), TraceData([span]))])
        return trace_id

    free, owned = trace({}), trace({"mlflow.sourceRun": other_run})
    store.link_traces_to_run([free, owned, free, "tr-unknown"], run_id)
    store.link_traces_to_run([free], run_id)  # linking again changes nothing
    infos, _ = store.search_traces([exp], f"attributes.run_id = '{run_id}'")
    assert sorted(i.trace_id for i in infos) == sorted([free, owned])  # many-to-many, as MLflow 3
    infos, _ = store.search_traces([exp], f"metadata.`mlflow.sourceRun` = '{other_run}'")
    assert [i.trace_id for i in infos] == [owned]  # still found by the run it was created in
    assert store.get_trace_info(owned).trace_metadata == {"mlflow.sourceRun": other_run}  # the link is hidden
    with pytest.raises(MltrailException) as err:
        store.link_traces_to_run([free], "no-such-run")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="more than 100"):
        store.link_traces_to_run([free] * 101, run_id)


def test_synchronous_export_stores_a_trace_before_the_call_returns(tmp_path):
    from mltrail.tracing._store import trace_store_for
    from mltrail.tracing.export import get_exporter, synchronous_export

    mlflow.set_experiment("sync-export")

    @mlflow.trace
    def f() -> int:
        return 1

    exporter = get_exporter()
    with exporter._cond:  # hold the background writer: only a synchronous export can store the trace
        with synchronous_export():
            f()
        trace_id = mlflow.get_last_active_trace_id()
        assert trace_store_for(None).get_trace_info(trace_id).state == "OK"


def test_to_predict_fn_calls_a_deployments_endpoint_traced(deployments_server, monkeypatch):  # noqa: F811
    mlflow.set_experiment("to-predict-fn")
    predict_fn = mlflow.genai.to_predict_fn("endpoints:/judge-chat")
    data = [{"inputs": {"messages": [{"role": "user", "content": q}]}} for q in ("hi", "yo")]
    answer = CodeScorer("answer", lambda outputs, **_: outputs["choices"][0]["message"]["content"])
    result = mlflow.genai.evaluate(data=data, predict_fn=predict_fn, scorers=[answer])
    assert sorted(result.result_df["answer/value"]) == ["Answer to: hi", "Answer to: yo"]
    assert [r["body"]["messages"][0]["content"] for r in deployments_server.requests] in (["hi", "yo"], ["yo", "hi"])
    root = mlflow.get_trace(result.result_df["trace_id"][0]).data.spans[0]
    assert root.name == "predict" and root.inputs == {"messages": [{"role": "user", "content": "hi"}]}

    with pytest.raises(ValueError, match="Invalid endpoint URI"):
        mlflow.genai.to_predict_fn("http://example.com")
    with pytest.raises(MltrailException, match="Databricks"):
        mlflow.genai.to_predict_fn("apps:/agent")
    monkeypatch.delenv("MLFLOW_DEPLOYMENTS_TARGET")
    with pytest.raises(MltrailException, match="MLFLOW_DEPLOYMENTS_TARGET"):
        mlflow.genai.to_predict_fn("endpoints:/judge-chat")


def test_traces_of_another_experiment_are_cloned_into_the_runs(where):
    @mlflow.trace
    def answer(q: str) -> str:
        return q.upper()

    mlflow.set_experiment(f"elsewhere-{uuid.uuid4().hex[:8]}")
    answer("x")
    original = mlflow.get_last_active_trace_id()
    mlflow.set_trace_tag(original, "team", "search")
    mlflow.log_expectation(trace_id=original, name="expected", value="X")
    traces = mlflow.search_traces(return_type="list")
    target = mlflow.set_experiment(f"target-{uuid.uuid4().hex[:8]}").experiment_id

    result = mlflow.genai.evaluate(data=traces, scorers=[EXACT])
    assert result.metrics == {"exact/mean": 1.0}
    (clone_id,) = result.result_df["trace_id"]
    assert clone_id != original
    clone = mlflow.get_trace(clone_id)
    assert clone.info.experiment_id == target and clone.info.tags["team"] == "search"
    assert [s.name for s in clone.data.spans] == ["answer"] and clone.data.spans[0].outputs == "X"
    assert {a.name for a in clone.info.assessments} == {"exact", "expected"}
    assert [t.info.trace_id for t in mlflow.search_traces(run_id=result.run_id, return_type="list")] == [clone_id]
    assert {a.name for a in mlflow.get_trace(original).info.assessments} == {"expected"}  # the original is untouched


def test_passed_and_reason_follow_mlflow_rules(where):
    from mltrail.genai.scorers import scorer

    @scorer(pass_if=lambda v: v >= 2)
    def long_enough(outputs):
        return len(outputs)

    hint = "assertions need a yes/no rating or a bool. Declare pass_if=... on the scorer to define what counts as passing."
    result = mlflow.genai.evaluate(data=DATA, scorers=[EXACT, long_enough])
    assert not result.passed
    # as in MLflow, every '<name>/value' column is an assertion, the expectations' included
    assert sorted(result.reason.splitlines()) == sorted([
        "4 assertions failed:", "  - long_enough: value=1", "  - exact: value=False",
        f"  - expected: returned 'A'; {hint}", f"  - expected: returned 'B'; {hint}"])
    plain = mlflow.genai.evaluate(data=[{"inputs": {"q": "a"}, "outputs": "A"}], scorers=[RATED, long_enough])
    assert not plain.passed and plain.reason == "long_enough: value=1"
    fine = mlflow.genai.evaluate(data=[{"inputs": {"q": "a"}, "outputs": "AA"}], scorers=[RATED, long_enough])
    assert fine.passed and fine.reason == ""


def test_async_predict_fn_traced_or_not(where, monkeypatch):
    import asyncio

    async def shout(q: str) -> str:
        await asyncio.sleep(0)
        return q.upper()

    @mlflow.trace
    async def traced_shout(q: str) -> str:
        return q.upper()

    for fn, span_name in ((shout, "shout"), (traced_shout, "traced_shout")):
        result = mlflow.genai.evaluate(data=DATA, predict_fn=fn, scorers=[EXACT])
        assert result.metrics == {"exact/mean": 1.0}
        assert mlflow.get_trace(result.result_df["trace_id"][0]).data.spans[0].name == span_name

    async def slow(q: str) -> str:
        await asyncio.sleep(5)
        return q

    monkeypatch.setenv("MLFLOW_GENAI_EVAL_ASYNC_TIMEOUT", "0.05")
    result = mlflow.genai.evaluate(data=DATA[:1], predict_fn=slow, scorers=[EXACT])
    assert result.result_df["state"].tolist() == ["ERROR"]  # the timeout is the row's predict error
