"""``MlflowClient``'s trace methods, on the embedded store and over HTTP against a live ``mltrail server``."""

from __future__ import annotations

import time
import uuid

import pytest

import mltrail as mlflow
from mltrail import MlflowClient
from mltrail.exceptions import MltrailException
from mltrail.tracing import _manager
from mltrail.tracing.span import LiveSpan, NoOpSpan


@pytest.fixture(params=["embedded", "server"])
def client(request) -> MlflowClient:
    """A client of the embedded default store, or of a live server (also made the fluent tracking URI)."""
    if request.param == "server":
        mlflow.set_tracking_uri(request.getfixturevalue("live_server").url)
    mlflow.set_experiment(f"client-traces-{uuid.uuid4().hex[:8]}")
    return MlflowClient()


def _simple_trace(client: MlflowClient, name: str, tags: dict[str, str] | None = None, **kwargs) -> str:
    root = client.start_trace(name, inputs={"n": name}, tags=tags, **kwargs)
    client.end_trace(root.trace_id, outputs={"done": name})
    return root.trace_id


def test_explicit_spans_build_a_trace_with_parents_io_and_status(client):
    exp_id = client.create_experiment(f"explicit-{uuid.uuid4().hex[:8]}")
    t0 = time.time_ns()
    root = client.start_trace(
        "agent",
        span_type="CHAIN",
        inputs={"q": "hi"},
        attributes={"team": "ml"},
        tags={"user": "ann"},
        experiment_id=exp_id,
        start_time_ns=t0,
    )
    assert isinstance(root, LiveSpan) and root.trace_id.startswith("tr-") and root.parent_id is None
    tool = client.start_span(
        "tool",
        trace_id=root.trace_id,
        parent_id=root.span_id,
        span_type="TOOL",
        inputs={"x": 2},
        attributes={"k": 3},
        start_time_ns=t0 + 1_000,
    )
    leaf = client.start_span("leaf", root.trace_id, tool.span_id, inputs=[1, 2])
    client.end_span(root.trace_id, leaf.span_id, outputs=3, status="ERROR", end_time_ns=t0 + 5_000)
    client.end_span(
        root.trace_id, tool.span_id, outputs={"y": 4}, attributes={"factor": 2}, end_time_ns=t0 + 9_000
    )
    client.end_trace(
        root.trace_id, outputs={"answer": "hello"}, attributes={"extra": True}, end_time_ns=t0 + 2_000_000_000
    )

    trace = client.get_trace(root.trace_id)
    assert trace.info.experiment_id == exp_id
    assert trace.info.state == "OK"
    assert trace.info.tags["user"] == "ann" and trace.info.tags["mlflow.traceName"] == "agent"
    assert trace.info.request_time == t0 // 1_000_000 and trace.info.execution_duration == 2000
    assert (
        trace.info.request_preview == '{"q": "hi"}' and trace.info.response_preview == '{"answer": "hello"}'
    )
    spans = {s.name: s for s in trace.data.spans}
    assert trace.data.spans[0].name == "agent"
    assert (spans["agent"].parent_id, spans["tool"].parent_id, spans["leaf"].parent_id) == (
        None,
        root.span_id,
        tool.span_id,
    )
    assert spans["agent"].span_type == "CHAIN" and spans["tool"].span_type == "TOOL"
    assert spans["agent"].inputs == {"q": "hi"} and spans["agent"].outputs == {"answer": "hello"}
    assert spans["agent"].attributes["team"] == "ml" and spans["agent"].attributes["extra"] is True
    assert spans["tool"].inputs == {"x": 2} and spans["tool"].outputs == {"y": 4}
    assert spans["tool"].attributes["k"] == 3 and spans["tool"].attributes["factor"] == 2
    assert spans["leaf"].inputs == [1, 2] and spans["leaf"].outputs == 3
    assert spans["leaf"].status.status_code == "ERROR" and spans["tool"].status.status_code == "OK"
    assert spans["agent"].start_time_ns == t0 and spans["tool"].start_time_ns == t0 + 1_000
    assert spans["leaf"].end_time_ns == t0 + 5_000 and spans["agent"].end_time_ns == t0 + 2_000_000_000
    assert {s.trace_id for s in trace.data.spans} == {root.trace_id}


