"""Post-import hooks: run a callback when a module gets imported (or at once if it is)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

_log = logging.getLogger(__name__)
_hooks: dict[str, list[Callable[[ModuleType], None]]] = {}
_lock = threading.RLock()
_searching = threading.local()


def register_post_import_hook(callback: Callable[[ModuleType], None], module_name: str) -> None:
    """Call ``callback(module)`` once ``module_name`` is imported (at once if it already is).

    Example::

        register_post_import_hook(lambda mod: print("got", mod.__name__), "sklearn")
    """
    with _lock:
        module = sys.modules.get(module_name)
        if module is None:
            _hooks.setdefault(module_name, []).append(callback)
            _install_finder()
            return
    _fire(module_name, module, [callback])


def _fire(module_name: str, module: ModuleType, callbacks: list[Callable[[ModuleType], None]]) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception as err:  # a hook must never break the user's import
            warnings.warn(
                f"mltrail autologging: post-import hook for {module_name} failed: {err}", stacklevel=2
            )


def _install_finder() -> None:
    if not any(isinstance(finder, _HookFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _HookFinder())


class _HookFinder(importlib.abc.MetaPathFinder):
    """Finds a hooked module with the other finders and wraps its loader to fire the hooks."""

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _hooks:
            return None
        busy = getattr(_searching, "names", None)
        if busy is None:
            busy = _searching.names = set()
        if fullname in busy:
            return None
        busy.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            busy.discard(fullname)
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        spec.loader = _HookLoader(loader)
        return spec


class _HookLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # Give the module its real loader back before its code runs (importlib.resources etc.).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        with _lock:
            callbacks = _hooks.pop(module.__name__, [])
        _fire(module.__name__, module, callbacks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
