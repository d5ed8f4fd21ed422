"""OpenAI-format gateway calls to Anthropic and Gemini endpoints, translated both ways (as MLflow 3.17).

MLflow's gateway answers ``/gateway/mlflow/v1/chat/completions`` (and the endpoint's
``/mlflow/invocations``) for every provider: an Anthropic or Gemini model definition
gets the OpenAI request rewritten into the provider's own format, and the answer
rewritten back into OpenAI's. This module does the same, with the rules of MLflow's
``AnthropicAdapter`` and ``GeminiAdapter``:

* Anthropic Messages: system messages joined into ``system``; tool calls and tool
  results as ``tool_use`` / ``tool_result`` blocks; ``stop`` -> ``stop_sequences``;
  ``temperature`` halved (OpenAI's 0-2 onto Anthropic's 0-1); ``max_tokens`` (or
  ``max_completion_tokens``) defaulting to 8192; ``n`` must be 1; ``temperature`` and
  ``top_p`` not both; tools and ``tool_choice``; ``response_format``. Stop reasons
  ``max_tokens`` -> ``length``, ``tool_use`` -> ``tool_calls``, others ``stop``; usage
  ``input_tokens`` (plus cache reads and writes) -> ``prompt_tokens``.
* Gemini generateContent: ``contents`` with ``user`` / ``model`` roles, system
  messages in ``system_instruction``, ``generationConfig`` (``temperature``,
  ``stopSequences``, ``candidateCount`` from ``n``, ``maxOutputTokens``, ...),
  ``functionCall`` / ``functionResponse`` parts, ``tools``' ``functionDeclarations``;
  finish reasons lower-cased (``MAX_TOKENS`` -> ``length``; a function call ->
  ``tool_calls``); ``usageMetadata`` -> ``usage``. Embeddings go to
  ``:embedContent`` (one input) or ``:batchEmbedContents``.
* Streams: the provider's server-sent events become ``chat.completion.chunk`` events
  one by one (usage on the last), ending with the body as MLflow's do (no ``[DONE]``);
  an error event mid-stream becomes ``{"error": {...}}``, as MLflow sends it.

Bad input answers 400 ``INVALID_PARAMETER_VALUE`` with MLflow's message (MLflow
answers some of these 422). OpenAI-only fields the provider does not take
(``stream_options``, ``seed``, penalties for Anthropic, ...) are left out, so the
provider does not refuse the call for them.

Example::

    found = translation(UNIFIED_CHAT, "anthropic", "claude-3-5-sonnet", openai_body)
    found.path, found.body        # "/messages", the Anthropic request
    found.answer(anthropic_json)  # the OpenAI chat.completion
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from mltrail.exceptions import invalid
from mltrail.server.gateway_providers import wire

UNIFIED_CHAT, UNIFIED_EMBEDDINGS = "unified/chat", "unified/embeddings"  # gateway_traces' request types

ANTHROPIC_DEFAULT_MAX_TOKENS = 8192  # MLflow's MLFLOW_AI_GATEWAY_ANTHROPIC_DEFAULT_MAX_TOKENS
ANTHROPIC_MAXIMUM_MAX_TOKENS = 1_000_000
_DATA_URL = re.compile(r"^data:(?P<mime>[^;]+);base64,(?P<data>.*)$", re.DOTALL)
# OpenAI request fields Anthropic's Messages API refuses and has no use for.
_NOT_FOR_ANTHROPIC = frozenset(
    {
        "model", "n", "stream_options", "seed", "logprobs", "top_logprobs", "logit_bias",
        "presence_penalty", "frequency_penalty", "parallel_tool_calls", "store", "metadata",
        "user", "reasoning_effort", "modalities", "prediction", "audio", "web_search_options",
        "service_tier", "max_completion_tokens", "functions", "function_call", "verbosity",
    }
)  # fmt: skip
# OpenAI's newer models take instructions as "developer" messages: a system prompt by another name.
_SYSTEM_ROLES = ("system", "developer")
_GEMINI_CONFIG = {
    "temperature": "temperature",
    "stop": "stopSequences",
    "n": "candidateCount",
    "max_tokens": "maxOutputTokens",
    "top_k": "topK",
    "top_p": "topP",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
}


class Translation:
    """One call's provider request (``path`` under the provider's base URL, ``body``) and its answers."""

    def __init__(
        self,
        path: str,
        body: dict[str, Any],
        answer: Callable[[Any], dict[str, Any]],
        events: Callable[[], Callable[[dict[str, Any]], list[dict[str, Any]]]] | None = None,
    ) -> None:
        self.path, self.body = path, body
        self._answer, self._events = answer, events

    def answer(self, provider_answer: Any) -> dict[str, Any]:
        """The provider's JSON answer in OpenAI's shape (never raises on an odd answer)."""
        return self._answer(provider_answer if isinstance(provider_answer, dict) else {})

    async def stream(self, lines: AsyncIterator[str]) -> AsyncIterator[str]:
        """The provider's event-stream lines as OpenAI's (``data: {chunk}``, a blank line, ...)."""
        convert = self._events() if self._events is not None else (lambda event: [])
        data: list[str] = []

        def flush() -> list[str]:
            out: list[str] = []
            if data:
                try:
                    event = json.loads("\n".join(data))
                except ValueError:
                    event = None
                data.clear()
                if isinstance(event, dict):
                    for chunk in convert(event):
                        out += [f"data: {json.dumps(chunk)}", ""]
            return out

        async for line in lines:
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line.strip():
                for out in flush():
                    yield out
        for out in flush():
            yield out
        # No ``data: [DONE]``, as MLflow's translated streams: the body's end is the stream's end, so
        # a client that stops reading at [DONE] still waits until the call is counted and traced.


def translates(request_type: str, provider: str) -> bool:
    """Whether an OpenAI-format call of ``request_type`` to ``provider``'s models is translated."""
    return (request_type, wire(provider)) in _BUILDERS


