"""SqlTraceStore on SQLite, PostgreSQL and MariaDB: write batches, read, search, delete, tags, bad input."""

from __future__ import annotations

import uuid

import pytest

from mltrail.entities.trace import Span, SpanEvent, Trace, TraceData, TraceInfo, dump_json
from mltrail.exceptions import MltrailException
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def stores(request, tmp_path):
    uri = f"sqlite:///{tmp_path / 't.db'}" if request.param == "sqlite" else request.getfixturevalue(
        f"{request.param}_uri")
    tracking = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    exp_id = tracking.create_experiment(f"traces-{uuid.uuid4().hex[:8]}")
    return tracking, SqlTraceStore(uri), exp_id


def _trace(exp_id: str, start_ms: int, duration: int = 5, state: str = "OK", name: str = "root",
           tags: dict | None = None, metadata: dict | None = None) -> Trace:
    trace_id = f"tr-{uuid.uuid4().hex}"
    root_id, child_id = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    ns = start_ms * 1_000_000
    attrs = {"mlflow.traceRequestId": dump_json(trace_id), "mlflow.spanType": dump_json("CHAIN"),
             "mlflow.spanInputs": dump_json({"q": "ü €"}), "mlflow.spanOutputs": dump_json([1, 2.5, None])}
    root = Span(trace_id, root_id, None, name, ns, ns + duration * 1_000_000, state if state != "IN_PROGRESS" else "OK",
                "", attrs, [SpanEvent("exception", ns + 1, {"exception.type": "X"})] if state == "ERROR" else [])
    child = Span(trace_id, child_id, root_id, "llm", ns + 1, ns + 2, "OK", "",
                 {"mlflow.traceRequestId": dump_json(trace_id), "mlflow.spanType": dump_json("LLM")})
    info = TraceInfo(trace_id, exp_id, start_ms, duration, state, dict(metadata or {}),
                     {"mlflow.traceName": name, **(tags or {})}, request_preview='{"q": "ü €"}')
    return Trace(info, TraceData([root, child]))


def test_batch_write_read_and_search(stores):
    _tracking, store, exp = stores
    traces = [_trace(exp, 1000 + i, duration=i, state="ERROR" if i == 2 else "OK", name=f"n{i % 2}",
                     metadata={"mlflow.sourceRun": "run1" if i < 2 else "run2"}, tags={"i": str(i)})
              for i in range(4)]
    store.log_traces(traces)
    got = store.get_trace(traces[2].info.trace_id)
    assert got.info.state == "ERROR" and got.info.execution_duration == 2 and got.info.request_time == 1002
    assert got.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert got.info.tags["mlflow.artifactLocation"].endswith(f"/traces/{got.info.trace_id}/artifacts")
    assert [s.name for s in got.data.spans] == ["n0", "llm"]
    assert got.data.spans[0].inputs == {"q": "ü €"} and got.data.spans[0].outputs == [1, 2.5, None]
    assert got.data.spans[0].events[0].attributes == {"exception.type": "X"}
    assert got.data.spans[1].parent_id == got.data.spans[0].span_id

    def ids(filter_string=None, **kw):
        infos, _ = store.search_traces([exp], filter_string, **kw)
        return [traces.index(next(t for t in traces if t.info.trace_id == i.trace_id)) for i in infos]

    assert ids() == [3, 2, 1, 0]
    assert ids(order_by=["timestamp_ms ASC"]) == [0, 1, 2, 3]
    assert ids(order_by=["execution_time_ms DESC"]) == [3, 2, 1, 0]
    assert ids("attributes.status = 'ERROR'") == [2]
    assert ids("trace.status IN ('OK')") == [3, 1, 0]
    assert ids("attributes.timestamp_ms > 1001 AND attributes.execution_time_ms <= 2") == [2]
    assert ids("metadata.`mlflow.sourceRun` = 'run1'") == [1, 0]
    assert ids("attributes.run_id = 'run2' AND tags.i != '2'") == [3]
    assert ids("tags.`mlflow.traceName` = 'n1'") == [3, 1]
    assert ids("trace.name LIKE 'n%' AND tags.i = '0'") == [0]
    first, token = store.search_traces([exp], max_results=3)
    rest, end = store.search_traces([exp], max_results=3, page_token=token)
    assert len(first) == 3 and len(rest) == 1 and end is None
    assert [t.info.trace_id for t in store.batch_get_traces([traces[1].info.trace_id, "tr-missing"])] == [
        traces[1].info.trace_id]


def test_spans_first_then_info_then_tags_and_deletes(stores):
    _tracking, store, exp = stores
    trace = _trace(exp, 5000)
    store.log_spans(exp, trace.data.spans)  # what the official client sends first
    partial = store.get_trace_info(trace.info.trace_id)
    assert partial.state == "IN_PROGRESS" and partial.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    info = store.start_trace(trace.info)
    assert info.state == "OK" and info.tags["mlflow.traceName"] == "root"
    store.set_trace_tag(trace.info.trace_id, "k", "v")
    assert store.get_trace_info(trace.info.trace_id).tags["k"] == "v"
    store.delete_trace_tag(trace.info.trace_id, "k")
    with pytest.raises(MltrailException) as err:
        store.delete_trace_tag(trace.info.trace_id, "k")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    others = [_trace(exp, 6000 + i) for i in range(3)]
    store.log_traces(others)
    assert store.delete_traces(exp, trace_ids=[others[0].info.trace_id]) == 1
    assert store.delete_traces(exp, max_timestamp_millis=6001, max_traces=1) == 1  # the oldest first
    remaining = {i.trace_id for i in store.search_traces([exp])[0]}
    assert remaining == {others[1].info.trace_id, others[2].info.trace_id}
    with pytest.raises(MltrailException) as err:
        store.get_trace(trace.info.trace_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_input_is_rejected_and_nothing_is_half_written(stores):
    _tracking, store, exp = stores
    good, bad = _trace(exp, 7000), _trace(exp, 7001, state="NOPE")
    with pytest.raises(MltrailException) as err:
        store.log_traces([good, bad])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.search_traces([exp])[0] == []  # the whole batch rolled back
    with pytest.raises(MltrailException) as err:
        store.log_traces([_trace("987654", 1)])
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for kwargs in ({"max_results": 0}, {"max_results": 50001}, {"filter_string": "attributes.x = 1"},
                   {"order_by": ["status SIDEWAYS"]}):
        with pytest.raises(MltrailException) as err:
            store.search_traces([exp], **kwargs)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException):
        store.search_traces(["not-a-number"])
    with pytest.raises(MltrailException):
        store.set_trace_tag(good.info.trace_id, "", "v")


def test_hard_deleting_the_experiment_purges_its_traces(stores):
    tracking, store, exp = stores
    trace = _trace(exp, 9000)
    store.log_traces([trace])
    tracking.delete_experiment(exp)
    tracking.hard_delete_experiment(exp)
    with pytest.raises(MltrailException):
        store.get_trace(trace.info.trace_id)


def test_the_official_clients_run_filter_spelling(stores):
    _tracking, store, exp = stores
    trace = _trace(exp, 100, metadata={"mlflow.sourceRun": "abc"})
    store.log_traces([trace, _trace(exp, 101)])
    # MlflowClient.search_traces(run_id=...) sends `attribute.run_id` (singular prefix).
    infos, _ = store.search_traces([exp], "attribute.run_id = 'abc'", max_results=1000)
    assert [i.trace_id for i in infos] == [trace.info.trace_id]
