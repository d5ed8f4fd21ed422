"""Trace metrics, filter-correlation counts and dataset summaries on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import uuid

from mltrail.entities import Dataset, DatasetInput, InputTag
from mltrail.entities.assessment import AssessmentSource, Feedback
from mltrail.entities.trace import Span, TraceInfo, TraceState
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.trace_metrics import MetricQuery

MS = 1_000_000  # ns per ms


def _trace(traces: SqlTraceStore, exp: str, name: str, start_ms: int, duration: int, state: str) -> str:
    trace_id = "tr-" + uuid.uuid4().hex
    root = Span(trace_id=trace_id, span_id=uuid.uuid4().hex[:16], parent_id=None, name=name,
                start_time_ns=start_ms * MS, end_time_ns=(start_ms + duration) * MS,
                raw_attributes={"mlflow.spanType": json.dumps("CHAIN")})  # fmt: skip
    traces.log_spans(exp, [root])
    traces.start_trace(TraceInfo(trace_id=trace_id, experiment_id=exp, request_time=start_ms,
                                 execution_duration=duration, state=state, tags={"mlflow.traceName": name}))  # fmt: skip
    return trace_id


def test_metrics_correlation_and_dataset_summaries(store, db_uri):
    exp = store.create_experiment(f"metrics-{uuid.uuid4().hex[:6]}")
    traces = SqlTraceStore(db_uri)
    ids = [_trace(traces, exp, "chat", 1_000, 100, TraceState.OK), _trace(traces, exp, "chat", 2_000, 300, "ERROR"),
           _trace(traces, exp, "rag", 3_700_000, 200, TraceState.OK)]  # fmt: skip
    for trace_id, value in zip(ids, (True, False, True), strict=True):
        traces.create_assessment(Feedback(name="ok", value=value, trace_id=trace_id,
                                          source=AssessmentSource("HUMAN", "ann")))  # fmt: skip

    def points(view, metric, aggs, **kw):
        return traces.query_trace_metrics([exp], MetricQuery.build(view, metric, aggs, **kw))

    assert points("TRACES", "trace_count", [("COUNT", None)], dimensions=["trace_name", "trace_status"]) == [
        {"metric_name": "trace_count", "dimensions": {"trace_name": "chat", "trace_status": "ERROR"},
         "values": {"COUNT": 1.0}},
        {"metric_name": "trace_count", "dimensions": {"trace_name": "chat", "trace_status": "OK"},
         "values": {"COUNT": 1.0}},
        {"metric_name": "trace_count", "dimensions": {"trace_name": "rag", "trace_status": "OK"},
         "values": {"COUNT": 1.0}},
    ]  # fmt: skip
    spans = points("SPANS", "latency", [("PERCENTILE", 50.0), ("MAX", None)], dimensions=["span_name"],
                   interval_seconds=3600, start_ms=0, end_ms=10_000_000)  # fmt: skip
    assert [(p["dimensions"], p["values"]) for p in spans] == [
        ({"time_bucket": "1970-01-01T00:00:00+00:00", "span_name": "chat"}, {"P50.0": 200.0, "MAX": 300.0}),
        ({"time_bucket": "1970-01-01T01:00:00+00:00", "span_name": "rag"}, {"P50.0": 200.0, "MAX": 200.0}),
    ]
    judged = points("ASSESSMENTS", "assessment_value", [("AVG", None)], dimensions=["assessment_name"])
    assert judged == [{"metric_name": "assessment_value", "dimensions": {"assessment_name": "ok"},
                       "values": {"AVG": 2 / 3}}]  # fmt: skip
    counts = traces.trace_filter_correlation([exp], "trace.status = 'OK'", "trace.name = 'chat'")
    assert {k: counts[k] for k in ("filter1_count", "filter2_count", "joint_count", "total_count")} == {
        "filter1_count": 2, "filter2_count": 2, "joint_count": 1, "total_count": 3}  # fmt: skip

    run_id = store.create_run(exp, "u", 0, [], "r").info.run_id
    store.log_inputs(run_id, [DatasetInput(Dataset("iris", "d1", "local", "{}"),
                                           [InputTag("mlflow.data.context", "train")])])  # fmt: skip
    assert store.dataset_summaries([exp]) == [{"experiment_id": exp, "name": "iris", "digest": "d1",
                                               "context": "train"}]  # fmt: skip