def translation(request_type: str, provider: str, model: str, body: dict[str, Any]) -> Translation | None:
    """The translated call, or None when the provider takes the request as it is; 400 on bad input."""
    build = _BUILDERS.get((request_type, wire(provider)))
    return build(model, body) if build is not None else None


# ---------------------------------------------------------------------------------- shared
def _check_chat(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("Invalid chat payload: 'messages' must be a non-empty list of messages.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise invalid(f"Invalid chat payload: messages[{i}] must be an object with a 'role'.")
        if m.get("content") is not None and not isinstance(m["content"], (str, list)):
            raise invalid(f"Invalid chat payload: messages[{i}].content must be a string or a list.")
    for field, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(field)
        if value is not None and (not _number(value) or not low <= value <= high):
            raise invalid(f"Invalid chat payload: '{field}' must be a number from {low} to {high}.")
    for field in ("n", "max_tokens", "max_completion_tokens", "top_k"):
        value = body.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise invalid(f"Invalid chat payload: '{field}' must be an integer of 1 or more.")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not _strings(stop):
        raise invalid("Invalid chat payload: 'stop' must be a string or a list of strings.")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise invalid("Invalid chat payload: 'tools' must be a list of tool objects.")
    return messages


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(s, str) for s in value)


def _stops(stop: Any) -> list[str]:
    return [stop] if isinstance(stop, str) else list(stop)


def _text(content: Any) -> str:
    """Message content as text (a string, or the text parts of a list)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _arguments(call: dict[str, Any]) -> Any:
    raw = (call.get("function") or {}).get("arguments") or "{}"
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise invalid(
            f"Invalid chat payload: tool call {call.get('id')!r} has arguments that are not JSON."
        ) from None


def _function_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for tool in tools:
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise invalid(
                f"Only function calling tool is supported, but received tool type {tool.get('type')}"
            )
        found.append(tool["function"])
    return found


def _chunk(id_: str, model: str, choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
    chunk = {"id": id_, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
             "choices": choices}  # fmt: skip
    if usage:
        chunk["usage"] = usage
    return chunk


def _error_chunk(error: Any) -> dict[str, Any]:
    """A provider's error event as MLflow streams one: ``{"error": {"message", "type"}}``."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    kind = error.get("type") or error.get("status") or "error"
    return {"error": {"message": str(error.get("message") or error), "type": str(kind)}}


# ------------------------------------------------------------------------------- Anthropic
def _anthropic_parts(content: list[Any]) -> list[Any]:
    parts: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if found := _DATA_URL.match(url):
                source = {"type": "base64", "media_type": found["mime"], "data": found["data"]}
                parts.append({"type": "image", "source": source})
            else:
                parts.append({"type": "text", "text": f"[unsupported image reference: {url}]"})
        else:
            parts.append(part)
    return parts


def _anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for m in messages:
        role, content = m["role"], m.get("content")
        if role == "user":
            converted.append({"role": "user", "content": _anthropic_parts(content) if isinstance(content, list)
                              else (content or "")})  # fmt: skip
        elif role == "assistant":
            if m.get("tool_calls"):
                blocks: list[Any] = [{"type": "text", "text": t}] if (t := _text(content)) else []
                blocks += [
                    {"type": "tool_use", "id": c.get("id"), "name": (c.get("function") or {}).get("name"),
                     "input": _arguments(c)}
                    for c in m["tool_calls"] if isinstance(c, dict)
                ]  # fmt: skip
                converted.append({"role": "assistant", "content": blocks})
            else:
                converted.append({"role": "assistant", "content": content or ""})
        elif role == "tool":
            result = {"type": "tool_result", "tool_use_id": m.get("tool_call_id"), "content": content or ""}
            last = converted[-1] if converted else None
            if (
                last
                and last["role"] == "user"
                and isinstance(last["content"], list)
                and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"])
            ):
                last["content"].append(result)  # parallel calls: their results in one user turn
            else:
                converted.append({"role": "user", "content": [result]})
    return converted


def _anthropic_request(model: str, body: dict[str, Any]) -> Translation:
    messages = _check_chat(body)
    if body.get("top_p") is not None and body.get("temperature") is not None:
        raise invalid("Cannot set both 'temperature' and 'top_p' parameters.")
    if (n := body.get("n")) not in (None, 1):
        raise invalid(f"'n' must be '1' for the Anthropic provider. Received value: '{n}'.")
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or ANTHROPIC_DEFAULT_MAX_TOKENS
    if max_tokens > ANTHROPIC_MAXIMUM_MAX_TOKENS:
        raise invalid(f"Invalid value for max_tokens: cannot exceed {ANTHROPIC_MAXIMUM_MAX_TOKENS}.")
    sent: dict[str, Any] = {k: v for k, v in body.items() if k not in _NOT_FOR_ANTHROPIC and v is not None}
    sent.update(model=model, max_tokens=max_tokens, messages=_anthropic_messages(messages))
    if "stop" in sent:
        sent["stop_sequences"] = _stops(sent.pop("stop"))
    if systems := [m for m in messages if m["role"] in _SYSTEM_ROLES]:
        sent["system"] = "\n".join(_text(m.get("content")) for m in systems)
    if "temperature" in sent:
        sent["temperature"] = 0.5 * sent["temperature"]
    if isinstance(body.get("user"), str):
        sent["metadata"] = {"user_id": body["user"]}
    if tools := sent.pop("tools", None):
        sent["tools"] = [
            {k: v for k, v in (("name", f.get("name")), ("description", f.get("description")),
                               ("input_schema", f.get("parameters") or {"type": "object", "properties": {}}))
             if v is not None}
            for f in _function_tools(tools)
        ]  # fmt: skip
    choice = sent.pop("tool_choice", None)
    match choice:
        case "none" | "auto":
            sent["tool_choice"] = {"type": choice}
        case "required":
            sent["tool_choice"] = {"type": "any"}
        case {"type": "function", "function": {"name": name}}:
            sent["tool_choice"] = {"type": "tool", "name": name}
    if body.get("parallel_tool_calls") is False and sent.get("tools") and choice != "none":
        sent.setdefault("tool_choice", {"type": "auto"})["disable_parallel_tool_use"] = True
    _anthropic_format(sent, sent.pop("response_format", None))
    return Translation("/messages", sent, _anthropic_answer, _AnthropicStream)


def _anthropic_format(sent: dict[str, Any], response_format: Any) -> None:
    """``response_format`` as Anthropic's structured output (a schema) or a JSON-only instruction."""
    if not isinstance(response_format, dict):
        return
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        schema = response_format["json_schema"].get("schema") or {}
        if _strict(schema):
            sent["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    elif response_format.get("type") == "json_object":
        note = (
            "Respond with only a single valid JSON object. Do not include any explanatory text, "
            "markdown, or code fences before or after the JSON object."
        )
        sent["system"] = f"{sent['system']}\n{note}" if sent.get("system") else note


def _strict(schema: Any) -> bool:
    """Set ``additionalProperties: false`` on every object node; False when one has no properties."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            if "properties" not in schema:
                return False  # a free-form dict: Anthropic cannot say it, the model answers in text
            schema["additionalProperties"] = False
        return all(_strict(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_strict(v) for v in schema)
    return True


_ANTHROPIC_FINISH = {"max_tokens": "length", "tool_use": "tool_calls"}


def _anthropic_usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    found: dict[str, Any] = {}
    read, created = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    if isinstance(inp := usage.get("input_tokens"), int):
        found["prompt_tokens"] = inp + (read or 0) + (created or 0)  # as OpenAI counts: cache included
    if isinstance(out := usage.get("output_tokens"), int):
        found["completion_tokens"] = out
    if "prompt_tokens" in found and "completion_tokens" in found:
        found["total_tokens"] = found["prompt_tokens"] + found["completion_tokens"]
    if read is not None:
        found["prompt_tokens_details"] = {"cached_tokens": read}
    if created is not None:
        found["cache_creation_input_tokens"] = created
    return found


def _anthropic_answer(resp: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in resp.get("content") or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "thinking":  # MLflow keeps Claude's thinking as text
            texts.append(block.get("thinking", ""))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input"))}})  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": resp.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _ANTHROPIC_FINISH.get(resp.get("stop_reason"), "stop"),
            }
        ],
        "usage": _anthropic_usage(resp.get("usage")),
    }


class _AnthropicStream:
    """Anthropic's stream events -> OpenAI chunks: text and tool-call deltas, the stop reason with the usage."""

    def __init__(self) -> None:
        self.id, self.model, self.usage = "", "", {}
        self.tools: dict[int, int] = {}  # content block index -> tool call index
        self.role_sent = False

    def __call__(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            self.id, self.model = message.get("id") or "", message.get("model") or ""
            self.usage.update(message.get("usage") or {})
            return []
        if kind == "error":
            return [_error_chunk(event.get("error"))]
        block = event.get("content_block") if kind == "content_block_start" else event.get("delta")
        block = block if isinstance(block, dict) else {}
        delta: dict[str, Any]
        finish = None
        usage = None
        if kind == "content_block_start" and block.get("type") == "tool_use":
            index = self.tools.setdefault(event.get("index", 0), len(self.tools))
            delta = {"tool_calls": [{"index": index, "id": block.get("id"), "type": "function",
                                     "function": {"name": block.get("name"), "arguments": ""}}]}  # fmt: skip
        elif kind == "content_block_delta" and block.get("type") == "input_json_delta":
            index = self.tools.get(event.get("index", 0), 0)
            delta = {
                "tool_calls": [{"index": index, "function": {"arguments": block.get("partial_json", "")}}]
            }
        elif kind in ("content_block_start", "content_block_delta"):
            text = block.get("text")
            if text is None:
                return []  # thinking (MLflow streams it not), signatures: OpenAI has no field for them
            delta = {"content": text}
        elif kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            finish = _ANTHROPIC_FINISH.get(block.get("stop_reason"), "stop")
            delta, usage = {}, _anthropic_usage(self.usage)
        else:
            return []
        if not self.role_sent:
            delta, self.role_sent = {"role": "assistant", **delta}, True
        return [_chunk(self.id, self.model, [{"index": 0, "delta": delta, "finish_reason": finish}], usage)]


# ---------------------------------------------------------------------------------- Gemini
def _gemini_parts(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"text": content or ""}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if found := _DATA_URL.match(url):
                parts.append({"inlineData": {"mimeType": found["mime"], "data": found["data"]}})
            else:
                parts.append({"text": f"[unsupported image reference: {url}]"})
        else:
            parts.append(part)
    return parts


def _tool_response(content: Any) -> dict[str, Any]:
    """A tool result as Gemini's ``functionResponse.response`` (an object: JSON kept, else wrapped)."""
    try:
        parsed = json.loads(content)
    except (TypeError, ValueError):
        return {"result": content}
    return parsed if isinstance(parsed, dict) else {"result": parsed}


def _gemini_contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    contents: list[dict[str, Any]] = []
    system: dict[str, Any] | None = None
    names: dict[str, str] = {}  # tool call id -> function name (Gemini's functionResponse needs it)
    for m in messages:
        role = m["role"]
        if role in _SYSTEM_ROLES:
            system = system or {"parts": []}
            system["parts"].append({"text": _text(m.get("content"))})
        elif role == "assistant" and m.get("tool_calls"):
            parts = []
            for call in m["tool_calls"]:
                name = (call.get("function") or {}).get("name")
                names[call.get("id")] = name
                part: dict[str, Any] = {
                    "functionCall": {"id": call.get("id"), "name": name, "args": _arguments(call)}
                }
                if signature := call.get("thought_signature"):
                    part["thoughtSignature"] = signature
                parts.append(part)
            contents.append({"role": "model", "parts": parts})
        elif role in ("user", "assistant"):
            contents.append(
                {"role": "model" if role == "assistant" else "user", "parts": _gemini_parts(m.get("content"))}
            )
        elif role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in names:
                raise invalid(
                    f"Invalid tool message: tool_call_id={call_id} does not match any tool call in a "
                    "preceding assistant message."
                )
            answer = {"functionResponse": {"id": call_id, "name": names[call_id],
                                           "response": _tool_response(m.get("content"))}}  # fmt: skip
            last = contents[-1] if contents else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(answer)  # Gemini wants a turn's responses together
            else:
                contents.append({"role": "user", "parts": [answer]})
    return contents, system


def _gemini_request(model: str, body: dict[str, Any]) -> Translation:
    messages = _check_chat(body)
    for ours, theirs in _GEMINI_CONFIG.items():
        if theirs in body and theirs != ours:
            raise invalid(f"Invalid parameter {theirs}. Use {ours} instead.")
    contents, system = _gemini_contents(messages)
    sent: dict[str, Any] = {"contents": contents}
    if system:
        sent["system_instruction"] = system
    options = {**body}
    if options.get("max_tokens") is None and options.get("max_completion_tokens") is not None:
        options["max_tokens"] = options["max_completion_tokens"]
    config = {
        theirs: options[ours] for ours, theirs in _GEMINI_CONFIG.items() if options.get(ours) is not None
    }
    if "stopSequences" in config:
        config["stopSequences"] = _stops(config["stopSequences"])
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object"):
        config["responseMimeType"] = "application/json"
        if response_format["type"] == "json_schema" and isinstance(response_format.get("json_schema"), dict):
            config["responseJsonSchema"] = response_format["json_schema"].get("schema")
    if config:
        sent["generationConfig"] = config
    if tools := body.get("tools"):
        declarations = [
            {k: v for k, v in (("name", f.get("name")), ("description", f.get("description")),
                               ("parametersJsonSchema", f.get("parameters"))) if v is not None}
            for f in _function_tools(tools)
        ]  # fmt: skip
        sent["tools"] = [{"functionDeclarations": declarations}]
        match body.get("tool_choice"):
            case "none":
                sent["toolConfig"] = {"functionCallingConfig": {"mode": "NONE"}}
            case "required":
                sent["toolConfig"] = {"functionCallingConfig": {"mode": "ANY"}}
            case {"type": "function", "function": {"name": name}}:
                sent["toolConfig"] = {
                    "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}
                }
    action = "streamGenerateContent?alt=sse" if body.get("stream") else "generateContent"
    return Translation(
        f"/models/{model}:{action}",
        sent,
        lambda resp: _gemini_answer(resp, model),
        lambda: _GeminiStream(model),
    )


def _gemini_finish(reason: Any) -> Any:
    if not reason:
        return None
    return "length" if reason == "MAX_TOKENS" else str(reason).lower()


def _gemini_usage(meta: Any) -> dict[str, Any]:
    meta = meta if isinstance(meta, dict) else {}
    found: dict[str, Any] = {
        k: v
        for k, v in meta.items()
        if k not in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "cachedContentTokenCount")
    }
    found.update(prompt_tokens=meta.get("promptTokenCount"), completion_tokens=meta.get("candidatesTokenCount"),
                 total_tokens=meta.get("totalTokenCount"))  # fmt: skip
    if "cachedContentTokenCount" in meta:
        found["prompt_tokens_details"] = {"cached_tokens": meta["cachedContentTokenCount"]}
    return found


def _gemini_message(
    parts: list[Any], finish: Any, offset: int, streaming: bool
) -> tuple[dict[str, Any], Any]:
    """A candidate's parts as an OpenAI message (or delta) and its finish reason."""
    texts, calls = [], []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if "text" in part and not part.get("thought"):
            texts.append(part["text"])
        if isinstance(call := part.get("functionCall"), dict):
            name, arguments = call.get("name"), json.dumps(call.get("args") or {})
            # Gemini may leave the call without an id; OpenAI needs one: a stable one, as MLflow's.
            call_id = (
                call.get("id")
                or "call_" + hashlib.md5(f"{name}/{arguments}".encode(), usedforsecurity=False).hexdigest()
            )
            found: dict[str, Any] = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            if streaming:
                found = {"index": offset + len(calls), **found}
            if signature := part.get("thoughtSignature") or call.get("thoughtSignature"):
                found["thought_signature"] = signature
            calls.append(found)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or streaming else None}
    if calls:
        message["tool_calls"] = calls
        message["content"] = message["content"] or None
        if finish == "stop":
            finish = "tool_calls"
    return message, finish


def _gemini_answer(resp: dict[str, Any], model: str) -> dict[str, Any]:
    choices = []
    for position, candidate in enumerate(resp.get("candidates") or ()):
        if not isinstance(candidate, dict):
            continue
        parts = (candidate.get("content") or {}).get("parts") or []
        message, finish = _gemini_message(
            parts, _gemini_finish(candidate.get("finishReason") or "STOP"), 0, False
        )
        choices.append(
            {"index": candidate.get("index", position), "message": message, "finish_reason": finish}
        )
    return {
        "id": f"gemini-chat-{int(time.time())}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _gemini_usage(resp.get("usageMetadata")),
    }


class _GeminiStream:
    """Gemini's stream events -> OpenAI chunks (function calls come whole; numbered per candidate)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = f"gemini-chat-stream-{uuid.uuid4().hex[:12]}"
        self.calls: dict[int, int] = {}  # candidate index -> tool calls so far

    def __call__(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in event:
            return [_error_chunk(event["error"])]
        choices = []
        for position, candidate in enumerate(event.get("candidates") or ()):
            index = candidate.get("index", position)
            parts = (candidate.get("content") or {}).get("parts") or []
            finish = _gemini_finish(candidate.get("finishReason"))
            delta, finish = _gemini_message(parts, finish, self.calls.get(index, 0), True)
            self.calls[index] = self.calls.get(index, 0) + len(delta.get("tool_calls") or ())
            if finish == "stop" and self.calls.get(index):
                finish = "tool_calls"  # Gemini ends a tool-call stream with a bare STOP chunk
            choices.append({"index": index, "delta": delta, "finish_reason": finish})
        usage = _gemini_usage(event["usageMetadata"]) if event.get("usageMetadata") else None
        return [_chunk(self.id, self.model, choices, usage)]


def _gemini_embeddings(model: str, body: dict[str, Any]) -> Translation:
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not _strings(texts):
        raise invalid("Invalid embeddings payload: 'input' must be a string or a non-empty list of strings.")
    extra = {"outputDimensionality": body["dimensions"]} if isinstance(body.get("dimensions"), int) else {}
    if len(texts) == 1:
        path, sent = f"/models/{model}:embedContent", {"content": {"parts": [{"text": texts[0]}]}, **extra}
    else:
        path = f"/models/{model}:batchEmbedContents"
        sent = {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra}
                             for t in texts]}  # fmt: skip

    def answer(resp: dict[str, Any]) -> dict[str, Any]:
        found = resp.get("embeddings") or [resp.get("embedding") or {}]
        data = [{"object": "embedding", "embedding": (e or {}).get("values", []), "index": i}
                for i, e in enumerate(found)]  # fmt: skip
        # Gemini's embedding API counts no tokens: MLflow answers the usage empty too.
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": None, "total_tokens": None}}  # fmt: skip

    return Translation(path, sent, answer)


_BUILDERS: dict[tuple[str, str], Callable[[str, dict[str, Any]], Translation]] = {
    (UNIFIED_CHAT, "anthropic"): _anthropic_request,
    (UNIFIED_CHAT, "gemini"): _gemini_request,
    (UNIFIED_EMBEDDINGS, "gemini"): _gemini_embeddings,
}


def error_detail(text: str) -> str:
    """The most telling message of a provider's error body (``error.message``, ``message``), else the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    match body:
        case {"error": {"message": str(message)}} if message:
            return message
        case {"message": str(message)} if message:
            return message
    return text
