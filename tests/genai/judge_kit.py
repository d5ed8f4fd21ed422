"""Helpers for the scorer and judge tests: traces built in memory, scripted judge answers."""

from __future__ import annotations

import json
import re
from typing import Any

from mltrail.entities.assessment import Expectation
from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo

MODEL = "openai:/gpt-4o-mini"


def verdict(request: dict[str, Any]) -> str:
    """A judge that says "no" when the prompt holds the word BAD, else "yes" ("none" to user_frustration),
    quoting the model it was asked as."""
    prompt = " ".join(m["content"] for m in request["messages"] if isinstance(m.get("content"), str))
    result = "no" if "BAD" in prompt else "yes"
    if "unresolved" in prompt:  # user_frustration's labels
        result = "none"
    return json.dumps({"result": result, "rationale": f"Checked by {request['model']}: {result}"})


def trace(
    trace_no: int = 1,
    *,
    inputs: Any = None,
    outputs: Any = "Paris is the capital.",
    docs: list[str] | None = None,
    tools: list[tuple[str, dict]] | None = None,
    expectations: dict[str, Any] | None = None,
    request_time: int = 1,
    session_id: str | None = "session-1",
) -> Trace:
    """A finished trace: a CHAIN root, then a RETRIEVER span over ``docs``, TOOL spans, an LLM span offering them."""
    trace_id = f"tr-{trace_no:032x}"
    inputs = {"question": "What is the capital of France?"} if inputs is None else inputs

    def span(n: int, parent: int | None, name: str, kind: str, ins: Any, outs: Any) -> Span:
        attrs = {
            "mlflow.traceRequestId": json.dumps(trace_id),
            "mlflow.spanType": json.dumps(kind),
            "mlflow.spanInputs": json.dumps(ins),
            "mlflow.spanOutputs": json.dumps(outs),
        }
        sid = lambda k: f"{trace_no:08x}{k:08x}"  # noqa: E731
        return Span(
            trace_id,
            sid(n),
            None if parent is None else sid(parent),
            name,
            n * 10,
            n * 10 + 5,
            raw_attributes=attrs,
        )

    spans = [span(1, None, "agent", "CHAIN", inputs, outputs)]
    if docs is not None:
        chunks = [{"page_content": d, "metadata": {"doc_uri": f"doc-{i}"}} for i, d in enumerate(docs)]
        spans.append(span(2, 1, "retrieve", "RETRIEVER", {"query": "capital"}, chunks))
    for i, (name, args) in enumerate(tools or []):
        spans.append(span(3 + i, 1, name, "TOOL", args, {"ok": True}))
    if tools:
        offered = [{"type": "function", "function": {"name": n, "description": n}} for n, _ in tools]
        llm = span(
            20,
            1,
            "llm",
            "CHAT_MODEL",
            {"messages": [{"role": "user", "content": "q"}], "tools": offered},
            "x",
        )
        llm.raw_attributes["mlflow.chat.tools"] = json.dumps(offered)
        spans.append(llm)
    info = TraceInfo(trace_id, "0", request_time)
    if session_id is not None:
        info.trace_metadata["mlflow.trace.session"] = session_id
    for name, value in (expectations or {}).items():
        info.assessments.append(Expectation(name=name, value=value, trace_id=trace_id))
    return Trace(info, TraceData(spans))


def as_official(t: Trace) -> Any:
    """The same trace as an official ``mlflow.entities.Trace`` (through MLflow's wire form)."""
    import mlflow.entities

    return mlflow.entities.Trace.from_dict(t.to_dict())


def summary(result: Any) -> list[tuple]:
    """(name, value, rationale, source type, source id, error code) of each feedback, for comparisons."""
    items = result if isinstance(result, list) else [result]
    out = []
    for fb in items:
        value = (
            fb.value.value
            if hasattr(fb.value, "value") and not isinstance(fb.value, (bool, int, float))
            else fb.value
        )
        error = fb.error.error_code if fb.error else None
        out.append(
            (
                fb.name,
                value if not isinstance(value, str) else str(value),
                fb.rationale,
                str(getattr(fb.source.source_type, "value", fb.source.source_type)),
                fb.source.source_id,
                error,
            )
        )
    return out


def prompts_of(server: Any) -> list[str]:
    return [" ".join(m["content"] for m in r["body"]["messages"]) for r in server.requests]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z_]+", text.lower()))
