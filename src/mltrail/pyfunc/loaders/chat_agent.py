"""Loader of ``ChatAgent`` models (``loader_module: mlflow.pyfunc.loaders.chat_agent``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid
from mltrail.pyfunc._agent_wrapping import validate_request
from mltrail.pyfunc.loaders._common import AgentWrapper, as_dict, load_model_and_context, request_dict


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None) -> ChatAgentWrapper:
    return ChatAgentWrapper(*load_model_and_context(model_path, model_config))


def _checked(result: Any, cls_name: str) -> dict[str, Any]:
    import pydantic

    from mltrail.types import agent

    out = as_dict(result)
    try:
        getattr(agent, cls_name).model_validate(out)
    except pydantic.ValidationError as err:
        raise invalid(
            f"Model returned an invalid response. Expected a {cls_name} object or dictionary: {err}"
        ) from None
    return out


class ChatAgentWrapper(AgentWrapper):
    """``predict({"messages": [...], "context": ..., "custom_inputs": ...})`` -> response dict."""

    def _args(self, model_input: Any) -> dict[str, Any]:
        from mltrail.types.agent import ChatAgentRequest

        request = request_dict(model_input)
        request.pop("stream", None)
        validate_request(ChatAgentRequest, request, "ChatAgent")
        return request

    def _call(self, method: Any, request: dict[str, Any]) -> Any:
        # The dict goes to the agent's own wrapper (mltrail's or mlflow's), which builds its objects.
        return method(request)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _checked(self._call(self.model.predict, self._args(model_input)), "ChatAgentResponse")

    def predict_stream(
        self, model_input: Any, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        for chunk in self._call(self.model.predict_stream, self._args(model_input)):
            yield _checked(chunk, "ChatAgentChunk")
