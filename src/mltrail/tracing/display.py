"""``mlflow.tracing.enable_notebook_display`` / ``disable_notebook_display``.

MLflow renders a trace widget under a Jupyter cell that produced traces.
mltrail has no in-notebook renderer (open the trace page of ``mltrail ui``
instead), so display is always off: ``disable_notebook_display()`` is what
notebooks call to silence the widget and holds already, and
``enable_notebook_display()`` says once that no widget will appear.
"""

from __future__ import annotations

import warnings

_state = {"warned": False}


def disable_notebook_display() -> None:
    """Do not render traces in notebook cells (mltrail never does; kept so MLflow notebooks run unchanged)."""


def enable_notebook_display() -> None:
    """Ask for the in-notebook trace widget: mltrail has none, so this warns once and changes nothing."""
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "mltrail renders no trace widget in notebooks; open the trace in the mltrail UI "
            "(mltrail ui) instead.",
            stacklevel=2,
        )


__all__ = ["disable_notebook_display", "enable_notebook_display"]
