"""OpenTelemetry GenAI and OpenInference span attributes read as MLflow's (pure: no I/O).

An app instrumented with the OpenTelemetry GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.input.messages``, the older
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` and the ``gen_ai.*.message``
events) or with OpenInference (``openinference.span.kind``, ``input.value``,
``llm.input_messages.N.message.*``, ``llm.token_count.*``,
``retrieval.documents.N.document.*``) sends spans without MLflow's own
attributes. :func:`apply_semconv` fills them in when they are missing, as
MLflow's server does when it stores OTLP spans:

* ``mlflow.spanType`` from the span kind (MLflow's tables, below);
* ``mlflow.spanInputs`` / ``mlflow.spanOutputs`` from the values or messages
  (messages as ``{"messages": [...]}`` in, one message or ``{"choices": [...]}``
  out, the shapes the trace page's chat view reads; documents as MLflow
  ``Document`` dicts);
* ``mlflow.chat.tokenUsage`` from OpenInference's token counts (``gen_ai.usage.*``
  is read by :func:`mltrail.entities.prices.enrich_span_attributes`, which also
  prices the span), ``mlflow.llm.model`` / ``mlflow.llm.provider`` from the
  model and provider names.

Values already present are never replaced. Example::

    raw = {"openinference.span.kind": '"LLM"', "llm.model_name": '"gpt-4o-mini"'}
    apply_semconv(raw)
    raw["mlflow.spanType"]  # '"LLM"'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from mltrail.entities.trace import SpanAttributeKey as K
from mltrail.entities.trace import SpanEvent
from mltrail.entities.trace_usage import TokenUsageKey, normalize_usage, otel_model, otel_provider

#: OpenInference's span kinds (``openinference.span.kind``) as MLflow span types.
OPENINFERENCE_SPAN_TYPES = {
    "LLM": "LLM",
    "CHAIN": "CHAIN",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "AGENT": "AGENT",
    "RERANKER": "RERANKER",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
    "UNKNOWN": "UNKNOWN",
}
#: The GenAI conventions' operations (``gen_ai.operation.name``) as MLflow span types.
GENAI_SPAN_TYPES = {
    "chat": "CHAT_MODEL",
    "create_agent": "AGENT",
    "invoke_agent": "AGENT",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "generate_content": "LLM",
    "text_completion": "LLM",
    "response": "LLM",
}
_OI_KIND = "openinference.span.kind"
_GENAI_OP = "gen_ai.operation.name"
_OI_MODEL_KEYS = (
    "llm.response.model_name",
    "llm.model_name",
    "llm.request.model_name",
    "embedding.model_name",
)
_OI_TOKENS = {
    TokenUsageKey.INPUT_TOKENS: "llm.token_count.prompt",
    TokenUsageKey.OUTPUT_TOKENS: "llm.token_count.completion",
    TokenUsageKey.TOTAL_TOKENS: "llm.token_count.total",
    TokenUsageKey.CACHE_READ_INPUT_TOKENS: "llm.token_count.prompt_details.cache_read",
    TokenUsageKey.CACHE_CREATION_INPUT_TOKENS: "llm.token_count.prompt_details.cache_write",
}
_INDEXED = re.compile(r"^(?P<prefix>[a-z_.]+?)\.(?P<index>\d+)\.(?P<rest>.+)$")
# Prefixes whose flattened, numbered attributes carry a list of records.
_LISTS = (
    "llm.input_messages",
    "llm.output_messages",
    "gen_ai.prompt",
    "gen_ai.completion",
    "retrieval.documents",
    "reranker.output_documents",
)
_PREFIXES = (
    "openinference.",
    "input.",
    "output.",
    "llm.",
    "gen_ai.",
    "retrieval.",
    "embedding.",
    "reranker.",
)
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _maybe_json(value: Any) -> Any:
    """A string holding a JSON object or array, decoded; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lists(attrs: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Flattened ``prefix.N.field...`` attributes as ``{prefix: [record, ...]}`` in index order."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in attrs.items():
        m = _INDEXED.match(key)
        if m is None or m.group("prefix") not in _LISTS:
            continue
        found.setdefault(m.group("prefix"), {}).setdefault(int(m.group("index")), {})[m.group("rest")] = value
    return {prefix: [rows[i] for i in sorted(rows)] for prefix, rows in found.items()}


def _oi_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenInference ``message.*`` record as an OpenAI-style chat message."""
    fields = {k.removeprefix("message."): v for k, v in row.items()}
    msg: dict[str, Any] = {"role": fields.get("role") or "user"}
    content = fields.get("content")
    if content is None:  # message.contents.N.message_content.text
        parts = sorted((k, v) for k, v in fields.items() if k.startswith("contents.") and k.endswith(".text"))
        content = "\n".join(str(v) for _k, v in parts) if parts else ""
    msg["content"] = content
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        m = re.match(r"^tool_calls\.(\d+)\.tool_call\.(.+)$", key)
        if m:
            calls.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if calls:
        msg["tool_calls"] = [
            {
                "id": c.get("id", ""),
                "type": "function",
                "function": {
                    "name": c.get("function.name", ""),
                    "arguments": c.get("function.arguments", ""),
                },
            }
            for _i, c in sorted(calls.items())
        ]
    if fields.get("tool_call_id"):
        msg["tool_call_id"] = fields["tool_call_id"]
    if fields.get("name"):
        msg["name"] = fields["name"]
    return msg


def _genai_message(raw: Any) -> Any:
    """A GenAI-conventions message (``{"role", "parts": [...]}``) as an OpenAI-style chat message."""
    if not isinstance(raw, dict) or "parts" not in raw:
        return raw
    texts, calls, tool_result = [], [], None
    for part in raw.get("parts") or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind == "tool_call":
            args = part.get("arguments")
            calls.append(
                {
                    "id": part.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": part.get("name", ""),
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
            )
        elif kind == "tool_call_response":
            tool_result = part
        else:
            texts.append(json.dumps(part))
    msg: dict[str, Any] = {"role": raw.get("role") or "user", "content": "\n".join(texts)}
    if calls:
        msg["tool_calls"] = calls
    if tool_result is not None:
        msg["tool_call_id"] = tool_result.get("id", "")
        response = tool_result.get("response", tool_result.get("result"))
        msg["content"] = response if isinstance(response, str) else json.dumps(response)
    if raw.get("finish_reason"):
        msg["finish_reason"] = raw["finish_reason"]
    return msg


def _legacy_genai(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``gen_ai.prompt.N.role/content`` (Traceloop, earlier GenAI conventions) as chat messages."""
    out = []
    for row in rows:
        msg: dict[str, Any] = {"role": row.get("role") or "user", "content": row.get("content", "")}
        calls: dict[int, dict[str, Any]] = {}
        for key, value in row.items():
            m = re.match(r"^tool_calls\.(\d+)\.(.+)$", key)
            if m:
                calls.setdefault(int(m.group(1)), {})[m.group(2)] = value
        if calls:
            msg["tool_calls"] = [
                {
                    "id": c.get("id", ""),
                    "type": "function",
                    "function": {"name": c.get("name", ""), "arguments": c.get("arguments", "")},
                }
                for _i, c in sorted(calls.items())
            ]
        out.append(msg)
    return out


def _documents(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenInference ``document.*`` records as MLflow ``Document`` dicts (``page_content``, ``metadata``, ``id``)."""
    docs = []
    for row in rows:
        fields = {k.removeprefix("document."): v for k, v in row.items()}
        metadata = _maybe_json(fields.get("metadata"))
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        if fields.get("score") is not None:
            metadata.setdefault("score", fields["score"])
        docs.append({"page_content": fields.get("content", ""), "metadata": metadata, "id": fields.get("id")})
    return docs


def _out_messages(messages: list[Any]) -> Any:
    if len(messages) == 1:
        return messages[0]
    return {"choices": [{"index": i, "message": m} for i, m in enumerate(messages)]}


def _event_messages(events: Sequence[SpanEvent]) -> tuple[list[Any], list[Any]]:
    """The GenAI conventions' message events: ``gen_ai.{system,user,assistant,tool}.message`` and ``gen_ai.choice``."""
    ins, outs = [], []
    for event in events:
        attrs = event.attributes or {}
        if event.name in _EVENT_ROLES and attrs.get("content") is not None:
            ins.append(
                {
                    "role": attrs.get("role") or _EVENT_ROLES[event.name],
                    "content": _maybe_json(attrs["content"]),
                }
            )
        elif event.name == "gen_ai.choice":
            message = _maybe_json(attrs.get("message"))
            if isinstance(message, dict):
                outs.append({"role": "assistant", **message})
            elif attrs.get("content") is not None:
                outs.append(
                    {"role": attrs.get("role") or "assistant", "content": _maybe_json(attrs["content"])}
                )
    return ins, outs


def _inputs_outputs(attrs: Mapping[str, Any], events: Sequence[SpanEvent]) -> tuple[Any, Any]:
    lists = _lists(attrs)
    ev_in, ev_out = _event_messages(events)
    inputs: Any = None
    if attrs.get("input.value") is not None:
        inputs = _maybe_json(attrs["input.value"])
    elif lists.get("llm.input_messages"):
        inputs = {"messages": [_oi_message(r) for r in lists["llm.input_messages"]]}
    elif isinstance(msgs := _maybe_json(attrs.get("gen_ai.input.messages")), list):
        system = _maybe_json(attrs.get("gen_ai.system_instructions"))
        pre = (
            [{"role": "system", "content": _genai_message({"role": "system", "parts": system})["content"]}]
            if isinstance(system, list)
            else []
        )
        inputs = {"messages": pre + [_genai_message(m) for m in msgs]}
    elif lists.get("gen_ai.prompt"):
        inputs = {"messages": _legacy_genai(lists["gen_ai.prompt"])}
    elif attrs.get("gen_ai.tool.call.arguments") is not None:
        inputs = _maybe_json(attrs["gen_ai.tool.call.arguments"])
    elif ev_in:
        inputs = {"messages": ev_in}
    outputs: Any = None
    if attrs.get("output.value") is not None:
        outputs = _maybe_json(attrs["output.value"])
    elif lists.get("llm.output_messages"):
        outputs = _out_messages([_oi_message(r) for r in lists["llm.output_messages"]])
    elif lists.get("retrieval.documents"):
        outputs = _documents(lists["retrieval.documents"])
    elif lists.get("reranker.output_documents"):
        outputs = _documents(lists["reranker.output_documents"])
    elif isinstance(msgs := _maybe_json(attrs.get("gen_ai.output.messages")), list) and msgs:
        outputs = _out_messages([_genai_message(m) for m in msgs])
    elif lists.get("gen_ai.completion"):
        outputs = _out_messages(_legacy_genai(lists["gen_ai.completion"]))
    elif attrs.get("gen_ai.tool.call.result") is not None:
        outputs = _maybe_json(attrs["gen_ai.tool.call.result"])
    elif ev_out:
        outputs = _out_messages(ev_out)
    return inputs, outputs


def _oi_usage(attrs: Mapping[str, Any]) -> dict[str, int] | None:
    found = {}
    for key, attr in _OI_TOKENS.items():
        value = attrs.get(attr)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            found[key] = int(value)
    return normalize_usage(found) if found else None


def span_type_of(attrs: Mapping[str, Any]) -> str | None:
    """The MLflow span type an OpenInference or GenAI span declares, or None."""
    kind = attrs.get(_OI_KIND)
    if isinstance(kind, str) and kind.upper() in OPENINFERENCE_SPAN_TYPES:
        return OPENINFERENCE_SPAN_TYPES[kind.upper()]
    op = attrs.get(_GENAI_OP)
    if isinstance(op, str) and op.lower() in GENAI_SPAN_TYPES:
        return GENAI_SPAN_TYPES[op.lower()]
    return None


def apply_semconv(raw: MutableMapping[str, str], events: Sequence[SpanEvent] = ()) -> bool:
    """Fill in a span's MLflow attributes from its GenAI / OpenInference ones, in place; True if it changed.

    ``raw`` holds JSON-encoded attribute values (:attr:`Span.raw_attributes`);
    ``events`` are the span's events (the GenAI conventions' message events).
    Attributes MLflow already has are kept as they are.
    """
    if not any(k.startswith(_PREFIXES) for k in raw) and not any(
        e.name.startswith("gen_ai.") for e in events
    ):
        return False
    attrs = {k: _load(v) for k, v in raw.items() if k.startswith(_PREFIXES)}
    changed = False

    def put(key: str, value: Any) -> None:
        nonlocal changed
        if value is not None and key not in raw:
            raw[key] = json.dumps(value, default=str)
            changed = True

    put(K.SPAN_TYPE, span_type_of(attrs))
    if K.INPUTS not in raw or K.OUTPUTS not in raw:
        inputs, outputs = _inputs_outputs(attrs, events)
        put(K.INPUTS, inputs)
        put(K.OUTPUTS, outputs)
    if K.CHAT_USAGE not in raw:
        put(K.CHAT_USAGE, _oi_usage(attrs))
    model = next((attrs[k] for k in _OI_MODEL_KEYS if isinstance(attrs.get(k), str) and attrs[k]), None)
    put(K.MODEL, model or otel_model(attrs))
    provider = attrs.get("llm.provider") or attrs.get("llm.system")
    put(K.MODEL_PROVIDER, provider if isinstance(provider, str) and provider else otel_provider(attrs))
    return changed