def test_end_trace_with_error_status_and_open_children(client):
    root = client.start_trace("broken")
    client.start_span("never-ended", root.trace_id, root.span_id)
    client.end_trace(root.trace_id, status="ERROR")
    trace = client.get_trace(root.trace_id)
    assert trace.info.state == "ERROR"
    root_span, child = trace.data.spans
    assert root_span.status.status_code == "ERROR"
    assert child.name == "never-ended" and child.end_time_ns is not None
    # UNSET, as MLflow ends forgotten spans (OTLP's UNSET reads back as OK over HTTP, as in MLflow).
    assert child.status.status_code in ("UNSET", "OK") and child.status.description == "Ended with its trace"
    # Ending it again is a clear error, as is ending a trace that never existed.
    with pytest.raises(MltrailException, match="already finished") as err:
        client.end_trace(root.trace_id)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="not found") as err:
        client.end_trace("tr-" + "0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_traces_pages_filters_and_orders(client):
    exp_id = client.create_experiment(f"search-{uuid.uuid4().hex[:8]}")
    ids = [
        _simple_trace(
            client,
            f"t{i}",
            tags={"parity": "even" if i % 2 == 0 else "odd"},
            experiment_id=exp_id,
            start_time_ns=1_700_000_000_000_000_000 + i * 1_000_000_000,
        )
        for i in range(5)
    ]

    first = client.search_traces(locations=[exp_id], max_results=2, order_by=["timestamp_ms ASC"])
    assert [t.info.trace_id for t in first] == ids[:2] and first.token
    assert first[0].data.spans[0].inputs == {"n": "t0"}  # spans come along by default
    second = client.search_traces(
        locations=[exp_id], max_results=2, order_by=["timestamp_ms ASC"], page_token=first.token
    )
    assert [t.info.trace_id for t in second] == ids[2:4] and second.token
    last = client.search_traces(
        locations=[exp_id], max_results=2, order_by=["timestamp_ms ASC"], page_token=second.token
    )
    assert [t.info.trace_id for t in last] == ids[4:] and not last.token

    # experiment_ids (MLflow 2's name), newest first by default, a tag filter, no spans.
    every = client.search_traces(experiment_ids=[exp_id])
    assert [t.info.trace_id for t in every] == ids[::-1] and every.token is None
    odd = client.search_traces([exp_id], filter_string="tags.parity = 'odd'", include_spans=False)
    assert sorted(t.info.trace_id for t in odd) == sorted([ids[1], ids[3]])
    assert all(t.data.spans == [] for t in odd)
    named = client.search_traces(locations=[exp_id], filter_string="trace.name = 't3'")
    assert [t.info.trace_id for t in named] == [ids[3]]
    # Without locations: the active experiment (which holds none of these).
    assert list(client.search_traces()) == []
    with pytest.raises(MltrailException, match="max_results"):
        client.search_traces(locations=[exp_id], max_results=0)
    with pytest.raises(MltrailException, match="list of experiment ids"):
        client.search_traces(locations=exp_id)


def test_traces_started_in_a_run_are_found_by_run_id(client):
    with mlflow.start_run() as run:
        in_run = _simple_trace(client, "in-run")
    outside = _simple_trace(client, "outside")
    exp_id = run.info.experiment_id
    trace = client.get_trace(in_run)
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
    assert trace.info.experiment_id == exp_id
    assert [t.info.trace_id for t in client.search_traces(locations=[exp_id], run_id=run.info.run_id)] == [
        in_run
    ]
    explicit = _simple_trace(client, "explicit", run_id=run.info.run_id)
    found = {t.info.trace_id for t in client.search_traces(locations=[exp_id], run_id=run.info.run_id)}
    assert found == {in_run, explicit} and outside not in found
    with pytest.raises(MltrailException, match="run_id"):
        client.search_traces(
            locations=[exp_id], run_id=run.info.run_id, filter_string="metadata.`mlflow.sourceRun` = 'x'"
        )


def test_tags_on_active_and_stored_traces(client):
    root = client.start_trace("tagged", tags={"a": "1", "b": "2"})
    client.set_trace_tag(root.trace_id, "c", "3")  # while the trace is active
    client.delete_trace_tag(root.trace_id, "a")
    with pytest.raises(MltrailException, match="not found") as err:
        client.delete_trace_tag(root.trace_id, "missing")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.end_trace(root.trace_id)
    tags = client.get_trace(root.trace_id).info.tags
    assert (tags.get("a"), tags["b"], tags["c"]) == (None, "2", "3")

    client.set_trace_tag(root.trace_id, "d", 4)  # on the stored trace; non-strings are stringified
    client.delete_trace_tag(root.trace_id, "b")
    tags = client.get_trace(root.trace_id).info.tags
    assert (tags.get("b"), tags["c"], tags["d"]) == (None, "3", "4")
    with pytest.raises(MltrailException) as err:
        client.delete_trace_tag(root.trace_id, "b")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        client.set_trace_tag("tr-" + "0" * 32, "k", "v")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_traces_by_ids_and_by_age(client):
    exp_id = client.create_experiment(f"delete-{uuid.uuid4().hex[:8]}")
    base = 1_700_000_000_000
    ids = [
        _simple_trace(client, f"d{i}", experiment_id=exp_id, start_time_ns=(base + i * 1000) * 1_000_000)
        for i in range(5)
    ]
    assert client.delete_traces(exp_id, trace_ids=[ids[4]]) == 1
    assert client.delete_traces(exp_id, trace_ids=[]) == 0
    # The two oldest at or before d2's time go first.
    assert client.delete_traces(exp_id, max_timestamp_millis=base + 2000, max_traces=2) == 2
    left = client.search_traces(locations=[exp_id], order_by=["timestamp_ms ASC"])
    assert [t.info.trace_id for t in left] == ids[2:4]
    assert client.delete_traces(exp_id, max_timestamp_millis=int(time.time() * 1000)) == 2
    assert list(client.search_traces(locations=[exp_id])) == []
    with pytest.raises(MltrailException) as err:
        client.get_trace(ids[0])
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="not both"):
        client.delete_traces(exp_id, max_timestamp_millis=base, trace_ids=[ids[2]])


