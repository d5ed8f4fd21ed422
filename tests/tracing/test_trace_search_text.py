"""search_traces' MLflow 3.17 grammar on SQLite, PostgreSQL and MariaDB: full text, span fields,
OR and parentheses, session/user/tokens/cost, sorting, keyset paging, totals and sessions; and the
official mlflow client's ``search_traces(filter_string="trace.text LIKE ...")`` against mltrail server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo, dump_json
from mltrail.exceptions import MltrailException
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS

_USAGE = "mlflow.chat.tokenUsage"


def _trace(
    exp: str,
    i: int,
    text: str,
    session: str | None,
    user: str | None,
    tokens: int | None,
    model: str = "gpt-4o-mini",
    status: str = "OK",
) -> Trace:
    trace_id = f"tr-{uuid.uuid4().hex}"
    root_id, llm_id = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    ns = (1_000 + i) * 1_000_000
    rid = dump_json(trace_id)
    root = Span(
        trace_id,
        root_id,
        None,
        f"agent{i % 2}",
        ns,
        ns + 5_000_000,
        status,
        "",
        {
            "mlflow.traceRequestId": rid,
            "mlflow.spanType": dump_json("AGENT"),
            "mlflow.spanInputs": dump_json({"question": f"Question {i}"}),
            "mlflow.spanOutputs": dump_json(text),
        },
    )
    llm_attrs = {
        "mlflow.traceRequestId": rid,
        "mlflow.spanType": dump_json("CHAT_MODEL"),
        "mlflow.llm.model": dump_json(model),
        "temperature": dump_json(0.1 * i),
    }
    if tokens is not None:
        llm_attrs[_USAGE] = dump_json(
            {"input_tokens": tokens, "output_tokens": tokens // 2, "total_tokens": tokens + tokens // 2}
        )
    llm = Span(trace_id, llm_id, root_id, "chat", ns + 1, ns + 4_000_000, "OK", "", llm_attrs)
    meta = {}
    if session:
        meta["mlflow.trace.session"] = session
    if user:
        meta["mlflow.trace.user"] = user
    info = TraceInfo(trace_id, exp, 1_000 + i, 5, status, meta, {"mlflow.traceName": f"agent{i % 2}"})
    return Trace(info, TraceData([root, llm]))


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def seeded(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    uri = (
        f"sqlite:///{tmp / 't.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue(f"{request.param}_uri")
    )
    tracking = SqlTrackingStore(uri, str(tmp / "artifacts"))
    exp = tracking.create_experiment(f"search-{uuid.uuid4().hex[:8]}")
    store = SqlTraceStore(uri)
    texts = [
        "The refund was approved",
        "No REFUND possible",
        "Shipping takes 3 days",
        "Order 50% off",
        "Ask again",
        "done",
    ]
    traces = [
        _trace(exp, 0, texts[0], "s1", "ana", 1000),
        _trace(exp, 1, texts[1], "s1", "ana", 3000, status="ERROR"),
        _trace(exp, 2, texts[2], "s2", "bob", 200, model="claude-3-5-haiku-20241022"),
        _trace(exp, 3, texts[3], "s2", "bob", None),
        _trace(exp, 4, texts[4], None, None, 10, model="my-own-model"),
        _trace(exp, 5, texts[5], "s3", "ana", 40_000, model="gpt-4o"),
    ]
    # The info of every trace goes without usage: the store totals it from the spans (as for the official client).
    store.log_traces(traces)
    return store, exp, [t.info.trace_id for t in traces]


def _ids(seeded, filter_string=None, **kw) -> list[int]:
    store, exp, ids = seeded
    infos, _ = store.search_traces([exp], filter_string, **kw)
    return [ids.index(i.trace_id) for i in infos]


def test_full_text_over_inputs_outputs_and_attributes(seeded):
    assert _ids(seeded, "trace.text LIKE '%refund%'") == [0]
    assert _ids(seeded, "trace.text ILIKE '%refund%'") == [1, 0]
    assert _ids(seeded, "span.content ILIKE '%question 4%'") == [4]  # inputs
    assert _ids(seeded, "trace.text LIKE '%claude-3-5-haiku%'") == [2]  # an attribute value
    assert _ids(seeded, r"trace.text LIKE '%50\%%'") in ([3], [])  # escaping is the database's LIKE
    assert _ids(seeded, "trace.text LIKE '%nothing like this%'") == []


def test_span_fields_or_and_parentheses(seeded):
    assert _ids(seeded, "span.name = 'chat' AND span.type = 'CHAT_MODEL'") == [5, 4, 3, 2, 1, 0]
    assert _ids(seeded, "span.status = 'ERROR'") == [1]
    assert _ids(seeded, "span.attributes.`mlflow.llm.model` = 'gpt-4o'") == [5]
    assert _ids(seeded, "span.attributes.mlflow.llm.model LIKE 'gpt-4o%'") == [5, 3, 1, 0]
    assert _ids(seeded, "span.attributes.`mlflow.llm.model` IN ('gpt-4o', 'my-own-model')") == [5, 4]
    assert _ids(seeded, "trace.name = 'agent1' OR trace.text ILIKE '%refund%'") == [5, 3, 1, 0]
    assert _ids(seeded, "(trace.status = 'ERROR' OR trace.session = 's2') AND trace.user != 'bob'") == [1]
    assert _ids(seeded, "trace.session IS NULL") == [4]


def test_session_user_tokens_and_cost(seeded):
    store, exp, ids = seeded
    assert _ids(seeded, "trace.session = 's1'") == [1, 0]
    assert _ids(seeded, "metadata.`mlflow.trace.user` = 'bob'") == [3, 2]
    assert _ids(seeded, "trace.total_tokens > 1500") == [5, 1]
    assert _ids(seeded, "trace.input_tokens <= 200") == [4, 2]
    # gpt-4o-mini: 1000 in x 0.15 + 500 out x 0.60 per 1M = 0.00045 USD; my-own-model has no price.
    info = store.get_trace_info(ids[0])
    assert info.token_usage == {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    assert info.cost == pytest.approx({"input_cost": 0.00015, "output_cost": 0.0003, "total_cost": 0.00045})
    assert store.get_trace_info(ids[4]).cost is None and store.get_trace_info(ids[3]).token_usage is None
    assert store.get_trace(ids[0]).data.spans[1].get_attribute("mlflow.llm.cost")[
        "total_cost"
    ] == pytest.approx(0.00045)
    assert _ids(seeded, "trace.cost > 0.001") == [5, 1]
    # claude-3-5-haiku: 200 x 0.80 + 100 x 4.00 per 1M = 0.00056 USD; traces without a cost sort last.
    by_cost = _ids(seeded, order_by=["cost DESC"])
    assert by_cost[:4] == [5, 1, 2, 0] and set(by_cost[4:]) == {3, 4}
    assert _ids(seeded, order_by=["total_tokens ASC"], filter_string="trace.total_tokens > 0") == [
        4,
        2,
        0,
        1,
        5,
    ]
    assert _ids(seeded, order_by=["session ASC", "timestamp_ms ASC"]) == [0, 1, 2, 3, 5, 4]
    totals = store.trace_totals([exp])
    assert totals["trace_count"] == 6 and totals["total_tokens"] == 1500 + 4500 + 300 + 15 + 60_000
    run_like = store.trace_totals([exp], "trace.session = 's1'")
    assert run_like["trace_count"] == 2 and run_like["input_tokens"] == 4000
    assert run_like["total_cost"] == pytest.approx(0.00045 * 4)
    sessions, token = store.session_summaries([exp])
    assert token is None
    assert [(s["session_id"], s["trace_count"], s["user"], s["error_count"]) for s in sessions] == [
        ("s3", 1, "ana", 0),
        ("s2", 2, "bob", 0),
        ("s1", 2, "ana", 1),
    ]
    assert sessions[2]["total_tokens"] == 6000
    page, token = store.session_summaries([exp], max_results=2)
    rest, end = store.session_summaries([exp], max_results=2, page_token=token)
    assert [s["session_id"] for s in page + rest] == ["s3", "s2", "s1"] and end is None


def test_keyset_paging_never_repeats_or_skips(seeded):
    store, exp, ids = seeded
    seen, token = [], None
    while True:
        infos, token = store.search_traces([exp], None, 4, None, token)
        seen += [i.trace_id for i in infos]
        if not token:
            break
    assert seen == ids[::-1]
    seen, token = [], None
    while True:
        infos, token = store.search_traces([exp], "trace.user = 'ana'", 1, ["timestamp_ms ASC"], token)
        seen += [ids.index(i.trace_id) for i in infos]
        if not token:
            break
    assert seen == [0, 1, 5]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("trace.text = 'x'", "comparator '='"),
        ("trace.nonsense = 'x'", "unknown trace attribute 'nonsense'"),
        ("span.color = 'red'", "unknown span field"),
        ("trace.text RLIKE 'x'", "RLIKE is not supported"),
        ("trace.cost > 'cheap'", "expected a number"),
        ("(trace.status = 'OK'", "expected ')'"),
        ("trace.status = 'OK' OR", "expected a field"),
        ("foo.bar = 'x'", "unknown entity 'foo'"),
    ],
)
def test_bad_filters_are_invalid_parameter_value(seeded, bad, says):
    store, exp, _ = seeded
    with pytest.raises(MltrailException) as err:
        store.search_traces([exp], bad)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and says in err.value.message


_OFFICIAL = r"""
import json, os
import mlflow
from mlflow.tracing.constant import SpanAttributeKey
mlflow.set_experiment(os.environ["EXP"])

