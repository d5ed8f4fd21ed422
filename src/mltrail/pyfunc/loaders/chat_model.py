"""Loader of ``ChatModel`` models (``loader_module: mlflow.pyfunc.loaders.chat_model``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid
from mltrail.pyfunc.loaders._common import AgentWrapper, as_dict, load_model_and_context, request_dict
from mltrail.types.llm import ChatMessage, ChatParams


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None) -> ChatModelWrapper:
    return ChatModelWrapper(*load_model_and_context(model_path, model_config))


class ChatModelWrapper(AgentWrapper):
    """``predict({"messages": [...], "temperature": ...})`` -> a ``chat.completion`` dict."""

    def _args(self, method: Any, model_input: Any) -> list[Any]:
        request = request_dict(model_input)
        raw = request.pop("messages", None)
        if not isinstance(raw, list) or not raw:
            raise invalid("A chat request needs 'messages': a non-empty list of {role, content} objects")
        try:
            messages = [ChatMessage.from_dict(m) for m in raw]
            params = ChatParams.from_dict(request)
        except (TypeError, ValueError) as err:
            raise invalid(f"Invalid chat request: {err}") from None
        parameters = inspect.signature(method).parameters
        if "context" in parameters or len(parameters) == 3:
            return [self.context, messages, params]
        return [messages, params]

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return as_dict(self.model.predict(*self._args(self.model.predict, model_input)))

    def predict_stream(
        self, model_input: Any, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        for chunk in self.model.predict_stream(*self._args(self.model.predict_stream, model_input)):
            yield as_dict(chunk)
