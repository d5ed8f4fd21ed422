"""OpenTelemetry GenAI and OpenInference spans read as MLflow's: span types, inputs/outputs, messages, tokens, cost.

The spans are OTLP JSON as instrumentation libraries send them; they go through
the same reader the server's ``/v1/traces`` and gRPC ingest use
(:func:`spans_from_otlp`), then through the pricing step the trace store runs
(:func:`price_spans`). The span types are checked against the official
``mlflow`` client's own translation tables.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from mltrail.entities.prices import price_spans
from mltrail.entities.trace_otlp import spans_from_otlp
from mltrail.entities.trace_semconv import GENAI_SPAN_TYPES, OPENINFERENCE_SPAN_TYPES


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def _span(
    attrs: dict[str, Any], parent: str | None = None, events: list | None = None, name: str = "s"
) -> dict:
    d = {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": k, "value": _value(v)} for k, v in attrs.items()],
        "events": [
            {"name": n, "timeUnixNano": "1700000000500000000",
             "attributes": [{"key": k, "value": _value(v)} for k, v in a.items()]}
            for n, a in (events or [])
        ],
    }  # fmt: skip
    if parent:
        d["parentSpanId"] = parent
    return d


def _read(*spans: dict, service: str | None = None) -> list:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]} if service else {}
    payload = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}
    return spans_from_otlp(payload, service_name_to_root=True)


def _official_table(module: str) -> dict[str, str]:
    """``SPAN_KIND_TO_MLFLOW_TYPE`` of the official client's translator, read from its source.

    Parsed rather than imported: importing ``mlflow.tracing`` costs seconds per test worker.
    """
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.submodule_search_locations
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "tracing"
        / "otel"
        / "translation"
        / f"{module}.py"
    )
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SPAN_KIND_TO_MLFLOW_TYPE":
            return {
                ast.literal_eval(k): v.attr for k, v in zip(node.value.keys, node.value.values, strict=True)
            }
    raise AssertionError(f"no SPAN_KIND_TO_MLFLOW_TYPE in {path}")


def test_span_kinds_match_the_official_clients_tables():
    assert _official_table("open_inference") == OPENINFERENCE_SPAN_TYPES
    assert _official_table("genai_semconv") == GENAI_SPAN_TYPES
    for kind, expected in OPENINFERENCE_SPAN_TYPES.items():
        (span,) = _read(_span({"openinference.span.kind": kind}))
        assert span.span_type == expected
    for op, expected in GENAI_SPAN_TYPES.items():
        (span,) = _read(_span({"gen_ai.operation.name": op}))
        assert span.span_type == expected
    (plain,) = _read(_span({"http.method": "GET"}))
    assert plain.span_type != "LLM" and "mlflow.spanInputs" not in plain.raw_attributes


def test_openinference_llm_span_messages_tool_calls_tokens_and_cost():
    llm = _span({
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "weather in Paris?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_1",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
        "llm.token_count.prompt": 2000,
        "llm.token_count.completion": 1000,
        "llm.token_count.total": 3000,
        "llm.token_count.prompt_details.cache_read": 500,
    })  # fmt: skip
    (span,) = _read(llm)
    assert span.span_type == "LLM"
    assert span.inputs == {"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "weather in Paris?"},
    ]}  # fmt: skip
    assert span.outputs == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
    ]}  # fmt: skip
    attrs = span.attributes
    assert attrs["mlflow.chat.tokenUsage"] == {
        "input_tokens": 2000, "output_tokens": 1000, "total_tokens": 3000, "cache_read_input_tokens": 500,
    }  # fmt: skip
    assert (attrs["mlflow.llm.model"], attrs["mlflow.llm.provider"]) == ("gpt-4o-mini", "openai")
    usage, cost = price_spans([span])
    assert usage["total_tokens"] == 3000
    assert cost["total_cost"] > 0
    assert cost["total_cost"] == pytest.approx(span.attributes["mlflow.llm.cost"]["total_cost"])


def test_openinference_values_documents_and_existing_attributes_kept():
    chain = _span(
        {"openinference.span.kind": "CHAIN", "input.value": '{"q": "tea"}', "output.value": "plain text"}
    )
    retriever = _span({
        "openinference.span.kind": "RETRIEVER",
        "input.value": "tea",
        "retrieval.documents.0.document.id": "d1",
        "retrieval.documents.0.document.content": "Green tea",
        "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.0.document.metadata": '{"source": "kb"}',
        "retrieval.documents.1.document.content": "Black tea",
    })  # fmt: skip
    explicit = _span({"openinference.span.kind": "TOOL", "mlflow.spanType": "AGENT", "input.value": "x"})
    c, r, e = _read(chain, retriever, explicit)
    assert (c.inputs, c.outputs) == ({"q": "tea"}, "plain text")
    assert r.span_type == "RETRIEVER" and r.inputs == "tea"
    assert r.outputs == [
        {"page_content": "Green tea", "metadata": {"source": "kb", "score": 0.9}, "id": "d1"},
        {"page_content": "Black tea", "metadata": {}, "id": None},
    ]
    assert e.span_type == "AGENT"  # what the sender set is kept


def test_genai_messages_with_parts_system_instructions_and_cost():
    inputs = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rainy"}]},
    ]  # fmt: skip
    outputs = [
        {"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}], "finish_reason": "stop"}
    ]
    (span,) = _read(_span({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(outputs),
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }))  # fmt: skip
    assert span.span_type == "CHAT_MODEL"
    assert span.inputs == {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "content": "rainy", "tool_call_id": "c1"},
    ]}  # fmt: skip
    assert span.outputs == {"role": "assistant", "content": "Rainy.", "finish_reason": "stop"}
    assert span.attributes["mlflow.llm.model"] == "gpt-4o-mini"
    usage, cost = price_spans([span])  # gen_ai.usage.* read by the pricing step, as before
    assert usage == {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
    assert cost["total_cost"] > 0


def test_genai_legacy_prompt_completion_attributes_and_events():
    (legacy,) = _read(_span({
        "gen_ai.operation.name": "text_completion",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hi",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "hello",
        "gen_ai.completion.1.role": "assistant",
        "gen_ai.completion.1.content": "hey",
    }))  # fmt: skip
    assert legacy.span_type == "LLM"
    assert legacy.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert legacy.outputs == {"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}},
        {"index": 1, "message": {"role": "assistant", "content": "hey"}},
    ]}  # fmt: skip
    (evented,) = _read(_span({"gen_ai.operation.name": "chat"}, events=[
        ("gen_ai.system.message", {"content": "Be brief."}),
        ("gen_ai.user.message", {"content": "hi"}),
        ("gen_ai.choice", {"message": json.dumps({"content": "hello"}), "finish_reason": "stop"}),
    ]))  # fmt: skip
    assert evented.inputs == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    }
    assert evented.outputs == {"role": "assistant", "content": "hello"}
    (tool,) = _read(_span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": '{"x": 1}',
                           "gen_ai.tool.call.result": "42"}))  # fmt: skip
    assert (tool.span_type, tool.inputs, tool.outputs) == ("TOOL", {"x": 1}, "42")


def test_service_name_goes_to_root_spans_only_and_defaults_are_skipped():
    root = _span({"openinference.span.kind": "AGENT"}, name="root")
    child = _span({}, parent=root["spanId"], name="child")
    child["traceId"] = root["traceId"]
    got = {s.name: s for s in _read(root, child, service="shop-bot")}
    assert got["root"].attributes["service.name"] == "shop-bot"
    assert "service.name" not in got["child"].raw_attributes
    for default in ("unknown_service", "unknown_service:python", "mltrail"):
        (span,) = _read(_span({}), service=default)
        assert "service.name" not in span.raw_attributes
    (own,) = _read(_span({"service.name": "own"}), service="shop-bot")
    assert own.attributes["service.name"] == "own"  # the span's own attribute wins
