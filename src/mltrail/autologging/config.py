"""Per-integration autologging configuration: what ``<flavor>.autolog(...)`` was last called with."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_configs: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def autologging_integration(name: str) -> Callable[[F], F]:
    """Decorate an integration's ``autolog(...)`` so each call records its configuration.

    The call's arguments merged over the function's defaults become the config of
    integration ``name`` (read back with :func:`get_autolog_config`); ``disable=True``
    marks the integration off. The decorated body still runs, to install or revert
    its patches.

    Example::

        @autologging_integration("sklearn")
        def autolog(log_models: bool = True, disable: bool = False, silent: bool = False) -> None:
            ...
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        defaults = {
            key: param.default
            for key, param in sig.parameters.items()
            if param.default is not inspect.Parameter.empty
        }

        @functools.wraps(fn)
        def autolog(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            config = dict(defaults)
            for key, value in bound.arguments.items():
                kind = sig.parameters[key].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    config.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL:
                    config[key] = value
            with _lock:
                _configs[name] = config
            return fn(*args, **kwargs)

        autolog.integration_name = name  # type: ignore[attr-defined]
        return autolog  # type: ignore[return-value]

    return decorate


def get_autolog_config(name: str) -> dict[str, Any]:
    """The configuration integration ``name`` was last enabled with (``{}`` if never)."""
    return dict(_configs.get(name, {}))


def autologging_is_disabled(name: str) -> bool:
    """True unless ``autolog`` of integration ``name`` was called and not with ``disable=True``."""
    config = _configs.get(name)
    return not config or bool(config.get("disable", False))


GLOBALLY_CONFIGURED = "globally_configured"  # MLflow's key: the config came from ``autolog()``


def mark_globally_configured(name: str) -> None:
    """Record that integration ``name`` got its current config from ``mltrail.autolog()``."""
    with _lock:
        if name in _configs:
            _configs[name][GLOBALLY_CONFIGURED] = True


def configured_by_user(name: str) -> bool:
    """Whether ``<integration>.autolog()`` was called directly (not through ``mltrail.autolog()``)."""
    config = _configs.get(name)
    return bool(config) and not config.get(GLOBALLY_CONFIGURED, False)
