"""Traces of AI gateway calls: one trace per proxied call, in the endpoint's experiment (as MLflow 3.17).

An endpoint with usage tracking (the default) has an experiment (``gateway/<name>``);
every call through a proxy then records a trace there, shaped as MLflow's gateway
records it:

* the root span ``gateway/<endpoint>`` (attributes ``endpoint_id``, ``endpoint_name``,
  ``server_url``), its inputs the request body and its outputs the answer (a
  streamed answer is joined into the provider's non-streamed shape, as MLflow's
  output reducers do: :data:`STREAM_JOINERS`);
* one ``LLM`` span per provider attempt, ``provider/<provider>/<model>``, with
  ``mlflow.llm.provider``, ``mlflow.llm.model``, ``method`` and the token usage
  (``mlflow.chat.tokenUsage``: ``input_tokens``, ``output_tokens``, ``total_tokens``);
  a failed attempt (a fallback followed) ends in ERROR;
* one ``GUARDRAIL`` span per guardrail run, ``guardrail/<name>``, before the provider
  spans for a BEFORE guardrail and after them for an AFTER one (:class:`Step`, written by
  :mod:`mltrail.server.gateway_guardrails`); its inputs the request (BEFORE) or
  ``{"request": ..., "response": ...}`` (AFTER), its outputs the payload that went on
  (rewritten by a sanitizer). Under it, an ``EVALUATOR`` span ``judge`` whose outputs are
  the verdict (``{"passed": ..., "rationale": ...}``) and, when a SANITIZATION guardrail
  failed, an ``LLM`` span ``sanitization`` (inputs ``{"payload": ..., "rationale": ...}``,
  outputs the rewrite). A guardrail that blocks the call ends in ERROR with an
  ``exception`` event (``GuardrailViolation``), as MLflow's spans record the exception;
* metadata ``mlflow.gateway.endpointId``, ``mlflow.gateway.requestType``
  (``unified/chat``, ``passthrough/model/openai-chat``, ...), ``mlflow.gateway.caller``
  (``X-MLflow-Gateway-Caller``, else the User-Agent's product), the signed-in user
  (``mlflow.auth.username`` / ``mlflow.auth.userId``), and the trace's token usage and
  cost totalled as the tracer totals them (:func:`mltrail.entities.prices.price_spans`).

The trace is written once the answer is complete (after the last streamed chunk),
off the request's critical path only in that it never fails the call: a store error
is logged.

Example::

    traced = GatewayTrace(endpoint, "unified/chat", body, request)
    attempt = traced.attempt("openai", "gpt-4o-mini", "chat")
    attempt.end(usage={"prompt_tokens": 3, "completion_tokens": 5})
    step = traced.step("guardrail/no-pii", SpanType.GUARDRAIL, inputs=answer)
    step.end(outputs=answer)
    trace = traced.finish(answer)          # a Trace, or None when tracking is off
"""

from __future__ import annotations

import json
import secrets
import time
import traceback
import uuid
from typing import Any

from mltrail.entities.prices import price_spans
from mltrail.entities.trace import (
    PREVIEW_MAX_CHARS,
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatusCode,
    SpanType,
    Trace,
    TraceData,
    TraceInfo,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
    dump_json,
)
from mltrail.server.scope import USER_SCOPE_KEY

ENDPOINT_ID_KEY = "mlflow.gateway.endpointId"
REQUEST_TYPE_KEY = "mlflow.gateway.requestType"
CALLER_KEY = "mlflow.gateway.caller"
AUTH_USERNAME_KEY = "mlflow.auth.username"
AUTH_USER_ID_KEY = "mlflow.auth.userId"
CALLER_HEADER = "x-mlflow-gateway-caller"

#: MLflow's request types (``GatewayRequestType``) by proxy route.
UNIFIED_CHAT = "unified/chat"
UNIFIED_EMBEDDINGS = "unified/embeddings"
OPENAI_CHAT = "passthrough/model/openai-chat"
OPENAI_EMBEDDINGS = "passthrough/model/openai-embeddings"
OPENAI_RESPONSES = "passthrough/model/openai-responses"
ANTHROPIC_MESSAGES = "passthrough/model/anthropic-messages"
GEMINI_GENERATE_CONTENT = "passthrough/model/gemini-generateContent"
TYPESAFE_SYSTEM_ONE = "passthrough/model/typesafe-systemone"
RAW_PROXY = "proxy/raw"


