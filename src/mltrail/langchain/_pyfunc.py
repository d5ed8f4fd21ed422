"""A loaded LangChain Runnable as a pyfunc model: ``invoke`` for one input, ``batch`` for many, ``stream``.

As MLflow's LangChain pyfunc wrapper: a dict or string is one input (the answer
is the chain's output), a list is a batch (a list of outputs), a DataFrame is a
batch of its rows; ``predict_stream`` streams one input's chunks. ``params`` are
passed to the Runnable as its ``config``.

A chat-completions request (``{"messages": [{"role": ..., "content": ...}]}`` and
nothing else) sent to a chain that does not take a ``messages`` field itself (nor a
LangGraph graph) becomes LangChain messages, and a text or ``AIMessage`` answer
becomes a ``chat.completion`` (chunks: ``chat.completion.chunk``), as MLflow does.
``MLFLOW_CONVERT_MESSAGES_DICT_FOR_LANGCHAIN=true/false`` forces the choice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid

_CONVERT_ENV = "MLFLOW_CONVERT_MESSAGES_DICT_FOR_LANGCHAIN"


def _inputs(data: Any) -> tuple[Any, bool]:
    """``(input or inputs, is_batch)``."""
    if type(data).__name__ == "DataFrame":
        rows = data.to_dict(orient="records")
        if list(data.columns) == [0]:  # a single unnamed column: the values themselves
            rows = [r[0] for r in rows]
        return rows, True
    if isinstance(data, list):
        return data, True
    if hasattr(data, "tolist") and not isinstance(data, str | bytes):
        return data.tolist(), True
    return data, False


def _is_chat_request(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == ["messages"] and isinstance(value["messages"], list)


def _takes_messages_itself(chain: Any) -> bool:
    """A LangGraph graph or a chain with a ``messages`` input field handles ``messages`` on its own."""
    if type(chain).__name__ == "CompiledStateGraph":
        return True
    try:
        return "messages" in set(chain.input_schema.model_fields)
    except Exception:  # a Runnable without a pydantic input schema
        return False


def _to_messages(request: dict[str, Any]) -> list[Any]:
    from langchain_core.messages import convert_to_messages

    for m in request["messages"]:
        if not isinstance(m, dict) or "role" not in m:
            raise invalid("Each chat message must be an object with 'role' and 'content'")
    try:
        return convert_to_messages(request["messages"])
    except (ValueError, NotImplementedError) as err:
        raise invalid(f"Invalid chat messages: {err}") from None


def _text_and_id(answer: Any) -> tuple[str | None, str | None] | None:
    if isinstance(answer, str):
        return str(answer), None
    if type(answer).__name__ in ("AIMessage", "AIMessageChunk"):
        content = answer.content if isinstance(answer.content, str) else str(answer.content)
        return content, getattr(answer, "id", None)
    return None


def _as_completion(answer: Any) -> Any:
    found = _text_and_id(answer)
    if found is None:
        return answer
    text, msg_id = found
    out: dict[str, Any] = {
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }
    if msg_id:
        out["id"] = msg_id
    return out


def _as_chunk(chunk: Any) -> Any:
    found = _text_and_id(chunk)
    if found is None:
        return chunk
    text, msg_id = found
    out: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}],
    }
    if msg_id:
        out["id"] = msg_id
    return out


class LangChainModelWrapper:
    """``predict`` / ``predict_stream`` over a LangChain Runnable."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def get_raw_model(self) -> Any:
        return self.chain

    def _chat(self, value: Any) -> bool:
        forced = os.environ.get(_CONVERT_ENV)
        if forced is not None:
            return forced.strip().lower() in ("1", "true", "yes") and _is_chat_request(value)
        return _is_chat_request(value) and not _takes_messages_itself(self.chain)

    def _one(self, value: Any, config: dict[str, Any] | None) -> Any:
        if self._chat(value):
            answer = (
                self.chain.invoke(_to_messages(value), config=config)
                if config
                else self.chain.invoke(_to_messages(value))
            )
            return _as_completion(answer)
        return self.chain.invoke(value, config=config) if config else self.chain.invoke(value)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        inputs, batch = _inputs(data)
        config = params or None
        if not batch:
            return self._one(inputs, config)
        if any(self._chat(v) for v in inputs):
            return [self._one(v, config) for v in inputs]
        return self.chain.batch(inputs, config=config) if config else self.chain.batch(inputs)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        inputs, batch = _inputs(data)
        if batch:
            if len(inputs) != 1:
                raise invalid("predict_stream takes one input (a dict or a string), not a batch")
            inputs = inputs[0]
        chat = self._chat(inputs)
        value = _to_messages(inputs) if chat else inputs
        stream = self.chain.stream(value, config=params) if params else self.chain.stream(value)
        return (_as_chunk(c) for c in stream) if chat else iter(stream)
