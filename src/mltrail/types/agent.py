"""``ChatAgent``'s request, response and stream chunk (MLflow's ``mlflow.types.agent``).

Example::

    from mltrail.types.agent import ChatAgentMessage, ChatAgentResponse

    ChatAgentResponse(messages=[ChatAgentMessage(role="assistant", content="Hi", id="m1")])
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from mltrail.types._schema import columns_of


class FunctionCall(BaseModel):
    """The function a tool call names, with its JSON-encoded arguments."""

    name: str
    arguments: str


class ToolCall(BaseModel):
    """One tool call of an assistant message."""

    id: str
    type: str = "function"
    function: FunctionCall


class ChatUsage(BaseModel):
    """Token counts of one call."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ChatAgentMessage(BaseModel):
    """A message in a ChatAgent conversation.

    ``content`` may be left out when ``tool_calls`` is given; a ``tool`` message needs
    ``name`` and ``tool_call_id``.
    """

    role: str
    content: str | None = None
    name: str | None = None
    id: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    attachments: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check(self) -> ChatAgentMessage:
        if self.content is None and self.tool_calls is None:
            raise ValueError("Either 'content' or 'tool_calls' must be provided.")
        if self.role == "tool" and (not self.name or not self.tool_call_id):
            raise ValueError("Both 'name' and 'tool_call_id' must be provided for tool messages.")
        return self


class ChatContext(BaseModel):
    """Who is asking, and in which conversation."""

    conversation_id: str | None = None
    user_id: str | None = None


class ChatAgentRequest(BaseModel):
    """What a ChatAgent receives: the conversation, optional context and custom inputs."""

    messages: list[ChatAgentMessage]
    context: ChatContext | None = None
    custom_inputs: dict[str, Any] | None = None
    stream: bool | None = False


class ChatAgentResponse(BaseModel):
    """What ``ChatAgent.predict`` returns: new messages, each with a unique ``id``."""

    messages: list[ChatAgentMessage]
    finish_reason: str | None = None
    custom_outputs: dict[str, Any] | None = None
    usage: ChatUsage | None = None

    @model_validator(mode="after")
    def _check_ids(self) -> ChatAgentResponse:
        ids = [m.id for m in self.messages]
        if any(i is None for i in ids):
            raise ValueError(
                "All ChatAgentMessage objects in field `messages` must have an ID. "
                "You can use `str(uuid.uuid4())` to generate a unique ID."
            )
        if len(ids) != len(set(ids)):
            raise ValueError("All ChatAgentMessage objects in field `messages` must have unique IDs.")
        return self


class ChatAgentChunk(BaseModel):
    """One event of ``ChatAgent.predict_stream``: a message (or part of one) with its ``id``."""

    delta: ChatAgentMessage
    finish_reason: str | None = None
    custom_outputs: dict[str, Any] | None = None
    usage: ChatUsage | None = None

    @model_validator(mode="after")
    def _check_id(self) -> ChatAgentChunk:
        if self.delta.id is None:
            raise ValueError(
                "The field `delta` of ChatAgentChunk must contain an ID. "
                "You can use `str(uuid.uuid4())` to generate a unique ID."
            )
        return self


CHAT_AGENT_INPUT_EXAMPLE: dict[str, Any] = {"messages": [{"role": "user", "content": "Hello!"}]}


def __getattr__(name: str) -> Any:
    # The schemas are built on first use: they need the models package.
    if name in ("CHAT_AGENT_INPUT_SCHEMA", "CHAT_AGENT_OUTPUT_SCHEMA"):
        value = columns_of(ChatAgentRequest if name.endswith("INPUT_SCHEMA") else ChatAgentResponse)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mltrail.types.agent' has no attribute {name!r}")
