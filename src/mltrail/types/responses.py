"""``ResponsesAgent``'s request, response and stream events (MLflow's ``mlflow.types.responses``).

The shapes are OpenAI's Responses API: a request's ``input`` is a list of
messages or output items, a response's ``output`` a list of output items, and a
stream is a sequence of events (``response.output_text.delta`` carries text as it
is generated, ``response.output_item.done`` a finished item). The ``create_*``
functions build output items as dicts; the conversions turn Responses items into
chat-completions messages and a chat-completions chunk stream into events.

Example::

    from mltrail.types.responses import ResponsesAgentResponse, create_text_output_item

    ResponsesAgentResponse(output=[create_text_output_item("Hello", id="msg-1")])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from mltrail.types._schema import columns_of, object_of
from mltrail.types.agent import ChatContext
from mltrail.types.responses_helpers import (
    BaseRequestPayload,
    Message,
    OutputItem,
    Response,
    missing_item_fields,
)

__all__ = [
    "RESPONSES_AGENT_INPUT_EXAMPLE",
    "ResponsesAgentRequest",
    "ResponsesAgentResponse",
    "ResponsesAgentStreamEvent",
    "create_annotation_added",
    "create_function_call_item",
    "create_function_call_output_item",
    "create_mcp_approval_request_item",
    "create_mcp_approval_response_item",
    "create_reasoning_item",
    "create_text_delta",
    "create_text_output_item",
    "output_to_responses_items_stream",
    "responses_agent_output_reducer",
    "responses_to_cc",
    "to_chat_completions_input",
]


class ResponsesAgentRequest(BaseRequestPayload):
    """What a ResponsesAgent receives: ``input`` items plus optional context and custom inputs."""

    input: list[Message | OutputItem]
    custom_inputs: dict[str, Any] | None = None
    context: ChatContext | None = None


class ResponsesAgentResponse(Response):
    """What ``ResponsesAgent.predict`` returns: ``output`` items (plus optional custom outputs)."""

    custom_outputs: dict[str, Any] | None = None


# The fields each stream event type must carry.
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "response.output_item.done": ("item",),
    "response.output_text.delta": ("item_id", "delta"),
    "response.output_text.annotation.added": ("item_id", "annotation"),
    "error": ("code", "message"),
    "response.completed": ("response",),
}


class ResponsesAgentStreamEvent(BaseModel):
    """One event of ``ResponsesAgent.predict_stream``; extra fields are kept as given."""

    model_config = ConfigDict(extra="allow")
    type: str
    custom_outputs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_type(self) -> ResponsesAgentStreamEvent:
        extra = self.model_extra or {}
        missing = [f for f in _EVENT_FIELDS.get(self.type, ()) if f not in extra]
        if missing:
            raise ValueError(f"stream event '{self.type}' is missing {', '.join(missing)}")
        if self.type == "response.output_item.done":
            item = extra["item"]
            item = item.model_dump() if isinstance(item, BaseModel) else item
            if not isinstance(item, dict) or "type" not in item:
                raise ValueError("the 'item' of a response.output_item.done event must be an output item")
            lacking = missing_item_fields(item)
            if lacking:
                raise ValueError(f"output item of type '{item['type']}' is missing {', '.join(lacking)}")
        if self.type == "response.completed":
            ResponsesAgentResponse.model_validate(_as_dict(extra["response"]))
        return self


def _as_dict(obj: Any) -> Any:
    return obj.model_dump(exclude_none=True) if isinstance(obj, BaseModel) else obj


RESPONSES_AGENT_INPUT_EXAMPLE: dict[str, Any] = {"input": [{"role": "user", "content": "Hello!"}]}


def __getattr__(name: str) -> Any:
    # The schemas are built on first use: they need the models package.
    if name == "RESPONSES_AGENT_INPUT_SCHEMA":
        value = columns_of(ResponsesAgentRequest)
    elif name == "RESPONSES_AGENT_OUTPUT_SCHEMA":
        value = object_of(ResponsesAgentResponse)
    else:
        raise AttributeError(f"module 'mltrail.types.responses' has no attribute {name!r}")
    globals()[name] = value
    return value


# ------------------------------------------------------------------ output items


def create_text_delta(delta: str, item_id: str) -> dict[str, Any]:
    """A ``response.output_text.delta`` event: ``delta`` text of the message ``item_id``."""
    return {"type": "response.output_text.delta", "item_id": item_id, "delta": delta}


def create_annotation_added(
    item_id: str, annotation: dict[str, Any], annotation_index: int | None = 0
) -> dict[str, Any]:
    """A ``response.output_text.annotation.added`` event (a citation on the message ``item_id``)."""
    return {
        "type": "response.output_text.annotation.added",
        "item_id": item_id,
        "annotation_index": annotation_index,
        "annotation": annotation,
    }


def create_text_output_item(
    text: str, id: str, annotations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An assistant ``message`` output item holding ``text``."""
    return {
        "id": id,
        "content": [{"text": text, "type": "output_text", "annotations": annotations or []}],
        "role": "assistant",
        "type": "message",
    }


