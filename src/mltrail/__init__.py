"""mltrail: fast, light, MLflow-compatible experiment tracking, models and serving.

``import mltrail as mlflow`` runs MLflow code unchanged. Nothing heavy is
imported here: every public name is looked up in a table on first access
(PEP 562 module ``__getattr__``), so ``import mltrail`` costs a few
milliseconds and a script pays only for what it uses.

Example::

    import mltrail as mlflow

    mlflow.set_experiment("demo")
    with mlflow.start_run():
        mlflow.log_param("lr", 0.01)
        mlflow.log_metric("loss", 0.25)
"""

from __future__ import annotations

import importlib

from mltrail.version import __version__ as __version__

_FLUENT = "mltrail.tracking.fluent"

# public name -> module that defines it (the attribute has the same name).
_ATTRIBUTES: dict[str, str] = {
    **{
        name: _FLUENT
        for name in (
            "ActiveRun",
            "active_run",
            "create_experiment",
            "delete_experiment",
            "delete_run",
            "delete_tag",
            "end_run",
            "flush_async_logging",
            "get_artifact_uri",
            "get_experiment",
            "get_experiment_by_name",
            "get_parent_run",
            "get_registry_uri",
            "get_run",
            "get_tracking_uri",
            "is_tracking_uri_set",
            "last_active_run",
            "load_table",
            "log_artifact",
            "log_artifacts",
            "log_dict",
            "log_figure",
            "log_image",
            "log_input",
            "log_inputs",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "log_table",
            "log_text",
            "search_experiments",
            "search_runs",
            "set_experiment",
            "set_experiment_tag",
            "set_experiment_tags",
            "set_registry_uri",
            "set_tag",
            "set_tags",
            "set_tracking_uri",
            "start_run",
        )
    },
    "MlflowClient": "mltrail.tracking.client",
    "MlflowException": "mltrail.exceptions",
    "MltrailException": "mltrail.exceptions",
    "register_model": "mltrail.models.registration",
    "validate_evaluation_results": "mltrail.models.evaluation_validation",
    **{
        name: "mltrail.genai.prompts"
        for name in (
            "delete_prompt_alias",
            "load_prompt",
            "register_prompt",
            "search_prompts",
            "set_prompt_alias",
        )
    },
    "autolog": "mltrail.autologging",
    **{
        name: "mltrail.tracking._fluent_models"
        for name in (
            "ActiveModel",
            "clear_active_model",
            "delete_logged_model_tag",
            "finalize_logged_model",
            "get_active_model_id",
            "get_logged_model",
            "initialize_logged_model",
            "last_logged_model",
            "log_model_params",
            "log_outputs",
            "search_logged_models",
            "set_logged_model_tags",
        )
    },
    **{
        name: "mltrail.tracking.workspaces"
        for name in (
            "create_workspace",
            "delete_workspace",
            "get_workspace",
            "list_workspaces",
            "set_workspace",
            "update_workspace",
        )
    },
    # They write an external model's MLmodel file, so they live in the models layer.
    "create_external_model": "mltrail.models.external",
    "set_active_model": "mltrail.models.external",
    **{
        name: "mltrail.tracing.fluent"
        for name in (
            "delete_trace_tag",
            "flush_trace_async_logging",
            "get_current_active_span",
            "get_last_active_trace_id",
            "get_trace",
            "search_traces",
            "set_trace_tag",
            "start_span",
            "trace",
            "update_current_trace",
        )
    },
    **{
        name: "mltrail.tracing.assessments"
        for name in (
            "delete_assessment",
            "get_assessment",
            "log_assessment",
            "log_expectation",
            "log_feedback",
            "override_feedback",
            "update_assessment",
        )
    },
}


def _exported_by(module: str) -> list[str]:
    """The top-level names ``module`` provides: its ``__all__``, kept in this one table."""
    return sorted(name for name, source in _ATTRIBUTES.items() if source == module)


# Aliases: public name -> (module, attribute).
_ALIASES: dict[str, tuple[str, str]] = {
    "Client": ("mltrail.tracking.client", "MlflowClient"),
    "evaluate": ("mltrail.evaluation", "evaluate"),
    "run": ("mltrail.projects", "run"),
}
# Sub-packages reachable as attributes after a bare ``import mltrail`` (``mltrail.pyfunc.PythonModel``).
_SUBMODULES = frozenset(
    {
        "artifacts",
        "client",
        "data",
        "entities",
        "evaluation",
        "exceptions",
        "genai",
        "langchain",
        "lightgbm",
        "metrics",
        "models",
        "openai",
        "projects",
        "pyfunc",
        "pytorch",
        "sklearn",
        "store",
        "tracing",
        "tracking",
        "transformers",
        "types",
        "server",
        "version",
        "xgboost",
    }
)

__all__ = sorted(["__version__", *_ATTRIBUTES, *_ALIASES])


def __getattr__(name: str) -> object:
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    elif name in _ALIASES:
        module, attr = _ALIASES[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ATTRIBUTES, *_ALIASES, *_SUBMODULES})


# ``typing`` costs more to import than this whole module, hence the constant.
TYPE_CHECKING = False
if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from mltrail.exceptions import MlflowException as MlflowException
    from mltrail.exceptions import MltrailException as MltrailException
    from mltrail.tracking.client import MlflowClient as Client  # noqa: F401
    from mltrail.tracking.client import MlflowClient as MlflowClient
    from mltrail.tracking.fluent import *  # noqa: F403
