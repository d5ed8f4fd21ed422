"""``ChatModel``'s messages, parameters and responses (MLflow's ``mlflow.types.llm``).

Dataclasses in OpenAI's chat-completions shape. Nested values may be given as
dicts: they become the right class on construction, and ``to_dict`` drops
``None`` fields, as MLflow does.

Example::

    from mltrail.types.llm import ChatChoice, ChatCompletionResponse, ChatMessage

    ChatCompletionResponse(choices=[ChatChoice(message=ChatMessage("assistant", "Hi"))])
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from mltrail.types._schema import columns_of

_T = TypeVar("_T", bound="_BaseDataclass")


def _convert(value: Any, tp: Any) -> Any:
    """``value`` as an instance of ``tp`` when ``tp`` (or its list element) is one of these dataclasses."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is not type(None) and (
                (isinstance(arg, type) and issubclass(arg, _BaseDataclass)) or typing.get_origin(arg) is list
            ):
                return _convert(value, arg)
        return value
    if origin is list and isinstance(value, list):
        (elem,) = typing.get_args(tp) or (Any,)
        return [_convert(v, elem) for v in value]
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(tp)
        return {k: _convert(v, args[1]) for k, v in value.items()} if args else value
    if isinstance(tp, type) and issubclass(tp, _BaseDataclass) and isinstance(value, dict):
        return tp.from_dict(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, _BaseDataclass):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _BaseDataclass:
    """``from_dict`` / ``to_dict`` and dict-to-dataclass conversion of nested fields."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, _convert(getattr(self, f.name), hints[f.name]))

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        """Build from a dict; keys this class does not know are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}.from_dict expects a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as plain JSON values."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) is not None
        }

    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]


@dataclass
class FunctionToolCallArguments(_BaseDataclass):
    name: str
    arguments: str


@dataclass
class ToolCall(_BaseDataclass):
    function: FunctionToolCallArguments
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    type: str = "function"


@dataclass
class ChatMessage(_BaseDataclass):
    """A chat message: ``role`` and ``content`` (text or a list of parts), or tool calls."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.role, str):
            raise ValueError(f"`role` must be a string, got {type(self.role).__name__}")
        if self.content is None and self.tool_calls is None and self.refusal is None:
            raise ValueError("One of `content`, `tool_calls` or `refusal` must be set")


@dataclass
class ChatChoiceDelta(_BaseDataclass):
    role: str | None = "assistant"
    content: str | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None


@dataclass
class ParamProperty(_BaseDataclass):
    type: Literal["string", "number", "integer", "object", "array", "boolean", "null"]
    description: str | None = None
    enum: list[str] | None = None
    items: ParamProperty | None = None


@dataclass
class ToolParamsSchema(_BaseDataclass):
    properties: dict[str, ParamProperty]
    type: Literal["object"] = "object"
    required: list[str] | None = None
    additionalProperties: bool | None = None


@dataclass
class FunctionToolDefinition(_BaseDataclass):
    name: str
    description: str | None = None
    parameters: ToolParamsSchema | None = None
    strict: bool = False

    def to_tool_definition(self) -> ToolDefinition:
        return ToolDefinition(function=self)


@dataclass
class ToolDefinition(_BaseDataclass):
    function: FunctionToolDefinition
    type: Literal["function"] = "function"


@dataclass
class ChatParams(_BaseDataclass):
    """The sampling parameters of a chat request (and ``custom_inputs``, ``tools``)."""

    temperature: float = 1.0
    max_tokens: int | None = None
    stop: list[str] | None = None
    n: int = 1
    stream: bool = False
    top_p: float | None = None
    top_k: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    custom_inputs: dict[str, Any] | None = None
    tools: list[ToolDefinition] | None = None


@dataclass
class ChatCompletionRequest(ChatParams):
    """A chat request: the messages plus :class:`ChatParams`."""

    messages: list[ChatMessage] = field(default_factory=list)


@dataclass
class TopTokenLogProb(_BaseDataclass):
    token: str
    logprob: float
    bytes: list[int] | None = None


@dataclass
class TokenLogProb(_BaseDataclass):
    token: str
    logprob: float
    top_logprobs: list[TopTokenLogProb]
    bytes: list[int] | None = None


@dataclass
class ChatChoiceLogProbs(_BaseDataclass):
    content: list[TokenLogProb] | None = None


@dataclass
class ChatChoice(_BaseDataclass):
    message: ChatMessage
    index: int = 0
    finish_reason: str = "stop"
    logprobs: ChatChoiceLogProbs | None = None


@dataclass
class ChatChunkChoice(_BaseDataclass):
    delta: ChatChoiceDelta
    index: int = 0
    finish_reason: str | None = None
    logprobs: ChatChoiceLogProbs | None = None


@dataclass
class TokenUsageStats(_BaseDataclass):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass
class ChatCompletionResponse(_BaseDataclass):
    """What ``ChatModel.predict`` returns (OpenAI's ``chat.completion`` object)."""

    choices: list[ChatChoice]
    usage: TokenUsageStats | None = None
    id: str | None = None
    model: str | None = None
    object: str = "chat.completion"
    created: int = field(default_factory=lambda: int(time.time()))
    custom_outputs: dict[str, Any] | None = None


@dataclass
class ChatCompletionChunk(_BaseDataclass):
    """One event of ``ChatModel.predict_stream`` (OpenAI's ``chat.completion.chunk``)."""

    choices: list[ChatChunkChoice]
    usage: TokenUsageStats | None = None
    id: str | None = None
    model: str | None = None
    object: str = "chat.completion.chunk"
    created: int = field(default_factory=lambda: int(time.time()))
    custom_outputs: dict[str, Any] | None = None


CHAT_MODEL_INPUT_EXAMPLE: dict[str, Any] = {
    "messages": [{"role": "user", "content": "Hello!"}],
    "temperature": 1.0,
    "max_tokens": 10,
    "stop": ["\n"],
    "n": 1,
    "stream": False,
}


def __getattr__(name: str) -> Any:
    # The schemas are built on first use: they need the models package.
    if name in ("CHAT_MODEL_INPUT_SCHEMA", "CHAT_MODEL_OUTPUT_SCHEMA"):
        cls = ChatCompletionRequest if name == "CHAT_MODEL_INPUT_SCHEMA" else ChatCompletionResponse
        value = columns_of(cls, required=("messages",))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mltrail.types.llm' has no attribute {name!r}")
