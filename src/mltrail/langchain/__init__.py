"""LangChain: autologging (every chain, prompt, chat model, parser, retriever and tool call traced) and the flavor.

Example::

    import mltrail as mlflow

    mlflow.langchain.autolog()
    chain = prompt | llm
    with mlflow.start_run():
        chain.invoke({"question": "What is MLflow?"})   # one trace: CHAIN root, CHAT_MODEL child

``save_model`` / ``log_model`` / ``load_model`` save chains from code (MLflow's
``langchain`` flavor, see ``_flavor.py``). ``langchain_core`` is imported only when
:func:`autolog` is called or a model is saved or loaded.
"""

from __future__ import annotations

from typing import Any

from mltrail.langchain._flavor import FLAVOR_NAME, load_model, log_model, save_model
from mltrail.langchain._flavor import _load_pyfunc as _load_pyfunc  # the pyfunc loader entry point


def autolog(
    disable: bool = False,
    log_traces: bool = True,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    **_ignored: Any,
) -> None:
    """Trace LangChain runs through a globally registered callback handler.

    ``disable=True`` (or ``log_traces=False``) stops it. Other MLflow
    arguments (``log_models``, ``log_input_examples`` …) are accepted and ignored.
    """
    from mltrail.langchain._callback import set_enabled

    set_enabled(not disable and log_traces)


def get_callback_handler() -> Any:
    """The handler autolog registers, to pass explicitly (``config={"callbacks": [handler]}``)."""
    from mltrail.langchain._callback import MltrailTracer

    return MltrailTracer()


__all__ = [
    "FLAVOR_NAME",
    "autolog",
    "get_callback_handler",
    "load_model",
    "log_model",
    "save_model",
]
