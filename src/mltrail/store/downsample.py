"""Metric history downsampled for charts, with a min/max envelope per bucket.

A run with a million points per metric cannot be sent to a browser as is. The
axis (step or timestamp) is cut into ``max_points // 2`` equal slices; each slice
reports its mean position, mean value, and the minimum and maximum value in it,
so a single spike still shows in the envelope even when the mean hides it.
Series no longer than ``max_points`` are returned untouched.

Pure arithmetic shared by every tracking store: the SQL store groups in the
database (:mod:`mltrail.store.sql._history`) with the same bucket bounds; any
other store pages ``get_metric_history`` and buckets here
(:meth:`~mltrail.store.tracking.TrackingStore.metric_history_sampled`).

Example::

    out = bucket_points([0, 1, 2, 3], [10, 11, 12, 13], [1.0, 9.0, 1.0, 1.0], "step", 2)
    assert out["max"] == [9.0, 1.0]
"""

from __future__ import annotations

import math
from typing import Any

# Finite values beyond this are the SQL schema's stand-in for ±infinity (±DBL_MAX).
NON_FINITE_ABS = 1.0e308


def _finite(value: float) -> bool:
    return not math.isnan(value) and abs(value) < NON_FINITE_ABS


def bucket_points(
    steps: list[int], timestamps: list[int], values: list[float], axis: str, max_points: int
) -> dict[str, Any]:
    """Downsample parallel lists (sorted by step, then timestamp) into an envelope.

    Example::

        out = bucket_points([0, 1, 2, 3], [10, 11, 12, 13], [1.0, 9.0, 1.0, 1.0], "step", 2)
        assert out["max"] == [9.0, 1.0]
    """
    total = len(values)  # every logged point, NaN included; only finite ones are drawn
    keep = [i for i, v in enumerate(values) if _finite(v)]
    if len(keep) != len(values):
        steps = [steps[i] for i in keep]
        timestamps = [timestamps[i] for i in keep]
        values = [values[i] for i in keep]
    if total <= max_points or not values:
        return {"total": total, "downsampled": False, "step": steps, "timestamp": timestamps, "value": values}
    xs = steps if axis == "step" else timestamps
    lo, hi = min(xs), max(xs)
    buckets = max_points // 2  # two envelope values per bucket keep the drawn point count near max_points
    span = hi - lo + 1
    acc: dict[int, list[float]] = {}
    for x, s, t, v in zip(xs, steps, timestamps, values, strict=True):
        b = (x - lo) * buckets // span
        slot = acc.get(b)
        if slot is None:
            acc[b] = [1, s, t, v, v, v]
        else:
            slot[0] += 1
            slot[1] += s
            slot[2] += t
            slot[3] += v
            if v < slot[4]:
                slot[4] = v
            if v > slot[5]:
                slot[5] = v
    out: dict[str, Any] = {"total": total, "downsampled": True, "step": [], "timestamp": [], "value": []}
    out["min"], out["max"] = [], []
    for b in sorted(acc):
        n, s, t, v, vmin, vmax = acc[b]
        out["step"].append(s / n)
        out["timestamp"].append(t / n)
        out["value"].append(v / n)
        out["min"].append(vmin)
        out["max"].append(vmax)
    return out
