"""``mlflow.tracing.set_span_chat_tools``: record the tools a chat model was offered on its span.

The tools land in the span attribute ``mlflow.chat.tools`` in OpenAI's
function-tool form, which the trace page shows and the tool-call scorers read.

Example::

    with mlflow.start_span("llm", span_type="CHAT_MODEL") as span:
        mlflow.tracing.set_span_chat_tools(span, [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        ])
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import invalid
from mltrail.tracing.span import LiveSpan

CHAT_TOOLS_KEY = "mlflow.chat.tools"


def _tool_dict(tool: Any) -> dict[str, Any]:
    if hasattr(tool, "model_dump"):  # a pydantic ChatTool (MLflow's or OpenAI's types)
        tool = tool.model_dump(exclude_none=True)
    if not isinstance(tool, dict):
        raise invalid(
            f"A chat tool must be a dict like {{'type': 'function', 'function': {{...}}}}, got {tool!r}"
        )
    function = tool.get("function")
    if (
        tool.get("type", "function") != "function"
        or not isinstance(function, dict)
        or not isinstance(function.get("name"), str)
        or not function["name"]
    ):
        raise invalid(
            f"Invalid chat tool {tool!r}: expected {{'type': 'function', 'function': {{'name': ...}}}}"
        )
    return {"type": "function", **tool}


def set_span_chat_tools(span: LiveSpan, tools: list[Any]) -> None:
    """Set ``span``'s chat tools (``mlflow.chat.tools``); ``INVALID_PARAMETER_VALUE`` on a malformed tool."""
    if not isinstance(tools, (list, tuple)):
        raise invalid(f"tools must be a list of chat tools, got {type(tools).__name__}")
    span.set_attribute(CHAT_TOOLS_KEY, [_tool_dict(t) for t in tools])


__all__ = ["set_span_chat_tools"]
