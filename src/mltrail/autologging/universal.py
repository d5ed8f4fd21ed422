"""``mltrail.autolog()``: enable every autologging integration whose library is installed."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
import threading
from types import ModuleType
from typing import Any

from mltrail.autologging import config, patching
from mltrail.autologging.config import configured_by_user, mark_globally_configured
from mltrail.autologging.hooks import register_post_import_hook
from mltrail.autologging.patching import warn_failure

_log = logging.getLogger(__name__)

# library module -> mltrail module whose ``autolog`` handles it (MLflow's table, our names).
INTEGRATIONS: dict[str, str] = {
    "sklearn": "mltrail.sklearn",
    "xgboost": "mltrail.xgboost",
    "lightgbm": "mltrail.lightgbm",
    "pytorch_lightning": "mltrail.pytorch",
    "lightning": "mltrail.pytorch",
    "transformers": "mltrail.transformers",
    "openai": "mltrail.openai",
    "langchain_core": "mltrail.langchain",
}
# MLflow's flavor names (for ``exclude_flavors``) -> the library modules they cover.
_FLAVORS: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "pytorch": ("pytorch_lightning", "lightning"),
    "transformers": ("transformers",),
    "openai": ("openai",),
    "langchain": ("langchain_core",),
}

_state: dict[str, Any] = {"kwargs": None, "hooked": set()}
_lock = threading.Lock()


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    log_traces: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: dict[str, str] | None = None,
    exclude_flavors: list[str] | None = None,
) -> None:
    """Enable (or with ``disable=True`` disable) autologging for every supported library.

    Libraries already imported are patched at once; the others when they get
    imported (a post-import hook), so ``mltrail.autolog()`` may come first in a
    script. Each integration receives the arguments its own ``autolog`` accepts.
    ``exclude_flavors`` names integrations to leave alone (``["sklearn"]``).

    Example::

        import mltrail as mlflow

        mlflow.autolog()
        RandomForestClassifier().fit(X, y)  # params, metrics and the model are logged
    """
    kwargs = {
        "log_input_examples": log_input_examples,
        "log_model_signatures": log_model_signatures,
        "log_models": log_models,
        "log_datasets": log_datasets,
        "log_traces": log_traces,
        "disable": disable,
        "exclusive": exclusive,
        "disable_for_unsupported_versions": disable_for_unsupported_versions,
        "silent": silent,
        "extra_tags": extra_tags,
    }
    excluded = {lib for flavor in exclude_flavors or () for lib in _FLAVORS.get(flavor, (flavor,))}
    _state["kwargs"] = kwargs
    _state["excluded"] = excluded
    for library in INTEGRATIONS:
        if library in excluded:
            continue
        if library in sys.modules:
            _enable(library)
            continue
        if disable:
            continue  # the hook (if any) reads the latest kwargs when it fires
        with _lock:
            if library in _state["hooked"]:
                continue
            if not _installed(library):
                continue
            _state["hooked"].add(library)
        register_post_import_hook(_on_import, library)


def _installed(library: str) -> bool:
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


def _on_import(module: ModuleType) -> None:
    with _lock:
        _state["hooked"].discard(module.__name__)
    if _state["kwargs"] is not None and module.__name__ not in _state.get("excluded", ()):
        _enable(module.__name__)


def _enable(library: str) -> None:
    """Call the integration's ``autolog`` with the universal kwargs it accepts.

    As in MLflow, an integration the user configured directly
    (``mltrail.sklearn.autolog(max_tuning_runs=2)``) keeps that configuration;
    ``disable=True`` still turns it off.
    """
    target = INTEGRATIONS[library]
    try:
        integration = importlib.import_module(target)
    except ImportError as err:
        _log.debug("no mltrail integration %s for %s: %s", target, library, err)
        return
    except Exception as err:  # a broken integration module must not break the user's script
        warn_failure(target.rsplit(".", 1)[-1], "could not import the integration", err)
        return
    func = getattr(integration, "autolog", None)
    if func is None:
        _log.debug("%s has no autolog()", target)
        return
    kwargs = dict(_state["kwargs"] or {})
    name = getattr(func, "integration_name", None)
    if name is not None and not kwargs.get("disable") and configured_by_user(name):
        return
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        params = {}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    try:
        func(**kwargs)
    except Exception as err:  # one broken integration must not stop the others
        warn_failure(target.rsplit(".", 1)[-1], "autolog() failed", err)
        return
    if name is not None:
        mark_globally_configured(name)


def reset() -> None:
    """Forget every autologging configuration and restore every patched function (tests use it)."""
    for name in list(patching._patches):
        patching.revert_patches(name)
    with config._lock:
        config._configs.clear()
    _state["kwargs"] = None