def token_usage(usage: Any) -> dict[str, int] | None:
    """MLflow's token usage from a provider's ``usage`` (OpenAI, Anthropic or Gemini names)."""
    if not isinstance(usage, dict):
        return None
    pairs = (
        ("prompt_tokens", "completion_tokens"),  # OpenAI chat / embeddings
        ("input_tokens", "output_tokens"),  # OpenAI Responses, Anthropic
        ("promptTokenCount", "candidatesTokenCount"),  # Gemini usageMetadata
    )
    for inp, out in pairs:
        if inp in usage or out in usage:
            found: dict[str, int] = {}
            if isinstance(usage.get(inp), int):
                found["input_tokens"] = usage[inp]
            if isinstance(usage.get(out), int):
                found["output_tokens"] = usage[out]
            total = usage.get("total_tokens", usage.get("totalTokenCount"))
            if not isinstance(total, int):
                total = sum(found.values())
            found["total_tokens"] = total
            return found
    return None


def _caller(headers: Any) -> str | None:
    if caller := headers.get(CALLER_HEADER):
        return str(caller)
    product = (headers.get("user-agent") or "").split("/")[0].strip()
    return product or None


def _attrs(trace_id: str, span_type: str, values: dict[str, Any]) -> dict[str, str]:
    raw = {SpanAttributeKey.REQUEST_ID: dump_json(trace_id), SpanAttributeKey.SPAN_TYPE: dump_json(span_type)}
    raw.update({k: dump_json(v) for k, v in values.items() if v is not None})
    return raw


class Attempt:
    """One provider call of a traced gateway call (an ``LLM`` span)."""

    def __init__(self, trace: GatewayTrace, provider: str, model: str, method: str, streaming: bool) -> None:
        self._trace = trace
        self.span_id = secrets.token_hex(8)
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.name = f"provider/{provider}/{model}" if model else f"provider/{provider}"
        self.values: dict[str, Any] = {
            SpanAttributeKey.MODEL_PROVIDER: provider,
            SpanAttributeKey.MODEL: model or None,
            "method": method,
            "streaming": True if streaming else None,
        }
        self.error: str | None = None

    def end(self, usage: Any = None, error: str | None = None) -> None:
        """The attempt is over: its usage (the provider's ``usage`` object) or its error."""
        self.end_ns = time.time_ns()
        self.error = error
        if found := token_usage(usage):
            self.values[SpanAttributeKey.CHAT_USAGE] = found


class Step:
    """A span of the gateway's own work in a traced call: a guardrail run, its judge, a sanitization."""

    def __init__(self, name: str, span_type: str, parent: Step | None, inputs: Any) -> None:
        self.span_id = secrets.token_hex(8)
        self.parent = parent
        self.name = name
        self.span_type = span_type
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.values: dict[str, Any] = {SpanAttributeKey.INPUTS: inputs}
        self.error: str | None = None
        self.events: list[SpanEvent] = []

    def end(self, outputs: Any = None) -> None:
        """The step succeeded; ``outputs`` become the span's outputs."""
        self.end_ns = time.time_ns()
        self.values[SpanAttributeKey.OUTPUTS] = outputs

    def fail(self, err: BaseException) -> None:
        """The step raised ``err``: the span ends in ERROR with OpenTelemetry's ``exception`` event."""
        self.end_ns = time.time_ns()
        kind = type(err).__name__
        self.error = f"{kind}: {err}"
        stack = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        self.events.append(
            SpanEvent(
                "exception",
                self.end_ns,
                {"exception.message": str(err), "exception.type": kind, "exception.stacktrace": stack},
            )
        )


