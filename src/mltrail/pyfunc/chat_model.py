"""``ChatModel``: a chat-completions model with a standard signature (MLflow's ``mlflow.pyfunc.ChatModel``).

Implement ``predict(context, messages, params)`` returning a
:class:`~mltrail.types.llm.ChatCompletionResponse` (and optionally
``predict_stream`` yielding :class:`~mltrail.types.llm.ChatCompletionChunk`). Logged
with ``mltrail.pyfunc.log_model``, it gets the chat signature and the
``agent/v1/chat`` task; loaded, it takes OpenAI-style request dicts; served, it
answers ``{"messages": [...]}`` bodies with chat completions (server-sent events
with ``"stream": true``). Each call is traced as a ``CHAT_MODEL`` span.

Example::

    class Echo(ChatModel):
        def predict(self, context, messages, params):
            reply = ChatMessage(role="assistant", content=messages[-1].content)
            return ChatCompletionResponse(choices=[ChatChoice(message=reply)])
"""

from __future__ import annotations

import importlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from mltrail.pyfunc._agent_wrapping import from_mlflow, wrap_method
from mltrail.pyfunc.model import PythonModel, PythonModelContext

if TYPE_CHECKING:
    from mltrail.types.llm import ChatCompletionChunk, ChatCompletionResponse, ChatMessage, ChatParams

CHAT_MODEL = "CHAT_MODEL"


def _to_foreign(result: Any, like: Any) -> Any:
    """``result`` as the official mlflow's class of the same name (mlflow's loader checks the type)."""
    module = importlib.import_module(type(like).__module__)
    cls = getattr(module, type(result).__name__, None)
    return cls.from_dict(result.to_dict()) if cls is not None and hasattr(result, "to_dict") else result


def _chat_input(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
    from mltrail.types.llm import ChatMessage, ChatParams

    args = list(args)  # type: ignore[assignment]
    # predict(self, context, messages, params) or predict(self, messages, params)
    offset = 2 if len(args) >= 4 else 1
    names = ("messages", "params")
    values = [
        kwargs.get(n, args[offset + i] if len(args) > offset + i else None) for i, n in enumerate(names)
    ]
    messages, params = values
    if isinstance(messages, list):
        messages = [ChatMessage.from_dict(m) if isinstance(m, dict) else m for m in messages]
    if isinstance(params, dict):
        params = ChatParams.from_dict(params)
    for name, value, i in (("messages", messages, 0), ("params", params, 1)):
        if name in kwargs:
            kwargs[name] = value
        elif len(args) > offset + i:
            args[offset + i] = value  # type: ignore[index]
    return tuple(args), kwargs, False


def chat_model_output_reducer(chunks: list[Any]) -> dict[str, Any]:
    """A chat stream as one ``chat.completion``: the deltas' text joined per choice."""
    choices: dict[int, dict[str, Any]] = {}
    last: dict[str, Any] = {}
    for chunk in chunks:
        chunk = chunk.to_dict() if hasattr(chunk, "to_dict") else chunk
        last = chunk
        for choice in chunk.get("choices") or []:
            entry = choices.setdefault(
                choice.get("index", 0),
                {"index": choice.get("index", 0), "message": {"role": "assistant", "content": ""}},
            )
            delta = choice.get("delta") or {}
            entry["message"]["content"] += delta.get("content") or ""
            if delta.get("tool_calls"):
                entry["message"].setdefault("tool_calls", []).extend(delta["tool_calls"])
            if choice.get("finish_reason"):
                entry["finish_reason"] = choice["finish_reason"]
    out = {"object": "chat.completion", "choices": [choices[i] for i in sorted(choices)]}
    for key in ("id", "model", "created", "usage", "custom_outputs"):
        if last.get(key) is not None:
            out[key] = last[key]
    return out


def _wrap(func: Any, stream: bool) -> Any:
    wrapped = wrap_method(
        func,
        span_type=CHAT_MODEL,
        reducer=chat_model_output_reducer if stream else None,
        convert_input=_chat_input,
        stream=stream,
    )
    # When the official mlflow calls (its own ChatMessage objects), answer with its classes.
    import functools

    if stream:

        @functools.wraps(wrapped)
        def stream_call(self: Any, *args: Any, **kwargs: Any) -> Any:
            like = _first_message(args, kwargs)
            for chunk in wrapped(self, *args, **kwargs):
                yield _to_foreign(chunk, like) if like is not None else chunk

        stream_call.__mltrail_agent_wrapped__ = True  # type: ignore[attr-defined]
        return stream_call

    @functools.wraps(wrapped)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        like = _first_message(args, kwargs)
        result = wrapped(self, *args, **kwargs)
        return _to_foreign(result, like) if like is not None else result

    call.__mltrail_agent_wrapped__ = True  # type: ignore[attr-defined]
    return call


def _first_message(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An mlflow ``ChatMessage`` among the arguments, if mlflow is the caller (else None)."""
    candidates = [kwargs.get("messages"), *args]
    for value in candidates:
        if isinstance(value, list) and value and from_mlflow(value[0]):
            return value[0]
    return None


class ChatModel(PythonModel):
    """A chat model: ``predict(context, messages, params) -> ChatCompletionResponse``."""

    _skip_type_hint_validation = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("predict", "predict_stream"):
            attr = cls.__dict__.get(name)
            if callable(attr) and not getattr(attr, "__mltrail_agent_wrapped__", False):
                setattr(cls, name, _wrap(attr, stream=name == "predict_stream"))

    def predict(  # type: ignore[override]
        self, context: PythonModelContext, messages: list[ChatMessage], params: ChatParams
    ) -> ChatCompletionResponse:
        """Answer ``messages`` (with sampling ``params``) as a chat completion."""
        raise NotImplementedError("Subclasses of ChatModel must implement predict()")

    def predict_stream(
        self, context: PythonModelContext, messages: list[ChatMessage], params: ChatParams
    ) -> Generator[ChatCompletionChunk, None, None]:
        """Answer ``messages`` as a stream of chat completion chunks."""
        raise NotImplementedError(
            "Streaming implementation not provided. Please override the "
            "`predict_stream` method on your model to generate streaming predictions"
        )
