"""``safe_patch``: wrap a library function so autologging can never break the user's call."""

from __future__ import annotations

import inspect
import logging
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

from mltrail.autologging.config import autologging_is_disabled, get_autolog_config

_log = logging.getLogger(__name__)
_MARK = "__mltrail_autolog_patch__"  # (integration name, original callable) on every wrapper

# name -> [(owner, attr, raw attribute in owner.__dict__ or _MISSING)] in patch order
_patches: dict[str, list[tuple[Any, str, Any]]] = {}
_lock = threading.Lock()
_MISSING = object()
_running = threading.local()  # .names: integrations whose patch code is running on this thread


def running_integrations() -> frozenset[str]:
    """Integrations whose patch is running on this thread (to skip logging for inner calls)."""
    return frozenset(getattr(_running, "names", ()))


def warn_failure(name: str, what: str, err: BaseException | str) -> None:
    """Report a failure of our own logging code (not of the user's call), unless ``silent``."""
    message = f"mltrail autologging ({name}): {what}: {err}"
    if get_autolog_config(name).get("silent"):
        _log.debug(message)
        return
    warnings.warn(message, stacklevel=3)


def _unwrap(raw: Any) -> tuple[Callable[..., Any], Any]:
    """The function inside ``raw`` and how to rebuild the attribute around a wrapper of it."""
    if isinstance(raw, (classmethod, staticmethod)):
        return raw.__func__, type(raw)
    if isinstance(raw, _PatchedDescriptor):
        return raw.wrapper, raw.rebuild
    if not callable(raw) and hasattr(raw, "__get__"):
        # A custom descriptor (sklearn's ``available_if``): call through it, keep its hasattr logic.
        def original(self: Any, *args: Any, **kwargs: Any) -> Any:
            return raw.__get__(self, type(self))(*args, **kwargs)

        # Keep the method's own names: sklearn dispatches on ``__name__`` (``_get_response_values``).
        inner = getattr(raw, "fn", None)
        original.__name__ = getattr(raw, "__name__", None) or getattr(inner, "__name__", "descriptor")
        original.__qualname__ = getattr(raw, "__qualname__", None) or getattr(
            inner, "__qualname__", original.__name__
        )
        return original, lambda wrapper: _PatchedDescriptor(raw, wrapper)
    return raw, None


class _PatchedDescriptor:
    """Stands in for a custom method descriptor: availability from it, calls through the wrapper."""

    def __init__(self, raw: Any, wrapper: Callable[..., Any]) -> None:
        self.raw = raw
        self.wrapper = wrapper

    def rebuild(self, wrapper: Callable[..., Any]) -> _PatchedDescriptor:
        return _PatchedDescriptor(self.raw, wrapper)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        got = self.raw.__get__(instance, owner)  # raises AttributeError where unavailable
        if instance is None:
            return got
        return types.MethodType(self.wrapper, instance)


def _make_wrapper(name: str, original: Callable[..., Any], patch: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if autologging_is_disabled(name):
            return original(*args, **kwargs)
        names = getattr(_running, "names", None)
        if names is None:
            names = _running.names = set()
        if name in names:  # a call made inside this integration's own patched call: log once
            return original(*args, **kwargs)
        names.add(name)
        try:
            return _run_patch(args, kwargs)
        finally:
            names.discard(name)

    def _run_patch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state: dict[str, Any] = {}

        def call_original(*a: Any, **kw: Any) -> Any:
            state["called"] = True
            try:
                result = original(*a, **kw)
            except BaseException as err:
                state["user_error"] = err
                raise
            state["result"] = result
            return result

        call_original.__name__ = getattr(original, "__name__", "original")
        call_original.__qualname__ = getattr(original, "__qualname__", call_original.__name__)
        call_original.__wrapped__ = original  # type: ignore[attr-defined]
        try:
            return patch(call_original, *args, **kwargs)
        except Exception as err:
            user_error = state.get("user_error")
            if user_error is not None:  # the user's own call failed: that is what they must see
                if err is user_error:
                    raise
                raise user_error from None
            warn_failure(name, f"logging failed in {getattr(original, '__qualname__', original)}", err)
            if state.get("called"):
                return state.get("result")
            return original(*args, **kwargs)

    for key in ("__module__", "__name__", "__qualname__", "__doc__"):
        try:
            setattr(wrapper, key, getattr(original, key))
        except (AttributeError, TypeError):
            pass
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(wrapper, _MARK, (name, original))
    return wrapper


def safe_patch(name: str, owner: Any, attr: str, patch: Callable[..., Any]) -> None:
    """Replace ``owner.attr`` by a wrapper calling ``patch(original, *args, **kwargs)``.

    While integration ``name`` is enabled the patch runs; when it is disabled the
    wrapper calls just ``original(*args, **kwargs)``. Exceptions raised by the
    original propagate unchanged; exceptions of the patch's own code are warned
    (``mltrail autologging (<name>): ...``, unless the config says ``silent``)
    and the original's result is returned. Patching the same ``owner.attr`` twice
    keeps one wrapper (the newest patch function). Methods receive ``self``;
    classmethods and staticmethods defined on the class are handled. A patched
    call made while the same integration's patch is already running on this
    thread (``super().fit`` inside ``fit``, a Pipeline's steps) just calls the
    original, so only the outermost call logs, as in MLflow.

    Example::

        def fit_patch(original, self, *args, **kwargs):
            model = original(self, *args, **kwargs)
            mltrail.log_param("n", len(args[0]))
            return model

        safe_patch("mylib", MyEstimator, "fit", fit_patch)
    """
    own = owner.__dict__.get(attr, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    raw = own if own is not _MISSING else inspect.getattr_static(owner, attr)
    func, descriptor = _unwrap(raw)
    mark = getattr(func, _MARK, None)
    if mark is not None and mark[0] == name and own is _MISSING:
        return  # inherited from a base class already patched by this integration
    with _lock:
        entries = _patches.setdefault(name, [])
        if mark is not None and mark[0] == name:
            original = mark[1]  # re-patching: wrap the real original again, not our wrapper
        else:
            original = func
            entries.append((owner, attr, own))
        wrapper = _make_wrapper(name, original, patch)
        setattr(owner, attr, descriptor(wrapper) if descriptor else wrapper)


def revert_patches(name: str) -> None:
    """Restore every attribute patched under integration ``name``."""
    with _lock:
        entries = _patches.pop(name, [])
        for owner, attr, own in reversed(entries):
            try:
                if own is _MISSING:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, own)
            except (AttributeError, TypeError) as err:
                _log.debug("could not revert %s.%s: %s", owner, attr, err)


def is_patched(name: str, owner: Any, attr: str) -> bool:
    """Whether ``owner.attr`` currently resolves to a wrapper of integration ``name``."""
    try:
        func, _ = _unwrap(inspect.getattr_static(owner, attr))
    except AttributeError:
        return False
    mark = getattr(func, _MARK, None)
    return mark is not None and mark[0] == name


def classes_defining(base: type, attr: str) -> list[type]:
    """``base`` and those of its (already defined) subclasses that define ``attr`` themselves, bases first.

    Patching just these covers every subclass: the others inherit a patched method.
    """
    found, todo = [base], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return [cls for cls in found if cls is base or attr in cls.__dict__]