@mlflow.trace(span_type="AGENT")
def ask(q, session, user):
    mlflow.update_current_trace(session_id=session, user=user)
    with mlflow.start_span("chat", span_type="CHAT_MODEL") as span:
        span.set_inputs({"messages": [{"role": "user", "content": q}]})
        span.set_attribute(SpanAttributeKey.MODEL, "gpt-4o-mini")
        span.set_attribute(SpanAttributeKey.CHAT_USAGE, {"input_tokens": 2000, "output_tokens": 1000,
                                                          "total_tokens": 3000})
        span.set_outputs("The needle is in the haystack" if "needle" in q else "nothing")
    return "ok"

ask("where is the needle?", "conv-1", "ana")
ask("hello", "conv-1", "ana")
ask("bye", "conv-2", "bob")
mlflow.flush_trace_async_logging()

def names(f):
    return sorted(t.info.trace_id for t in mlflow.search_traces(filter_string=f, return_type="list"))

found = mlflow.search_traces(filter_string="trace.text LIKE '%needle%'", return_type="list")
print(json.dumps({
    "like": len(found),
    "like_q": found[0].data.spans[0].inputs if found else None,
    "ilike": len(names("trace.text ILIKE '%NEEDLE%'")),
    "span": len(names("span.name = 'chat' AND span.type = 'CHAT_MODEL'")),
    "session": len(names("metadata.`mlflow.trace.session` = 'conv-1'")),
    "user": len(names("metadata.`mlflow.trace.user` = 'bob'")),
    "usage": found[0].info.token_usage if found else None,
    "cost": found[0].info.cost if found else None,
}))
"""


def test_official_client_full_text_search_against_mltrail_server(live_server):
    exp = f"official-text-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(MLFLOW_TRACKING_URI=live_server.url, EXP=exp)
    proc = subprocess.run(
        [sys.executable, "-c", _OFFICIAL], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["like"] == 1 and out["like_q"] == {
        "q": "where is the needle?",
        "session": "conv-1",
        "user": "ana",
    }
    assert (out["ilike"], out["span"], out["session"], out["user"]) == (1, 3, 2, 1)
    assert out["usage"] == {"input_tokens": 2000, "output_tokens": 1000, "total_tokens": 3000}
    # Priced by mltrail server from its table, as MLflow's server prices spans when it stores them.
    assert out["cost"] == pytest.approx({"input_cost": 0.0003, "output_cost": 0.0006, "total_cost": 0.0009})