class GatewayTrace:
    """The trace of one proxied call, built while it runs (see the module docstring)."""

    def __init__(self, endpoint: dict[str, Any], request_type: str, inputs: Any, request: Any) -> None:
        self.endpoint = endpoint
        self.request_type = request_type
        self.inputs = inputs
        self.trace_id = f"tr-{uuid.uuid4().hex}"
        self.start_ns = time.time_ns()
        self.root_id = secrets.token_hex(8)
        self.attempts: list[Attempt] = []
        self._children: list[Attempt | Step] = []  # every span under the root, in the order they started
        headers = request.headers
        self.server_url = headers.get("host")
        self.caller = _caller(headers)
        user = request.scope.get(USER_SCOPE_KEY)
        self.username = getattr(user, "username", None)
        self.user_id = getattr(user, "id", None)

    @property
    def enabled(self) -> bool:
        """Whether the endpoint tracks usage into an experiment (MLflow traces only then)."""
        return bool(self.endpoint.get("usage_tracking", True) and self.endpoint.get("experiment_id"))

    def attempt(self, provider: str, model: str, method: str, streaming: bool = False) -> Attempt:
        """Start the span of one provider call."""
        found = Attempt(self, provider, model, method, streaming)
        self.attempts.append(found)
        self._children.append(found)
        return found

    def step(self, name: str, span_type: str, parent: Step | None = None, inputs: Any = None) -> Step:
        """Start a span of the gateway's own work, under ``parent`` (the root span without one)."""
        found = Step(name, span_type, parent, inputs)
        self._children.append(found)
        return found

    def finish(self, outputs: Any = None, error: str | None = None) -> Trace | None:
        """The finished trace (None when the endpoint does not track usage)."""
        if not self.enabled:
            return None
        end_ns = time.time_ns()
        root_id = self.root_id
        name = f"gateway/{self.endpoint['name']}"
        root_values = {
            "endpoint_id": self.endpoint["endpoint_id"],
            "endpoint_name": self.endpoint["name"],
            "server_url": self.server_url,
            SpanAttributeKey.INPUTS: self.inputs,
            SpanAttributeKey.OUTPUTS: outputs,
        }
        spans = [
            Span(
                self.trace_id,
                root_id,
                None,
                name,
                self.start_ns,
                end_ns,
                SpanStatusCode.ERROR if error else SpanStatusCode.OK,
                error or "",
                _attrs(self.trace_id, SpanType.UNKNOWN, root_values),
            )
        ]
        for a in self._children:
            is_step = isinstance(a, Step)
            parent = a.parent.span_id if is_step and a.parent is not None else root_id
            spans.append(
                Span(
                    self.trace_id,
                    a.span_id,
                    parent,
                    a.name,
                    a.start_ns,
                    a.end_ns or end_ns,
                    SpanStatusCode.ERROR if a.error else SpanStatusCode.OK,
                    a.error or "",
                    _attrs(self.trace_id, a.span_type if is_step else SpanType.LLM, a.values),
                    list(a.events) if is_step else [],
                )
            )
        metadata = {
            TraceMetadataKey.SCHEMA_VERSION: "3",
            ENDPOINT_ID_KEY: self.endpoint["endpoint_id"],
            REQUEST_TYPE_KEY: self.request_type,
        }
        for key, value in ((CALLER_KEY, self.caller), (AUTH_USERNAME_KEY, self.username),
                           (AUTH_USER_ID_KEY, self.user_id)):  # fmt: skip
            if value not in (None, ""):
                metadata[key] = str(value)
        usage, cost = price_spans(spans)
        if usage:
            metadata[TraceMetadataKey.TOKEN_USAGE] = json.dumps(usage)
        if cost:
            metadata[TraceMetadataKey.COST] = json.dumps(cost)
        info = TraceInfo(
            trace_id=self.trace_id,
            experiment_id=str(self.endpoint["experiment_id"]),
            request_time=self.start_ns // 1_000_000,
            execution_duration=max(0, (end_ns - self.start_ns) // 1_000_000),
            state=TraceState.ERROR if error else TraceState.OK,
            trace_metadata=metadata,
            tags={TraceTagKey.TRACE_NAME: name},
            request_preview=dump_json(self.inputs)[:PREVIEW_MAX_CHARS],
            response_preview=None if outputs is None else dump_json(outputs)[:PREVIEW_MAX_CHARS],
        )
        return Trace(info, TraceData(spans))


def join_chat_stream(chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenAI chat stream chunks as one ``chat.completion`` (the trace's output of a streamed call)."""
    if not chunks:
        return None
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            state = choices.setdefault(
                choice.get("index", 0), {"role": None, "parts": [], "finish": None, "calls": {}}
            )
            delta = choice.get("delta") or {}
            state["role"] = state["role"] or delta.get("role")
            if delta.get("content"):
                state["parts"].append(delta["content"])
            for call in delta.get("tool_calls") or ():  # a call's id and name first, its arguments in pieces
                joined = state["calls"].setdefault(
                    call.get("index", 0),
                    {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
                )
                joined["id"] = joined["id"] or call.get("id")
                function = call.get("function") or {}
                joined["function"]["name"] = joined["function"]["name"] or function.get("name")
                joined["function"]["arguments"] += function.get("arguments") or ""
            state["finish"] = choice.get("finish_reason") or state["finish"]
    last = chunks[-1]
    joined: dict[str, Any] = {
        "id": last.get("id"),
        "object": "chat.completion",
        "created": last.get("created"),
        "model": last.get("model"),
        "choices": [
            {
                "index": index,
                "message": {
                    "role": s["role"] or "assistant",
                    "content": "".join(s["parts"]) or None,
                    **({"tool_calls": [s["calls"][i] for i in sorted(s["calls"])]} if s["calls"] else {}),
                },
                "finish_reason": s["finish"] or "stop",
            }
            for index, s in sorted(choices.items())
        ],
    }
    usage = next((c["usage"] for c in reversed(chunks) if isinstance(c.get("usage"), dict)), None)
    if usage:
        joined["usage"] = usage
    return joined


def join_responses_stream(events: list[dict[str, Any]]) -> Any:
    """OpenAI Responses stream events as the response object (the ``response.completed`` event's)."""
    done = [
        e for e in events if e.get("type") == "response.completed" and isinstance(e.get("response"), dict)
    ]
    return done[-1]["response"] if done else events or None


def join_anthropic_stream(events: list[dict[str, Any]]) -> Any:
    """Anthropic Messages stream events as one ``message`` (text and tool_use blocks, stop reason, usage)."""
    start = next((e["message"] for e in events if e.get("type") == "message_start" and "message" in e), None)
    if not isinstance(start, dict):
        return events or None
    message = {**start, "content": []}
    usage = dict(start.get("usage") or {})
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, list[str]] = {}
    for event in events:
        kind, index = event.get("type"), event.get("index", 0)
        if kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            blocks[index] = dict(event["content_block"])
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                partial_json.setdefault(index, []).append(delta.get("partial_json", ""))
        elif kind == "message_delta":
            message.update(
                {k: v for k, v in (event.get("delta") or {}).items() if k in ("stop_reason", "stop_sequence")}
            )
            usage.update(event.get("usage") or {})
    for index, parts in partial_json.items():
        try:
            blocks[index]["input"] = json.loads("".join(parts) or "{}")
        except ValueError:
            blocks[index]["input"] = "".join(parts)
    message["content"] = [blocks[i] for i in sorted(blocks)]
    message["usage"] = usage
    return message


def join_gemini_stream(events: list[dict[str, Any]]) -> Any:
    """Gemini stream events as one ``generateContent`` answer (text joined, last finish reason and usage)."""
    candidates: dict[int, dict[str, Any]] = {}
    usage = None
    for event in events:
        for position, candidate in enumerate(event.get("candidates") or ()):
            index = candidate.get("index", position)
            state = candidates.setdefault(index, {"role": "model", "texts": [], "other": [], "finish": None})
            content = candidate.get("content") or {}
            state["role"] = content.get("role") or state["role"]
            for part in content.get("parts") or ():
                (state["texts"] if "text" in part else state["other"]).append(part.get("text", part))
            state["finish"] = candidate.get("finishReason") or state["finish"]
        usage = event.get("usageMetadata") or usage
    if not candidates:
        return events or None
    joined: dict[str, Any] = {
        "candidates": [
            {
                "content": {
                    "parts": ([{"text": "".join(s["texts"])}] if s["texts"] else []) + s["other"],
                    "role": s["role"],
                },
                "finishReason": s["finish"],
                "index": index,
            }
            for index, s in sorted(candidates.items())
        ]
    }
    if usage:
        joined["usageMetadata"] = usage
    return joined


#: Request type -> how its stream's events become the trace's output (others: the events as they came).
STREAM_JOINERS = {
    UNIFIED_CHAT: join_chat_stream,
    OPENAI_CHAT: join_chat_stream,
    OPENAI_RESPONSES: join_responses_stream,
    ANTHROPIC_MESSAGES: join_anthropic_stream,
    GEMINI_GENERATE_CONTENT: join_gemini_stream,
}
