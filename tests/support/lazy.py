"""A module imported on first use, for test modules whose framework is heavy to import.

Every xdist worker imports every test module to collect it, though it runs only some:
``torch = lazy_module("torch")`` at the top of a module costs nothing until a test touches
``torch.<name>``, so the workers that never run those tests never pay for the import.
"""

from __future__ import annotations

import importlib
from typing import Any


class lazy_module:
    """Stands for the module ``name``: the first attribute looked up imports it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # pytest's collection probes module globals (``__test__``, ...)
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
