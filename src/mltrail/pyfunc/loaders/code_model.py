"""Loader of models-from-code (``loader_module: mlflow.pyfunc.loaders.code_model``).

MLflow writes this loader for every model saved from a code file; what the file
sets as the model decides the wrapper: an agent or chat model gets its own, any
other model the plain python-model one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltrail.models.model import get_flavor_configuration
from mltrail.pyfunc.loaders import chat_agent, chat_model, responses_agent
from mltrail.pyfunc.loaders._saving import agent_kind
from mltrail.pyfunc.model import load_python_model


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None) -> Any:
    conf = get_flavor_configuration(model_path, "python_function")
    impl = load_python_model(Path(model_path), conf, model_config)
    kind = agent_kind(impl.python_model)
    if kind == "responses_agent":
        return responses_agent.ResponsesAgentWrapper(impl.python_model, impl.context)
    if kind == "chat_agent":
        return chat_agent.ChatAgentWrapper(impl.python_model, impl.context)
    if kind == "chat_model":
        return chat_model.ChatModelWrapper(impl.python_model, impl.context)
    return impl