def test_unknown_ids_give_clear_errors(client):
    missing = "tr-" + "f" * 32
    with pytest.raises(MltrailException, match=missing) as err:
        client.get_trace(missing)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    root = client.start_trace("t")
    with pytest.raises(MltrailException, match="Parent span with ID 'nope' not found") as err:
        client.start_span("child", root.trace_id, "nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="explicit parent_id") as err:
        client.start_span("child", root.trace_id, None)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="Span with ID 'nope' not found") as err:
        client.end_span(root.trace_id, "nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.end_trace(root.trace_id)
    with pytest.raises(MltrailException, match="not found"):  # its trace has ended: the span is gone
        client.end_span(root.trace_id, root.span_id)


def test_client_spans_under_fluent_spans_and_not_the_reverse():
    client = MlflowClient()
    with mlflow.start_span("fluent-parent") as parent:
        child = client.start_span(
            "client-child", trace_id=parent.trace_id, parent_id=parent.span_id, inputs={"a": 1}
        )
        client.end_span(parent.trace_id, child.span_id, outputs={"b": 2})
        # A new trace cannot start under an active fluent span.
        with pytest.raises(MltrailException, match="already active") as err:
            client.start_trace("nested")
        assert err.value.error_code == "BAD_REQUEST"
    trace = client.get_trace(parent.trace_id)
    assert [(s.name, s.parent_id) for s in trace.data.spans] == [
        ("fluent-parent", None),
        ("client-child", parent.span_id),
    ]
    assert trace.data.spans[1].outputs == {"b": 2}


def test_client_writes_and_reads_its_own_tracking_uri(tmp_path):
    other = MlflowClient(f"sqlite:///{tmp_path / 'other.db'}")
    exp_id = other.create_experiment("elsewhere")
    trace_id = _simple_trace(other, "remote", experiment_id=exp_id)
    assert other.get_trace(trace_id).info.experiment_id == exp_id
    assert [t.info.trace_id for t in other.search_traces(locations=[exp_id])] == [trace_id]
    # The fluent API (the default ./mltrail.db) knows nothing of it.
    assert mlflow.get_trace(trace_id, silent=True) is None
    # And the fluent functions share the same code: they read the client's traces on its URI.
    mlflow.set_tracking_uri(other.tracking_uri)
    assert mlflow.get_trace(trace_id).data.spans[0].outputs == {"done": "remote"}
    mlflow.set_trace_tag(trace_id, "via", "fluent")
    assert other.get_trace(trace_id).info.tags["via"] == "fluent"


def test_disabled_tracing_gives_no_op_spans():
    client = MlflowClient()
    _manager.set_enabled(False)
    try:
        root = client.start_trace("off")
        assert isinstance(root, NoOpSpan)
        child = client.start_span("child", root.trace_id, root.span_id)
        assert isinstance(child, NoOpSpan)
        client.end_span(root.trace_id, child.span_id)
        client.end_trace(root.trace_id)
    finally:
        _manager.set_enabled(True)
    assert list(client.search_traces()) == []


def test_fluent_search_traces_by_model_id():
    client = MlflowClient()
    root = client.start_trace("for-model")
    _manager.update_trace(root.trace_id, metadata={"mlflow.modelId": "m-123"})
    client.end_trace(root.trace_id)
    _simple_trace(client, "other")
    found = mlflow.search_traces(model_id="m-123", return_type="list")
    assert [t.info.trace_id for t in found] == [root.trace_id]
    assert [t.info.trace_id for t in client.search_traces(model_id="m-123")] == [root.trace_id]


def test_client_default_page_size_is_the_store_default():
    from mltrail.store.traces import SEARCH_TRACES_DEFAULT_MAX_RESULTS
    from mltrail.tracking import _client_traces

    assert _client_traces.SEARCH_TRACES_DEFAULT_MAX_RESULTS == SEARCH_TRACES_DEFAULT_MAX_RESULTS
