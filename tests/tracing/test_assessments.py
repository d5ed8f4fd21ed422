"""Assessments (feedback and expectations) on traces: embedded, over HTTP, and from the official mlflow client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

import mltrail as mlflow
from mltrail import MlflowClient
from mltrail.entities.assessment import AssessmentSource, Expectation, Feedback
from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo, dump_json
from mltrail.exceptions import MltrailException
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=["embedded", "server"])
def where(request) -> str:
    if request.param == "server":
        mlflow.set_tracking_uri(request.getfixturevalue("live_server").url)
    mlflow.set_experiment(f"assess-{uuid.uuid4().hex[:8]}")
    return request.param


def _traced() -> str:
    @mlflow.trace
    def answer(q: str) -> str:
        return "Paris"

    answer("capital of France?")
    return mlflow.get_last_active_trace_id()


def test_log_read_update_delete_feedback_and_expectations(where):
    trace_id = _traced()
    fb = mlflow.log_feedback(
        trace_id=trace_id,
        name="correct",
        value=True,
        rationale="matches the docs",
        source=AssessmentSource("HUMAN", "ann@example.com"),
        metadata={"round": 1},
    )
    assert fb.assessment_id.startswith("a-") and fb.trace_id == trace_id
    assert (fb.name, fb.value, fb.rationale, fb.metadata) == (
        "correct",
        True,
        "matches the docs",
        {"round": "1"},
    )
    assert (fb.source.source_type, fb.source.source_id) == ("HUMAN", "ann@example.com")
    ex = mlflow.log_expectation(trace_id=trace_id, name="expected", value={"city": "Paris", "n": [1, 2]})
    plain = mlflow.log_expectation(trace_id=trace_id, name="short", value="Paris")
    judge = mlflow.log_feedback(
        trace_id=trace_id, name="relevance", value=0.75, source=AssessmentSource("llm_judge", "gpt-4o-mini")
    )
    failed = mlflow.log_feedback(trace_id=trace_id, name="toxicity", error=RuntimeError("judge timed out"))

    # They come back on the trace, as the right types, in logging order.
    stored = mlflow.get_trace(trace_id).info.assessments
    assert [a.assessment_id for a in stored] == [a.assessment_id for a in (fb, ex, plain, judge, failed)]
    assert [type(a) for a in stored] == [Feedback, Expectation, Expectation, Feedback, Feedback]
    assert stored[1].value == {"city": "Paris", "n": [1, 2]} and stored[2].value == "Paris"
    assert stored[1].source.source_type == "HUMAN" and stored[3].source.source_type == "LLM_JUDGE"
    assert stored[3].value == 0.75 and stored[0].create_time_ms == fb.create_time_ms
    assert stored[4].value is None and stored[4].error.error_code == "RuntimeError"
    assert (
        stored[4].error.error_message == "judge timed out" and "RuntimeError" in stored[4].error.stack_trace
    )
    # ...also through search, and in the DataFrame's assessments column.
    (found,) = mlflow.search_traces(return_type="list")
    assert [a.name for a in found.info.assessments] == [
        "correct",
        "expected",
        "short",
        "relevance",
        "toxicity",
    ]

    got = mlflow.get_assessment(trace_id, ex.assessment_id)
    assert isinstance(got, Expectation) and got.value == {"city": "Paris", "n": [1, 2]}

    updated = mlflow.update_assessment(
        trace_id,
        fb.assessment_id,
        Feedback(name="correct-v2", value=False, rationale="wrong city", metadata={"reviewer": "bob"}),
    )
    assert (updated.name, updated.value, updated.rationale) == ("correct-v2", False, "wrong city")
    assert updated.metadata == {"round": "1", "reviewer": "bob"}  # merged
    assert updated.source.source_id == "ann@example.com"  # the source never changes
    assert updated.last_update_time_ms >= fb.last_update_time_ms
    assert mlflow.get_assessment(trace_id, fb.assessment_id).value is False
    new_ex = mlflow.update_assessment(
        trace_id, plain.assessment_id, Expectation(name="short", value=["Paris"])
    )
    assert new_ex.value == ["Paris"]
    with pytest.raises(MltrailException, match="Feedback assessment") as err:
        mlflow.update_assessment(trace_id, fb.assessment_id, Expectation(name="x", value=1))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"

    mlflow.delete_assessment(trace_id, judge.assessment_id)
    mlflow.delete_assessment(trace_id, judge.assessment_id)  # already gone: nothing to do
    with pytest.raises(MltrailException, match="not found") as err:
        mlflow.get_assessment(trace_id, judge.assessment_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert len(mlflow.get_trace(trace_id).info.assessments) == 4


def test_override_feedback_keeps_the_original_marked_invalid(where):
    trace_id = _traced()
    original = mlflow.log_feedback(
        trace_id=trace_id, name="quality", value=2, source=AssessmentSource("CODE", "x")
    )
    new = mlflow.override_feedback(
        trace_id=trace_id,
        assessment_id=original.assessment_id,
        value=5,
        rationale="human review",
        source=AssessmentSource("HUMAN", "ann"),
    )
    assert new.overrides == original.assessment_id and new.name == "quality"
    by_id = {a.assessment_id: a for a in mlflow.get_trace(trace_id).info.assessments}
    assert by_id[original.assessment_id].valid is False and by_id[new.assessment_id].valid is True
    # Deleting the override brings the original back.
    mlflow.delete_assessment(trace_id, new.assessment_id)
    assert mlflow.get_assessment(trace_id, original.assessment_id).valid is True
    expectation = mlflow.log_expectation(trace_id=trace_id, name="e", value=1)
    with pytest.raises(MltrailException, match="not a feedback"):
        mlflow.override_feedback(trace_id=trace_id, assessment_id=expectation.assessment_id, value=2)


def test_feedback_logged_inside_a_running_trace_is_stored_with_it(where):
    @mlflow.trace
    def agent() -> str:
        span = mlflow.get_current_active_span()
        mlflow.log_feedback(trace_id=span.trace_id, name="self-check", value="pass", span_id=span.span_id)
        return "done"

    agent()
    (assessment,) = mlflow.get_trace(mlflow.get_last_active_trace_id()).info.assessments
    assert (assessment.name, assessment.value) == ("self-check", "pass")
    assert assessment.span_id == mlflow.get_trace(mlflow.get_last_active_trace_id()).data.spans[0].span_id
    # Stored under the id it was given while the trace ran: get_assessment finds it.
    assert mlflow.get_assessment(assessment.trace_id, assessment.assessment_id).value == "pass"


def test_errors_and_trace_deletion(where):
    missing = "tr-" + "0" * 32
    with pytest.raises(MltrailException, match=missing) as err:
        mlflow.log_feedback(trace_id=missing, name="x", value=1)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        mlflow.get_assessment(missing, "a-1")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="needs a value"):
        mlflow.log_expectation(trace_id=missing, name="x", value=None)
    with pytest.raises(MltrailException, match="source type"):
        AssessmentSource("ROBOT")
    with pytest.raises(MltrailException, match="JSON"):
        Feedback(name="x", value=object())

    trace_id = _traced()
    mlflow.log_feedback(trace_id=trace_id, name="x", value=1)
    exp_id = mlflow.get_trace(trace_id).info.experiment_id
    assert MlflowClient().delete_traces(exp_id, trace_ids=[trace_id]) == 1  # its assessments go with it
    assert mlflow.get_trace(trace_id, silent=True) is None


def test_assessments_survive_trace_json_round_trip():
    trace_id = _traced()
    mlflow.log_feedback(trace_id=trace_id, name="score", value={"a": 1})
    trace = mlflow.get_trace(trace_id)
    payload = json.loads(trace.to_json())
    (wire,) = payload["info"]["assessments"]
    assert wire["assessment_name"] == "score" and wire["feedback"] == {"value": {"a": 1}}
    assert wire["source"] == {"source_type": "CODE", "source_id": "default"}


_OFFICIAL = r"""
import json, os
import mlflow
from mlflow.entities import AssessmentSource, Feedback

