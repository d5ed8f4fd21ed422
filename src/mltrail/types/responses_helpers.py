"""The OpenAI Responses API objects MLflow's ``ResponsesAgent`` speaks (``mlflow.types.responses_helpers``).

Pydantic models, lenient where the Responses API grows (unknown fields are kept)
and strict where a client relies on a shape: an output item of a known ``type``
must carry that type's fields (a ``message`` its ``id``, ``role`` and ``content``,
a ``function_call`` its ``call_id``, ``name`` and ``arguments`` …).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

# Fields each known output item type must have (the Responses API's required fields).
_REQUIRED_ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "message": ("id", "content", "role"),
    "function_call": ("call_id", "name", "arguments"),
    "function_call_output": ("call_id", "output"),
    "reasoning": ("id", "summary"),
    "mcp_approval_request": ("id", "arguments", "name", "server_label"),
    "mcp_approval_response": ("approval_request_id", "approve"),
}


def missing_item_fields(item: dict[str, Any]) -> list[str]:
    """The required fields an output item of a known type lacks (``[]`` when complete or unknown)."""
    need = _REQUIRED_ITEM_FIELDS.get(str(item.get("type")), ())
    return [f for f in need if item.get(f) is None]


class _Open(BaseModel):
    """A Responses API object: extra fields allowed and kept."""

    model_config = ConfigDict(extra="allow")


class Message(_Open):
    """An input message: ``{"role": "user", "content": "Hello"}`` (content may be a list of parts)."""

    role: str
    content: str | list[dict[str, Any]]
    type: str = "message"


class OutputItem(_Open):
    """An item the agent produced (or one fed back as input): ``message``, ``function_call`` …"""

    type: str

    @model_validator(mode="after")
    def _check_fields(self) -> OutputItem:
        missing = missing_item_fields(self.model_dump())
        if missing:
            raise ValueError(f"output item of type '{self.type}' is missing {', '.join(missing)}")
        return self


class ReasoningParams(_Open):
    effort: str | None = None
    generate_summary: str | None = None


class ToolChoiceFunction(_Open):
    type: str = "function"
    name: str


class Tool(_Open):
    """A tool the model may call (``{"type": "function", "name": ..., "parameters": {...}}``)."""

    type: str


class ResponseError(_Open):
    code: str | None = None
    message: str


class IncompleteDetails(_Open):
    reason: str | None = None


class InputTokensDetails(_Open):
    cached_tokens: int


class OutputTokensDetails(_Open):
    reasoning_tokens: int


class ResponseUsage(_Open):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class Truncation(_Open):
    pass


class BaseRequestPayload(_Open):
    """The Responses API request parameters besides ``input``."""

    background: bool | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ReasoningParams | None = None
    store: bool | None = None
    stream: bool | None = None
    temperature: float | None = None
    text: Any = None
    tool_choice: Any = None
    tools: list[Tool] | None = None
    top_p: float | None = None
    truncation: str | None = None
    user: str | None = None


class Response(_Open):
    """A Responses API response: the output items plus what the API reports about the call."""

    id: str | None = None
    created_at: float | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    object: str = "response"
    output: list[OutputItem]
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    tool_choice: Any = None
    tools: list[Tool] | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    reasoning: ReasoningParams | None = None
    status: str | None = None
    text: Any = None
    truncation: str | None = None
    usage: ResponseUsage | None = None
    user: str | None = None
