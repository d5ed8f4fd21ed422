"""Loader of ``ResponsesAgent`` models (``loader_module: mlflow.pyfunc.loaders.responses_agent``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid
from mltrail.pyfunc._agent_wrapping import validate_request
from mltrail.pyfunc.loaders._common import AgentWrapper, as_dict, load_model_and_context, request_dict


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None) -> ResponsesAgentWrapper:
    return ResponsesAgentWrapper(*load_model_and_context(model_path, model_config))


def _checked(result: Any, cls_name: str) -> dict[str, Any]:
    import pydantic

    from mltrail.types import responses

    out = as_dict(result)
    try:
        getattr(responses, cls_name).model_validate(out)
    except pydantic.ValidationError as err:
        raise invalid(
            f"Model returned an invalid response. Expected a {cls_name} object or dictionary: {err}"
        ) from None
    return out


class ResponsesAgentWrapper(AgentWrapper):
    """``predict(request dict) -> response dict`` and ``predict_stream`` -> event dicts."""

    def _request(self, model_input: Any) -> dict[str, Any]:
        request = request_dict(model_input)
        request.pop("stream", None)  # how to answer is the caller's choice, not the agent's input
        from mltrail.types.responses import ResponsesAgentRequest

        validate_request(ResponsesAgentRequest, request, "ResponsesAgent")
        return request

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _checked(self.model.predict(self._request(model_input)), "ResponsesAgentResponse")

    def predict_stream(
        self, model_input: Any, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        request = self._request(model_input)
        for event in self.model.predict_stream(request):
            yield _checked(event, "ResponsesAgentStreamEvent")