mlflow.set_experiment(os.environ["EXP"])
with mlflow.start_span("official") as span:
    span.set_inputs({"q": "hi"})
    mlflow.log_feedback(trace_id=span.trace_id, name="live", value="while running")
tid = span.trace_id
mlflow.flush_trace_async_logging()
fb = mlflow.log_feedback(trace_id=tid, name="helpful", value=True, rationale="good",
                         source=AssessmentSource(source_type="HUMAN", source_id="ann"))
ex = mlflow.log_expectation(trace_id=tid, name="expected", value={"answer": [1, 2]})
upd = mlflow.update_assessment(tid, fb.assessment_id, Feedback(name="helpful", value=False, rationale="meh"))
got = mlflow.get_assessment(tid, ex.assessment_id)
tmp = mlflow.log_feedback(trace_id=tid, name="tmp", value=0.1)
mlflow.delete_assessment(tid, tmp.assessment_id)
trace = mlflow.get_trace(tid)
theirs = mlflow.get_trace(os.environ["OURS"])
print(json.dumps({
    "tid": tid,
    "ids": [fb.assessment_id, ex.assessment_id],
    "upd": [upd.name, upd.value, upd.rationale, upd.source.source_type],
    "got": [type(got).__name__, got.value],
    "on_trace": sorted([a.name, a.value] for a in trace.info.assessments),
    "ours": [[type(a).__name__, a.name, a.value, a.rationale, a.source.source_id] for a in theirs.info.assessments],
}))
"""


def test_official_mlflow_client_logs_feedback_against_mltrail_server(live_server):
    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment(f"ours-{uuid.uuid4().hex[:6]}")
    ours = _traced()
    mlflow.log_feedback(
        trace_id=ours, name="ours", value=3, rationale="why", source=AssessmentSource("LLM_JUDGE", "judge-1")
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=live_server.url, EXP=f"official-{uuid.uuid4().hex[:6]}", OURS=ours)
    proc = subprocess.run(
        [sys.executable, "-c", _OFFICIAL], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["upd"] == ["helpful", False, "meh", "HUMAN"]
    assert out["got"] == ["Expectation", {"answer": [1, 2]}]
    assert out["on_trace"] == [
        ["expected", {"answer": [1, 2]}],
        ["helpful", False],
        ["live", "while running"],
    ]
    assert out["ours"] == [["Feedback", "ours", 3, "why", "judge-1"]]

    # ...and the official client's assessments read back through mltrail's SDK.
    stored = {a.assessment_id: a for a in mlflow.get_trace(out["tid"]).info.assessments}
    assert set(out["ids"]) < set(stored) and len(stored) == 3
    fb = stored[out["ids"][0]]
    assert (fb.name, fb.value, fb.rationale, fb.source.source_id) == ("helpful", False, "meh", "ann")


@pytest.fixture(params=SQL_BACKENDS)
def sql_store(request, tmp_path):
    uri = (
        f"sqlite:///{tmp_path / 'a.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue(f"{request.param}_uri")
    )
    exp_id = SqlTrackingStore(uri, str(tmp_path / "artifacts")).create_experiment(f"a-{uuid.uuid4().hex[:8]}")
    return SqlTraceStore(uri), exp_id


def _stored_trace(store: SqlTraceStore, exp_id: str, assessments: list | None = None) -> str:
    trace_id = f"tr-{uuid.uuid4().hex}"
    span = Span(
        trace_id,
        uuid.uuid4().hex[:16],
        None,
        "root",
        1_700_000_000_000_000_000,
        1_700_000_000_500_000_000,
        "OK",
        "",
        {"mlflow.traceRequestId": dump_json(trace_id)},
    )
    info = TraceInfo(trace_id, exp_id, 1_700_000_000_000, 500, "OK", assessments=list(assessments or []))
    store.log_traces([Trace(info, TraceData([span]))])
    return trace_id


def test_sql_store_assessments_on_every_backend(sql_store):
    store, exp_id = sql_store
    early = Feedback(name="logged-while-running", value="ü €", metadata={"k": "v"})
    early.assessment_id = f"a-{uuid.uuid4().hex}"
    trace_id = _stored_trace(store, exp_id, [early])
    # The exporter stores what a running trace carried, once (a second write changes nothing).
    store.start_trace(store.get_trace_info(trace_id))
    (kept,) = store.get_trace_info(trace_id).assessments
    assert (kept.assessment_id, kept.value, kept.metadata) == (early.assessment_id, "ü €", {"k": "v"})

    fb = store.create_assessment(Feedback(name="score", value=0.5, trace_id=trace_id))
    ex = store.create_assessment(Expectation(name="truth", value={"x": [1, None]}, trace_id=trace_id))
    over = store.create_assessment(
        Feedback(name="score", value=1.0, trace_id=trace_id, overrides=fb.assessment_id)
    )
    assert store.get_assessment(trace_id, fb.assessment_id).valid is False
    updated = store.update_assessment(
        trace_id,
        ex.assessment_id,
        name="truth-2",
        expectation=Expectation(name="truth-2", value=7).expectation,
        metadata={"m": "1"},
    )
    assert (updated.name, updated.value, updated.metadata) == ("truth-2", 7, {"m": "1"})
    (trace,) = store.batch_get_traces([trace_id])
    assert [a.name for a in trace.info.assessments] == ["logged-while-running", "score", "truth-2", "score"]
    store.delete_assessment(trace_id, over.assessment_id)
    assert store.get_assessment(trace_id, fb.assessment_id).valid is True
    with pytest.raises(MltrailException, match="Assessment with ID 'a-nope' not found") as err:
        store.get_assessment(trace_id, "a-nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException, match="to override"):
        store.create_assessment(Feedback(name="s", value=1, trace_id=trace_id, overrides="a-nope"))
    assert store.delete_traces(exp_id, max_timestamp_millis=2_000_000_000_000) == 1
    with pytest.raises(MltrailException, match="Trace with ID"):
        store.get_assessment(trace_id, fb.assessment_id)


def test_a_trace_read_back_from_its_dict_or_json_keeps_typed_assessments(where):
    trace_id = _traced()
    mlflow.log_feedback(trace_id=trace_id, name="helpful", value=4, rationale="clear")
    mlflow.log_expectation(trace_id=trace_id, name="answer", value="Paris")
    trace = mlflow.get_trace(trace_id)
    for again in (Trace.from_dict(trace.to_dict()), Trace.from_json(trace.to_json())):
        feedback, expectation = again.info.assessments
        assert isinstance(feedback, Feedback) and isinstance(expectation, Expectation)
        assert (feedback.name, feedback.value, feedback.rationale) == ("helpful", 4, "clear")
        assert (expectation.name, expectation.value) == ("answer", "Paris")
        assert feedback.trace_id == trace_id
        assert again.to_dict() == trace.to_dict()
