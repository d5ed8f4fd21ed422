"""The fluent tracing API on the embedded store: spans, nesting, errors, async, generators, threads."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import threading

import pytest

import mltrail as mlflow
from mltrail.entities.trace import SpanType


def _last():
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None
    return trace


def test_decorator_and_start_span_nest_into_one_trace(backend):
    mlflow.set_experiment(f"{backend}-fluent")

    @mlflow.trace(span_type=SpanType.CHAIN, attributes={"team": "ml"})
    def pipeline(question: str, k: int = 2) -> dict:
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_outputs(["doc"] * k)
            assert mlflow.get_current_active_span() is span
        return {"answer": tool(question)}

    @mlflow.trace(name="my_tool", span_type="TOOL")
    def tool(text):
        return text.upper()

    assert pipeline("hi") == {"answer": "HI"}
    trace = _last()
    assert trace.info.state == "OK"
    assert trace.info.tags["mlflow.traceName"] == "pipeline"
    assert trace.info.request_preview == '{"question": "hi", "k": 2}'
    assert trace.info.response_preview == '{"answer": "HI"}'
    assert trace.info.experiment_id == mlflow.get_experiment_by_name(f"{backend}-fluent").experiment_id
    root, retrieve, tool_span = trace.data.spans
    assert (root.name, root.span_type, root.parent_id) == ("pipeline", "CHAIN", None)
    assert root.inputs == {"question": "hi", "k": 2} and root.get_attribute("team") == "ml"
    assert root.attributes["team"] == "ml" and root.attributes["mlflow.spanType"] == "CHAIN"  # decoded
    assert (retrieve.name, retrieve.span_type, retrieve.parent_id) == ("retrieve", "RETRIEVER", root.span_id)
    assert retrieve.inputs == {"query": "hi"} and retrieve.outputs == ["doc", "doc"]
    assert (tool_span.name, tool_span.span_type, tool_span.parent_id) == ("my_tool", "TOOL", root.span_id)
    assert tool_span.inputs == {"text": "hi"} and tool_span.outputs == "HI"
    assert root.start_time_ns <= retrieve.start_time_ns <= retrieve.end_time_ns <= root.end_time_ns
    assert {s.trace_id for s in trace.data.spans} == {trace.info.trace_id}
    assert mlflow.get_current_active_span() is None


def test_exception_marks_error_with_event_and_propagates():
    @mlflow.trace
    def outer():
        with mlflow.start_span("inner"):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        outer()
    trace = _last()
    assert trace.info.state == "ERROR"
    for span in trace.data.spans:
        assert span.status.status_code == "ERROR"
        event = span.events[0]
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "boom"
        assert "Traceback" in event.attributes["exception.stacktrace"]


def test_async_functions_and_generators():
    @mlflow.trace(span_type="AGENT")
    async def agent(n):
        await asyncio.sleep(0)
        return [await step(i) for i in range(n)]

    @mlflow.trace
    async def step(i):
        return i * 10

    assert asyncio.run(agent(2)) == [0, 10]
    trace = _last()
    assert [s.name for s in trace.data.spans] == ["agent", "step", "step"]
    assert all(s.parent_id == trace.data.spans[0].span_id for s in trace.data.spans[1:])
    assert trace.data.spans[0].outputs == [0, 10]

    @mlflow.trace(output_reducer=lambda items: "".join(items))
    def tokens():
        yield "a"
        with mlflow.start_span("mid"):
            pass
        yield "b"

    assert list(tokens()) == ["a", "b"]
    trace = _last()
    assert trace.data.spans[0].outputs == "ab"
    assert trace.data.spans[1].name == "mid" and trace.data.spans[1].parent_id == trace.data.spans[0].span_id

    @mlflow.trace
    async def agen():
        for i in range(3):
            yield i

    async def consume():
        return [x async for x in agen()]

    assert asyncio.run(consume()) == [0, 1, 2]
    assert _last().data.spans[0].outputs == [0, 1, 2]


def test_threads_get_their_own_traces_unless_context_is_copied():
    @mlflow.trace
    def work(i):
        return i

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    traces = mlflow.search_traces(return_type="list")
    assert sorted(t.data.spans[0].outputs for t in traces) == [0, 1, 2, 3]
    assert all(len(t.data.spans) == 1 for t in traces)

    @mlflow.trace
    def parent():
        ctx = contextvars.copy_context()
        worker = threading.Thread(target=ctx.run, args=(work, 7))
        worker.start()
        worker.join()
        return "done"

    parent()
    trace = _last()
    assert [s.name for s in trace.data.spans] == ["parent", "work"]
    assert trace.data.spans[1].parent_id == trace.data.spans[0].span_id


def test_trace_links_to_active_run_and_update_current_trace(backend):
    mlflow.set_experiment(f"{backend}-runs")
    with mlflow.start_run() as run:
        @mlflow.trace
        def f():
            mlflow.update_current_trace(tags={"env": "test"}, metadata={"session": "s1"})
            return 1

        f()
    trace = _last()
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    assert trace.info.trace_metadata["session"] == "s1"
    assert trace.info.tags["env"] == "test"
    assert trace.info.experiment_id == run.info.experiment_id
    df = mlflow.search_traces(run_id=run.info.run_id)
    assert list(df["trace_id"]) == [trace.info.trace_id]
    assert list(df.columns) == ["trace_id", "trace", "client_request_id", "state", "request_time",
                                "execution_duration", "request", "response", "trace_metadata", "tags",
                                "spans", "assessments"]
    assert df["response"][0] == 1


def test_search_filters_order_and_errors(backend):
    mlflow.set_experiment(f"{backend}-search")

    @mlflow.trace
    def ok(x):
        return x

    @mlflow.trace
    def bad():
        raise RuntimeError("no")

    for i in range(3):
        ok(i)
    with pytest.raises(RuntimeError):
        bad()
    traces = mlflow.search_traces(return_type="list")
    assert len(traces) == 4
    assert len(mlflow.search_traces(filter_string="attributes.status = 'OK'", return_type="list")) == 3
    assert len(mlflow.search_traces(filter_string="trace.status = 'ERROR'", return_type="list")) == 1
    assert len(mlflow.search_traces(filter_string="tags.`mlflow.traceName` = 'ok'", return_type="list")) == 3
    assert len(mlflow.search_traces(filter_string="attributes.name = 'bad'", return_type="list")) == 1
    assert len(mlflow.search_traces(filter_string="metadata.`mlflow.traceInputs` = '{\"x\": 1}'",
                                    return_type="list")) == 1
    first = traces[-1].info.request_time
    assert len(mlflow.search_traces(filter_string=f"attributes.timestamp_ms >= {first}", return_type="list")) == 4
    assert mlflow.search_traces(filter_string="attributes.execution_time_ms < 0", return_type="list") == []
    oldest_first = mlflow.search_traces(order_by=["timestamp_ms ASC"], return_type="list")
    times = [t.info.request_time for t in oldest_first]
    assert times == sorted(times) and [t.info.request_time for t in traces] == sorted(times, reverse=True)
    assert len(mlflow.search_traces(max_results=2, return_type="list")) == 2
    for bad_filter in ("status === 'OK'", "foo.bar = 'x'", "attributes.nope = 'x'", "timestamp_ms > 'x'"):
        with pytest.raises(mlflow.MlflowException) as err:
            mlflow.search_traces(filter_string=bad_filter)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(mlflow.MlflowException):
        mlflow.search_traces(order_by=["nope DESC"])


def test_tags_delete_and_unknown_trace():
    @mlflow.trace
    def f():
        return 1

    f()
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.set_trace_tag(trace_id, "reviewed", "yes")
    assert mlflow.get_trace(trace_id).info.tags["reviewed"] == "yes"
    mlflow.delete_trace_tag(trace_id, "reviewed")
    assert "reviewed" not in mlflow.get_trace(trace_id).info.tags
    assert mlflow.get_trace("tr-" + "0" * 32) is None
    with pytest.raises(mlflow.MlflowException) as err:
        mlflow.set_trace_tag("tr-" + "0" * 32, "k", "v")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_disable_records_nothing():
    import mltrail.tracing

    mltrail.tracing.disable()

    @mlflow.trace
    def f():
        with mlflow.start_span("x") as span:
            span.set_inputs(1)
        return 2

    assert f() == 2
    assert mlflow.get_last_active_trace_id() is None
    mltrail.tracing.enable()


def test_import_mltrail_does_not_import_tracing_or_integrations():
    code = (
        "import sys, mltrail\n"
        "assert callable(mltrail.trace)\n"  # touching a fluent tracing name is what loads it
        "import importlib\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openai', 'langchain', 'mltrail.openai', "
        "'mltrail.langchain'))))\n"
    )
    bare = subprocess.run([sys.executable, "-c", "import sys, mltrail; print(sorted(m for m in sys.modules "
                           "if m.startswith(('mltrail.tracing', 'mltrail.openai', 'mltrail.langchain', "
                           "'openai', 'langchain'))))"], capture_output=True, text=True, check=True)
    assert bare.stdout.strip() == "[]"
    touched = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert touched.stdout.strip() == "[]"


def test_mlflow_style_entity_imports():
    from mltrail.entities import SpanStatusCode, SpanType, Trace

    @mlflow.trace(span_type=SpanType.RETRIEVER)
    def find():
        return ["a"]

    find()
    trace = _last()
    assert isinstance(trace, Trace)
    assert trace.data.spans[0].status.status_code == SpanStatusCode.OK
    assert Trace.from_json(trace.to_json()).data.spans[0].outputs == ["a"]


def test_an_unreachable_store_never_breaks_traced_code(monkeypatch):
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "somewhere")  # resolving it needs the (dead) server
    mlflow.set_tracking_uri("http://127.0.0.1:9")

    @mlflow.trace
    def f(x):
        with mlflow.start_span("inner"):
            return x + 1

    assert f(1) == 2


def test_an_ended_span_left_current_is_not_active():
    """Code that hops contexts (a callback handler, a generator finished elsewhere) can leave an
    ended span set as current: it is not active, and the next trace is a new one."""
    import mltrail
    from mltrail.tracing import _manager

    with mltrail.start_span("first") as first:
        pass
    token = _manager.set_current(first)  # what a misbehaving integration would leave behind
    try:
        assert first.is_ended and mltrail.get_current_active_span() is None
        with mltrail.start_span("second") as second:
            assert second.parent_id is None and second.trace_id != first.trace_id
    finally:
        _manager.reset_current(token)
