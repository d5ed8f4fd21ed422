"""What judges read from traces: the request and response, retrieved documents, tool calls, turns.

Facts follow MLflow's ``genai.utils.trace_utils``: the request/response are
the root span's inputs/outputs (a chat ``messages`` list reads as its last
message, a ``choices`` answer as its first choice); retrieved documents are the
outputs of the top-level ``RETRIEVER`` spans (``page_content``/``content``/
``text`` plus ``metadata.doc_uri``); tool calls are the ``TOOL`` spans in start
order; the tools on offer are the ``tools`` of ``LLM``/``CHAT_MODEL`` spans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mltrail.entities.trace import SpanType, Trace
from mltrail.exceptions import invalid

_CONTENT_KEYS = ("page_content", "content", "text", "chunk", "document")
_CHAT_TOOLS = "mlflow.chat.tools"


@dataclass
class FunctionCall:
    """One tool call of an agent (MLflow's ``FunctionCall``)."""

    name: str
    arguments: dict[str, Any] | None = None
    outputs: Any = None
    exception: str | None = None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def inputs_as_text(value: Any) -> str:
    """A request as text: a string as is, a chat's last message, else JSON."""
    if _missing(value):
        return " "
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return json.dumps(value, default=str)
    messages = value.get("messages")
    if isinstance(messages, list) and messages:
        contents = [m.get("content") if isinstance(m, dict) else None for m in messages]
        if len(contents) > 1 and all(isinstance(c, str) for c in contents):
            return json.dumps(messages)
        if isinstance(contents[-1], str):
            return contents[-1]
    return str(value)


def outputs_as_text(value: Any) -> str:
    """A response as text: a string as is, a chat completion's first choice, a message list's last, else JSON."""
    if _missing(value):
        return " "
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        return outputs_as_text(value[0])
    if isinstance(value, dict):
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            content = (choices[0].get("message") or {}).get("content")
            if isinstance(content, str):
                return content
        messages = value.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            content = messages[-1].get("content")
            if isinstance(content, str):
                return content
    return json.dumps(value, default=str)


def root_inputs(trace: Trace | None) -> Any:
    root = trace.data.root if trace is not None else None
    return None if root is None else root.inputs


def root_outputs(trace: Trace | None) -> Any:
    root = trace.data.root if trace is not None else None
    return None if root is None else root.outputs


def request_of(trace: Trace) -> str | None:
    root = trace.data.root
    return None if root is None else inputs_as_text(root.inputs)


def response_of(trace: Trace) -> str | None:
    root = trace.data.root
    return None if root is None else outputs_as_text(root.outputs)


def expectations_of(trace: Trace | None) -> dict[str, Any] | None:
    """The trace's expectation assessments as ``{name: value}``, or None when it has none."""
    if trace is None:
        return None
    found = {a.name: a.value for a in trace.info.assessments if isinstance(a, dict) and "expectation" in a}
    return found or None


def _chunk(doc: Any) -> dict[str, Any] | None:
    if not isinstance(doc, dict):
        return None
    key = next((k for k in _CONTENT_KEYS if k in doc), None)
    out: dict[str, Any] = {"content": doc.get(key) if key else None}
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and metadata.get("doc_uri"):
        out["doc_uri"] = metadata["doc_uri"]
    return out


def retrieval_contexts(trace: Trace) -> dict[str, list[dict[str, Any]]]:
    """``{span_id: [document, ...]}`` for each RETRIEVER span that has no RETRIEVER ancestor."""
    by_id = {s.span_id: s for s in trace.data.spans}
    out: dict[str, list[dict[str, Any]]] = {}
    for span in trace.search_spans(span_type=SpanType.RETRIEVER):
        parent, nested = by_id.get(span.parent_id or ""), False
        while parent is not None:
            if parent.span_type == SpanType.RETRIEVER:
                nested = True
                break
            parent = by_id.get(parent.parent_id or "")
        if nested:
            continue
        outputs = span.outputs
        if isinstance(outputs, str):
            try:
                outputs = json.loads(outputs)
            except ValueError:
                outputs = None
        docs = [_chunk(d) for d in outputs] if isinstance(outputs, list) else []
        out[span.span_id] = [d for d in docs if d is not None]
    return out


def tools_called(trace: Trace) -> list[FunctionCall]:
    """The TOOL spans as calls, in start order."""
    calls = []
    for span in sorted(trace.search_spans(span_type=SpanType.TOOL), key=lambda s: s.start_time_ns or 0):
        inputs = span.inputs
        name = span.name
        if (
            isinstance(inputs, dict)
            and isinstance(inputs.get("call"), dict)
            and "tool_name" in inputs["call"]
        ):
            name = inputs["call"]["tool_name"]
        error = next((e for e in span.events if e.name == "exception"), None)
        message = None
        if error is not None:
            attrs = error.attributes or {}
            message = f"{attrs.get('exception.type', 'Exception')}: {attrs.get('exception.message', '')}"
        calls.append(FunctionCall(name, inputs or None, span.outputs or None, message))
    return calls


def available_tools(trace: Trace) -> list[dict[str, Any]]:
    """The distinct tool definitions offered to the trace's LLM / chat-model spans."""
    seen: set[str] = set()
    tools: list[dict[str, Any]] = []
    for span in trace.data.spans:
        if span.span_type not in (SpanType.LLM, SpanType.CHAT_MODEL):
            continue
        offered = span.get_attribute(_CHAT_TOOLS)
        if offered is None and isinstance(span.inputs, dict):
            offered = span.inputs.get("tools")
        for tool in offered if isinstance(offered, list) else []:
            key = json.dumps(tool, sort_keys=True, default=str)
            if isinstance(tool, dict) and key not in seen:
                seen.add(key)
                tools.append(tool)
    return tools


def conversation_of(session: list[Trace] | None) -> list[dict[str, str]]:
    """A session's traces, oldest first, as ``user``/``assistant`` messages."""
    turns: list[dict[str, str]] = []
    for trace in sorted(session or [], key=lambda t: t.info.request_time or 0):
        turns.append({"role": "user", "content": request_of(trace) or ""})
        turns.append({"role": "assistant", "content": response_of(trace) or ""})
    return turns


def trace_as_json(trace: Trace) -> str:
    """The spans of a trace (name, type, parent, status, inputs, outputs) as JSON for a judge to read."""
    spans = [
        {
            "span_id": s.span_id,
            "parent_id": s.parent_id,
            "name": s.name,
            "span_type": s.span_type,
            "status": s.status_code,
            "inputs": s.inputs,
            "outputs": s.outputs,
        }
        for s in trace.data.spans
    ]
    return json.dumps(
        {"trace_id": trace.info.trace_id, "spans": spans}, indent=2, ensure_ascii=False, default=str
    )


SESSION_KEY = "mlflow.trace.session"


def validate_session(session: list[Trace]) -> None:
    """Every trace carries the same ``mlflow.trace.session`` metadata, or INVALID_PARAMETER_VALUE (MLflow's messages)."""
    by_session: dict[str, list[str]] = {}
    for t in session:
        if not isinstance(t, Trace):
            raise invalid(f"All elements in 'session' must be Trace objects, got {type(t).__name__}")
        session_id = t.info.trace_metadata.get(SESSION_KEY)
        if session_id is None:
            raise invalid(
                f"All traces in 'session' must have a session_id. Trace {t.info.trace_id} is missing session_id. "
                "See https://mlflow.org/docs/latest/genai/tracing/track-users-sessions/ for information on how "
                "to set session_id on traces."
            )
        by_session.setdefault(session_id, []).append(t.info.trace_id)
    if len(by_session) > 1:
        details = "\n".join(
            f"session_id '{sid}': trace_ids {ids[:3]}"
            + (f" and {len(ids) - 3} more trace{'s' if len(ids) - 3 != 1 else ''}" if len(ids) > 3 else "")
            for sid, ids in by_session.items()
        )
        raise invalid(
            f"All traces in 'session' must belong to the same session. Found {len(by_session)} different "
            f"session(s):\n{details}"
        )
