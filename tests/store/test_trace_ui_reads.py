"""The trace page's store reads (store/sql/trace_ui_reads.py) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import uuid

from mltrail.entities.assessment import AssessmentSource, Feedback
from mltrail.entities.trace import Span, TraceInfo, TraceState
from mltrail.store.sql.traces import SqlTraceStore


def _span(trace_id: str, name: str, start: int, end: int | None, parent: str | None = None) -> Span:
    return Span(trace_id=trace_id, span_id=uuid.uuid4().hex[:16], parent_id=parent, name=name,
                start_time_ns=start, end_time_ns=end, raw_attributes={"mlflow.spanInputs": json.dumps({"n": name})})


def test_span_documents_marks_and_probes_follow_a_growing_trace(store, db_uri):
    exp = store.create_experiment(f"ui-reads-{uuid.uuid4().hex[:6]}")
    other = store.create_experiment(f"ui-reads-other-{uuid.uuid4().hex[:6]}")
    traces = SqlTraceStore(db_uri)
    trace_id = "tr-" + uuid.uuid4().hex
    root = _span(trace_id, "root", 1_000, None)
    child = _span(trace_id, "child", 2_000, 3_000, root.span_id)
    assert traces.trace_probe(trace_id) is None
    list_probe = traces.experiment_traces_probe([exp])
    traces.log_spans(exp, [child])

    probe = traces.trace_probe(trace_id)
    assert probe is not None and probe[0] == TraceState.IN_PROGRESS
    assert traces.experiment_traces_probe([exp]) != list_probe
    assert traces.experiment_traces_probe([other])[0] == 0
    docs = traces.span_documents(trace_id)
    assert [json.loads(d)["name"] for d in docs] == ["child"]
    assert json.loads(docs[0])["attributes"]["mlflow.spanInputs"] == json.dumps({"n": "child"})
    marks = traces.span_marks(trace_id)
    assert marks == {child.span_id: (3_000, "OK")}

    traces.log_spans(exp, [root])  # the root arrives later: the probe moves, only it is new
    assert traces.trace_probe(trace_id) != probe
    new = [sid for sid, mark in traces.span_marks(trace_id).items() if marks.get(sid) != mark]
    assert new == [root.span_id]
    assert [json.loads(d)["name"] for d in traces.span_documents(trace_id, new)] == ["root"]
    assert [json.loads(d)["name"] for d in traces.span_documents(trace_id)] == ["root", "child"]  # by start time

    probe = traces.trace_probe(trace_id)
    traces.start_trace(TraceInfo(trace_id=trace_id, experiment_id=exp, request_time=1, execution_duration=5,
                                 state=TraceState.OK))
    finished = traces.trace_probe(trace_id)
    assert finished != probe and finished[0] == TraceState.OK
    traces.create_assessment(Feedback(name="ok", value=True, trace_id=trace_id,
                                      source=AssessmentSource("HUMAN", "alice")))
    assert traces.trace_probe(trace_id) != finished
