"""Query parameters of the UI's downsampled metric history (see ``metric_history_sampled``).

A run with a million points per metric cannot be sent to a browser as is. The
axis (step or timestamp) is cut into ``buckets`` equal slices; each slice
reports its mean position, mean value, and the minimum and maximum value in it,
so a single spike still shows in the envelope even when the mean hides it.
Series no longer than ``max_points`` are returned untouched.

The store does the work (``TrackingStore.metric_history_sampled``: grouped in
the database on SQL, see :mod:`mltrail.store.downsample`); this module reads
the request's ``axis`` and ``max_points``.
"""

from __future__ import annotations

from mltrail.exceptions import invalid

DEFAULT_MAX_POINTS = 2000
MAX_POINTS_LIMIT = 20000


def parse_max_points(raw: str | None) -> int:
    """``max_points`` from a query string: an int in [10, 20000], default 2000."""
    if raw in (None, ""):
        return DEFAULT_MAX_POINTS
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"max_points must be an integer, got {raw!r}") from None
    if not 10 <= value <= MAX_POINTS_LIMIT:
        raise invalid(f"max_points must be between 10 and {MAX_POINTS_LIMIT}, got {value}")
    return value


def parse_axis(raw: str | None) -> str:
    """``axis`` from a query string: ``step`` (default) or ``time``."""
    axis = raw or "step"
    if axis not in ("step", "time"):
        raise invalid(f"axis must be 'step' or 'time', got {axis!r}")
    return axis
