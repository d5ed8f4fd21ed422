"""Token usage and cost: MLflow's keys per span and per trace, from the SDK, the OpenAI autologger and OTLP
GenAI spans; the shipped price table, its overrides, and totals per run, session and experiment over HTTP."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

import mltrail as mlflow
from mltrail.entities import prices
from mltrail.entities.trace import SpanAttributeKey as K
from mltrail.entities.trace_usage import cost_total, otel_usage, usage_total
from mltrail.exceptions import MltrailException

_MINI = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}


@pytest.fixture(autouse=True)
def shipped_prices(monkeypatch):
    monkeypatch.delenv("MLTRAIL_PRICES_FILE", raising=False)
    prices.reset_prices()
    yield
    prices.reset_prices()


def _last():
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None
    return trace


def test_price_lookup_cached_tokens_and_overrides(tmp_path, monkeypatch):
    assert prices.model_price("gpt-4o-mini-2024-07-18") == prices.model_price("gpt-4o-mini")  # dated version
    assert prices.model_price("openai/gpt-4o")["output"] == 10.0  # provider prefix
    assert prices.model_price("GPT-4o")["input"] == 2.5 and prices.model_price("no-such-model") is None
    # 1,000 input tokens of which 400 read from the cache at half price, 100 output tokens.
    cost = prices.span_cost(
        "gpt-4o", {"input_tokens": 1000, "output_tokens": 100, "cache_read_input_tokens": 400}
    )
    assert cost == pytest.approx(
        {
            "input_cost": (600 * 2.5 + 400 * 1.25) / 1e6,
            "output_cost": 0.001,
            "total_cost": (600 * 2.5 + 400 * 1.25) / 1e6 + 0.001,
        }
    )
    assert prices.span_cost("gpt-4o", {"input_tokens": 0, "output_tokens": 0}) is None

    mlflow.tracing.set_prices(
        {"gpt-4o": {"input": 1.0, "output": 1.0}, "house-llm": {"input": 10, "output": 20}}
    )
    assert prices.span_cost("house-llm", _MINI) == pytest.approx(
        {"input_cost": 0.01, "output_cost": 0.01, "total_cost": 0.02}
    )
    assert prices.model_price("gpt-4o") == {"input": 1.0, "output": 1.0}
    mlflow.tracing.reset_prices()
    assert prices.model_price("house-llm") is None

    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"house-llm": {"input": 1, "output": 2, "cached_input": 0.5}}}))
    monkeypatch.setenv("MLTRAIL_PRICES_FILE", str(path))
    assert prices.model_price("house-llm") == {"input": 1.0, "output": 2.0, "cached_input": 0.5}
    assert prices.model_price("gpt-4o")["input"] == 2.5  # merged over the shipped table
    with pytest.raises(ValueError, match="must be a non-negative number"):
        mlflow.tracing.set_prices({"bad": {"input": -1}})
    with pytest.raises(ValueError, match="needs at least an 'input' or 'output' price"):
        mlflow.tracing.set_prices({"bad": {"cached_input": 1}})


def test_trace_totals_skip_spans_under_a_span_that_already_counts():
    nodes = [
        ("agent", None, {"input_tokens": 30, "output_tokens": 3, "total_tokens": 33}),
        ("llm1", "agent", {"input_tokens": 10, "output_tokens": 1, "total_tokens": 11}),
        ("tool", None, None),
        (
            "llm2",
            "tool",
            {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10, "cache_read_input_tokens": 2},
        ),
    ]
    assert usage_total(nodes) == {
        "input_tokens": 35,
        "output_tokens": 8,
        "total_tokens": 43,
        "cache_read_input_tokens": 2,
    }
    assert usage_total([("a", None, None)]) is None
    assert cost_total(
        [
            ("a", None, {"total_cost": 0.5, "input_cost": 0.2, "output_cost": 0.3}),
            ("b", None, {"total_cost": 0.25}),
        ]
    ) == {"input_cost": 0.2, "output_cost": 0.3, "total_cost": 0.75}
    assert otel_usage({"gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": "3"}) == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
    }
    assert otel_usage({"gen_ai.request.model": "x"}) is None


def test_sdk_prices_spans_and_totals_the_trace_with_session_and_user(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'sdk.db'}")

    @mlflow.trace(span_type="AGENT")
    def agent(question):
        mlflow.update_current_trace(session_id="chat-1", user="ana@example.com")
        for model in ("gpt-4o-mini", "unpriced-model"):
            with mlflow.start_span("llm", span_type="CHAT_MODEL") as span:
                span.set_attribute(K.MODEL, model)
                span.set_attribute(K.CHAT_USAGE, _MINI)
        with mlflow.start_span("otel", span_type="LLM") as span:  # OTel GenAI attributes set by hand
            span.set_attributes(
                {
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 10,
                    "session.id": "ignored: metadata wins",
                }
            )
        return "ok"

    agent("hi")
    mlflow.flush_trace_async_logging()
    trace = _last()
    info = trace.info
    assert info.token_usage == {"input_tokens": 2100, "output_tokens": 1010, "total_tokens": 3110}
    mini, gpt4o = 0.00045, (100 * 2.5 + 10 * 10.0) / 1e6
    assert info.cost["total_cost"] == pytest.approx(mini + gpt4o)
    assert json.loads(info.trace_metadata["mlflow.trace.cost"])["input_cost"] == pytest.approx(
        0.00015 + 0.00025
    )
    assert (info.session_id, info.user) == ("chat-1", "ana@example.com")
    spans = {s.get_attribute(K.MODEL): s for s in trace.data.spans if s.get_attribute(K.MODEL)}
    assert spans["gpt-4o-mini"].get_attribute(K.LLM_COST)["total_cost"] == pytest.approx(mini)
    assert spans["unpriced-model"].get_attribute(K.LLM_COST) is None
    assert spans["gpt-4o"].get_attribute(K.CHAT_USAGE) == {
        "input_tokens": 100,
        "output_tokens": 10,
        "total_tokens": 110,
    }
    totals = mlflow.tracing.get_trace_totals(
        filter_string="trace.session = 'chat-1' OR trace.user = 'nobody'"
    )
    assert (totals["trace_count"], totals["total_tokens"]) == (1, 3110)
    assert totals["total_cost"] == pytest.approx(mini + gpt4o)
    sessions, token = mlflow.tracing.search_sessions()
    assert token is None
    assert [(s["session_id"], s["user"], s["trace_count"]) for s in sessions] == [
        ("chat-1", "ana@example.com", 1)
    ]
    found = mlflow.search_traces(
        filter_string="trace.session = 'chat-1' AND trace.cost > 0.0005", return_type="list"
    )
    assert [t.info.trace_id for t in found] == [info.trace_id]


def test_openai_autolog_records_usage_and_cost(tmp_path, openai_server):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'openai.db'}")
    mlflow.openai.autolog()
    import openai

    openai.OpenAI().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three four"}]
    )
    mlflow.flush_trace_async_logging()
    trace = _last()
    chat = trace.data.spans[0]
    usage = chat.get_attribute(K.CHAT_USAGE)
    assert (
        usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    assert trace.info.token_usage == usage
    expected = (usage["input_tokens"] * 0.15 + usage["output_tokens"] * 0.6) / 1e6
    assert chat.get_attribute(K.LLM_COST)["total_cost"] == pytest.approx(expected)
    assert trace.info.cost["total_cost"] == pytest.approx(expected)
    from mltrail.openai._autolog import _usage

    assert (
        _usage(
            {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 8},
            }
        )["cache_read_input_tokens"]
        == 8
    )


def _otlp_span(trace_hex: str, span_hex: str, parent: str | None, name: str, attrs: dict) -> dict:
    def value(v):
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}

    d = {
        "traceId": trace_hex,
        "spanId": span_hex,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "status": {"code": 1},
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
    }
    if parent:
        d["parentSpanId"] = parent
    return d


def test_otlp_genai_spans_are_priced_and_totalled_by_the_server(live_server):
    exp = httpx.post(
        f"{live_server.url}/api/2.0/mlflow/experiments/create",
        json={"name": f"otlp-cost-{uuid.uuid4().hex[:6]}"},
    ).json()["experiment_id"]
    traces = []
    for _n, (session, user, tokens) in enumerate(
        [("conv-a", "ana", 1000), ("conv-a", "ana", 3000), ("conv-b", "bob", 500)]
    ):
        trace_hex, root, child = uuid.uuid4().hex, uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
        spans = [
            _otlp_span(trace_hex, root, None, "invoke_agent", {"session.id": session, "user.id": user}),
            _otlp_span(
                trace_hex,
                child,
                root,
                "chat gpt-4o-mini",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": tokens,
                    "gen_ai.usage.output_tokens": tokens // 2,
                },
            ),
        ]
        body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
        r = httpx.post(f"{live_server.url}/v1/traces", json=body, headers={"x-mlflow-experiment-id": exp})
        assert r.status_code == 200, r.text
        traces.append(f"tr-{trace_hex}")
    info = httpx.get(f"{live_server.url}/api/3.0/mlflow/traces/{traces[0]}").json()["trace"]["trace_info"]
    meta = info["trace_metadata"]
    assert json.loads(meta["mlflow.trace.tokenUsage"]) == {
        "input_tokens": 1000,
        "output_tokens": 500,
        "total_tokens": 1500,
    }
    assert json.loads(meta["mlflow.trace.cost"])["total_cost"] == pytest.approx(0.00045)
    assert (meta["mlflow.trace.session"], meta["mlflow.trace.user"]) == ("conv-a", "ana")

    ui = f"{live_server.url}/ajax-api/mltrail/experiments/traces"
    totals = httpx.get(f"{ui}/totals", params={"experiment_ids": exp}).json()["totals"]
    assert totals["trace_count"] == 3 and totals["input_tokens"] == 4500 and totals["output_tokens"] == 2250
    assert totals["total_cost"] == pytest.approx(0.00045 * 4.5)
    one = httpx.get(f"{ui}/totals", params={"experiment_ids": exp, "filter": "trace.user = 'bob'"}).json()[
        "totals"
    ]
    assert (one["trace_count"], one["total_tokens"]) == (1, 750)
    sessions = httpx.get(f"{ui}/sessions", params={"experiment_ids": exp}).json()
    by_id = {s["session_id"]: s for s in sessions["sessions"]}
    assert by_id["conv-a"]["trace_count"] == 2 and by_id["conv-a"]["total_tokens"] == 6000
    assert by_id["conv-b"]["user"] == "bob" and sessions["next_page_token"] is None
    # The REST store (the SDK against a server) asks the same routes.
    from mltrail.store.rest_traces import RestTraceStore

    rest = RestTraceStore(live_server.url)
    assert rest.trace_totals([exp]) == totals
    assert rest.session_summaries([exp], "trace.user = 'bob'")[0][0]["session_id"] == "conv-b"
    page, token = rest.session_summaries([exp], max_results=1)
    assert (
        len(page) == 1
        and token
        and len(rest.session_summaries([exp], max_results=1, page_token=token)[0]) == 1
    )
    with pytest.raises(MltrailException) as err:
        rest.trace_totals([exp], "trace.nope = 1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    bad = httpx.get(f"{ui}/totals", params={"experiment_ids": exp, "filter": "trace.cost > 'x'"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad = httpx.get(f"{ui}/sessions", params={"experiment_ids": exp, "max_results": "lots"})
    assert bad.status_code == 400 and "max_results" in bad.json()["message"]
    assert httpx.get(f"{ui}/sessions").status_code == 400  # experiment_ids is required