def create_reasoning_item(id: str, reasoning_text: str) -> dict[str, Any]:
    """A ``reasoning`` output item with one summary text."""
    return {"type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning_text}], "id": id}


def create_function_call_item(id: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A ``function_call`` output item: the model asks for ``name(**json.loads(arguments))``."""
    return {"type": "function_call", "id": id, "call_id": call_id, "name": name, "arguments": arguments}


def create_function_call_output_item(call_id: str, output: str) -> dict[str, Any]:
    """A ``function_call_output`` item: the result of the call ``call_id``."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def create_mcp_approval_request_item(id: str, arguments: str, name: str, server_label: str) -> dict[str, Any]:
    """An ``mcp_approval_request`` item: an MCP tool call waiting for the user's approval."""
    return {
        "type": "mcp_approval_request",
        "id": id,
        "arguments": arguments,
        "name": name,
        "server_label": server_label,
    }


def create_mcp_approval_response_item(
    id: str, approval_request_id: str, approve: bool, reason: str | None = None
) -> dict[str, Any]:
    """An ``mcp_approval_response`` item: the user's answer to an approval request."""
    return {
        "type": "mcp_approval_response",
        "id": id,
        "approval_request_id": approval_request_id,
        "approve": approve,
        "reason": reason,
    }


def responses_agent_output_reducer(
    chunks: list[ResponsesAgentStreamEvent | dict[str, Any]],
) -> dict[str, Any]:
    """A stream's events as one response: the items of its ``response.output_item.done`` events.

    This is what a traced ``predict_stream`` records as its span's output.
    """
    items = []
    for chunk in chunks:
        chunk = _as_dict(chunk)
        if isinstance(chunk, dict) and chunk.get("type") == "response.output_item.done":
            items.append(_as_dict(chunk["item"]))
    return ResponsesAgentResponse(output=items).model_dump(exclude_none=True)


# ------------------------------------------------------- chat-completions bridge


def _tool_call_message(call_id: str, name: str, arguments: str | None, content: str) -> dict[str, Any]:
    # Some chat models refuse an assistant message with empty content: say what it is.
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"arguments": arguments or "{}", "name": name}}
        ],
    }


def responses_to_cc(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Responses input/output item as chat-completions messages."""
    kind = message.get("type")
    if kind == "function_call":
        return [
            _tool_call_message(message["call_id"], message["name"], message.get("arguments"), "tool call")
        ]
    if kind == "message" and isinstance(message.get("content"), list):
        return [{"role": message["role"], "content": part["text"]} for part in message["content"]]
    if kind == "reasoning":
        return [{"role": "assistant", "content": json.dumps(message["summary"])}]
    if kind == "function_call_output":
        output = message["output"]
        if not isinstance(output, str):
            try:
                output = json.dumps(output)
            except (TypeError, ValueError):
                output = str(output)
        return [{"role": "tool", "content": output, "tool_call_id": message["call_id"]}]
    if kind == "mcp_approval_request":
        return [
            _tool_call_message(
                message["id"], message["name"], message.get("arguments"), "mcp approval request"
            )
        ]
    if kind == "mcp_approval_response":
        return [
            {
                "role": "tool",
                "content": str(message["approve"]),
                "tool_call_id": message["approval_request_id"],
            }
        ]
    keep = ("role", "content", "name", "tool_calls", "tool_call_id")
    filtered = {k: v for k, v in message.items() if k in keep}
    return [filtered] if filtered else []


def to_chat_completions_input(
    responses_input: Sequence[dict[str, Any] | Message | OutputItem],
) -> list[dict[str, Any]]:
    """A request's ``input`` as a chat-completions ``messages`` list."""
    out: list[dict[str, Any]] = []
    for item in responses_input:
        out.extend(
            responses_to_cc(item.model_dump(exclude_none=True) if isinstance(item, BaseModel) else item)
        )
    return out


def output_to_responses_items_stream(
    chunks: Iterator[dict[str, Any]], aggregator: list[dict[str, Any]] | None = None
) -> Generator[ResponsesAgentStreamEvent, None, None]:
    """A chat-completions chunk stream (dicts) as Responses stream events.

    Text becomes ``response.output_text.delta`` events, then one finished ``message``
    item; tool calls (assembled across chunks) become ``function_call`` items. With
    ``aggregator``, every finished item is also appended to it.
    """
    text, reasoning = "", ""
    msg_id: str | None = None
    calls: dict[int, dict[str, Any]] = {}

    def done(item: dict[str, Any]) -> ResponsesAgentStreamEvent:
        if aggregator is not None:
            aggregator.append(item)
        return ResponsesAgentStreamEvent(type="response.output_item.done", item=item)

    for chunk in chunks:
        chunk = _as_dict(chunk)
        if not chunk.get("choices"):
            continue
        delta = chunk["choices"][0].get("delta") or {}
        msg_id = chunk.get("id") or msg_id or str(uuid.uuid4())
        for tc in delta.get("tool_calls") or []:
            idx = tc.get("index", 0)
            fn = tc.get("function") or {}
            if idx not in calls:
                calls[idx] = {
                    "id": tc.get("id"),
                    "name": fn.get("name") or "",
                    "arguments": fn.get("arguments") or "",
                }
            else:
                calls[idx]["arguments"] += fn.get("arguments") or ""
        content = delta.get("content")
        if isinstance(content, list):  # reasoning models send parts
            for part in content:
                if part.get("type") == "reasoning":
                    reasoning += "".join(s.get("text", "") for s in part.get("summary", []))
                elif part.get("type") == "text" and part.get("text"):
                    text += part["text"]
                    yield ResponsesAgentStreamEvent(**create_text_delta(part["text"], item_id=msg_id))
        elif content:
            if reasoning:
                yield done(create_reasoning_item(msg_id, reasoning))
                reasoning = ""
            text += content
            yield ResponsesAgentStreamEvent(**create_text_delta(content, item_id=msg_id))
    if reasoning and msg_id:
        yield done(create_reasoning_item(msg_id, reasoning))
    if text and msg_id:
        yield done(create_text_output_item(text, msg_id))
    for idx in sorted(calls):
        call = calls[idx]
        call_id = call["id"] or str(uuid.uuid4())
        yield done(create_function_call_item(str(uuid.uuid4()), call_id, call["name"], call["arguments"]))
