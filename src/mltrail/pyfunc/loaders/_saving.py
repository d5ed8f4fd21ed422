"""Saving an agent or chat model: its kind, loader, fixed signature, ``task`` metadata and checked example.

``mltrail.pyfunc.save_model`` asks :func:`agent_plan` first; for a ``ResponsesAgent``,
``ChatAgent`` or ``ChatModel`` (mltrail's or mlflow's, given as an instance or a
models-from-code file) it returns what MLflow 3.17 writes for that kind:

==================  =========================================  ==================
kind                loader_module                              metadata ``task``
==================  =========================================  ==================
ResponsesAgent      ``mlflow.pyfunc.loaders.responses_agent``  ``agent/v1/responses``
ChatAgent           ``mlflow.pyfunc.loaders.chat_agent``       ``agent/v2/chat``
ChatModel           ``mlflow.pyfunc.loaders.chat_model``       ``agent/v1/chat``
==================  =========================================  ==================

A models-from-code agent gets the same loader (mlflow's kind-specific loaders read
``model_code_path`` too), so the official mlflow loads it whichever library's base
class it subclasses. As in MLflow, the model is run once on the input example (or
a default one) and must answer in its response schema, and a ``signature=`` is refused.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.signature import ModelSignature
from mltrail.pyfunc.model import PythonModelContext, add_code_folder, load_model_from_code

_KINDS = {  # base class name -> (kind, task)
    "ResponsesAgent": ("responses_agent", "agent/v1/responses"),
    "ChatAgent": ("chat_agent", "agent/v2/chat"),
    "ChatModel": ("chat_model", "agent/v1/chat"),
}
_BASE_MODULES = ("mltrail.pyfunc.agents", "mltrail.pyfunc.chat_model", "mlflow.pyfunc.model")


def agent_kind(model: Any) -> str | None:
    """``responses_agent``, ``chat_agent``, ``chat_model`` or None, for mltrail's and mlflow's base classes."""
    for cls in type(model).__mro__:
        if cls.__name__ in _KINDS and cls.__module__ in _BASE_MODULES:
            return _KINDS[cls.__name__][0]
    return None


@dataclass
class AgentPlan:
    """What ``save_model`` writes for an agent or chat model."""

    loader_module: str
    signature: ModelSignature
    input_example: dict[str, Any]
    metadata: dict[str, Any]
    streamable: bool


def agent_plan(
    python_model: Any,
    signature: ModelSignature | None,
    input_example: Any,
    artifacts: dict[str, str] | None,
    model_config: dict[str, Any] | None,
    code_dir: Path | None = None,
) -> AgentPlan | None:
    """The plan for ``python_model`` if it is an agent or chat model, else None."""
    model = python_model
    if isinstance(python_model, str | Path):
        if code_dir is not None:
            add_code_folder(code_dir)
        model = load_model_from_code(Path(python_model), model_config)
    kind = agent_kind(model)
    if kind is None:
        return None
    name = next(n for n, (k, _) in _KINDS.items() if k == kind)
    if signature is not None:
        raise invalid(
            f"{name} subclasses have a standard signature that is set automatically. Please remove "
            "the `signature` parameter from the call to log_model() or save_model()."
        )
    context = PythonModelContext(dict(artifacts or {}), model_config)
    model.load_context(context)
    example = _CHECKS[kind](model, context, input_example)
    streamable = any(
        c.__dict__.get("predict_stream") is not None and c.__module__ not in _BASE_MODULES
        for c in type(model).__mro__
    )
    return AgentPlan(
        loader_module=f"mlflow.pyfunc.loaders.{kind}",
        signature=_signature(kind),
        input_example=example,
        metadata={"task": _KINDS[name][1]},
        streamable=streamable,
    )


def _signature(kind: str) -> ModelSignature:
    if kind == "responses_agent":
        from mltrail.types import responses as mod

        return ModelSignature(mod.RESPONSES_AGENT_INPUT_SCHEMA, mod.RESPONSES_AGENT_OUTPUT_SCHEMA)
    if kind == "chat_agent":
        from mltrail.types import agent as amod

        return ModelSignature(amod.CHAT_AGENT_INPUT_SCHEMA, amod.CHAT_AGENT_OUTPUT_SCHEMA)
    from mltrail.types import llm

    return ModelSignature(llm.CHAT_MODEL_INPUT_SCHEMA, llm.CHAT_MODEL_OUTPUT_SCHEMA)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(exclude_none=True)
    if hasattr(obj, "to_dict") and not isinstance(obj, dict):
        return obj.to_dict()
    return obj


def _validated(cls: Any, value: Any, what: str) -> Any:
    import pydantic

    try:
        return cls.model_validate(_plain(value))
    except pydantic.ValidationError as err:
        raise invalid(f"{what}: {err}") from None


def _check_responses(model: Any, context: Any, example: Any) -> dict[str, Any]:
    from mltrail.types.responses import (
        RESPONSES_AGENT_INPUT_EXAMPLE,
        ResponsesAgentRequest,
        ResponsesAgentResponse,
    )

    example = _plain(example) if example else RESPONSES_AGENT_INPUT_EXAMPLE
    _validated(ResponsesAgentRequest, example, "Invalid input example. Expected a ResponsesAgentRequest dict")
    _validated(
        ResponsesAgentResponse,
        model.predict(dict(example)),
        "Failed to save ResponsesAgent: predict() on the input example did not return a ResponsesAgentResponse",
    )
    return example


def _check_chat_agent(model: Any, context: Any, example: Any) -> dict[str, Any]:
    from mltrail.types.agent import CHAT_AGENT_INPUT_EXAMPLE, ChatAgentRequest, ChatAgentResponse

    example = _plain(example) if example else CHAT_AGENT_INPUT_EXAMPLE
    _validated(ChatAgentRequest, example, "Invalid input example. Expected a ChatAgentRequest dict")
    _validated(
        ChatAgentResponse,
        model.predict(dict(example)),
        "Failed to save ChatAgent: predict() on the input example did not return a ChatAgentResponse",
    )
    return example


def _check_chat_model(model: Any, context: Any, example: Any) -> dict[str, Any]:
    from mltrail.types.llm import CHAT_MODEL_INPUT_EXAMPLE, ChatMessage, ChatParams

    if not example:
        example = CHAT_MODEL_INPUT_EXAMPLE
    elif isinstance(example, list):
        example = {"messages": [_plain(m) for m in example]}
    example = _plain(example)
    if not isinstance(example, dict) or not isinstance(example.get("messages"), list):
        raise invalid("Invalid input example for a ChatModel: expected {'messages': [...], ...}")
    try:
        messages = [ChatMessage.from_dict(_plain(m)) for m in example["messages"]]
        params = ChatParams.from_dict(example)
    except (TypeError, ValueError) as err:
        raise invalid(f"Invalid input example for a ChatModel: {err}") from None
    allowed = ChatParams.keys()
    example = {
        "messages": [m.to_dict() for m in messages],
        **{k: v for k, v in example.items() if k in allowed},
    }
    parameters = inspect.signature(model.predict).parameters
    args = (
        [context, messages, params] if "context" in parameters or len(parameters) == 3 else [messages, params]
    )
    output = model.predict(*args)
    if type(output).__name__ != "ChatCompletionResponse":
        raise invalid(
            "Failed to save ChatModel. Please ensure that the model's predict() method returns a "
            "ChatCompletionResponse object (ChatCompletionResponse.from_dict(output) builds one from a dict)."
        )
    return example


_CHECKS = {
    "responses_agent": _check_responses,
    "chat_agent": _check_chat_agent,
    "chat_model": _check_chat_model,
}
