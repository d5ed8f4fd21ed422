"""Aggregations of one scorer's per-row values into run metrics (MLflow's ``aggregations=``).

Names and meanings are MLflow's: ``min``, ``max``, ``mean``, ``median``,
``variance`` (population variance, as ``numpy.var``) and ``p90`` (linear
interpolation, as ``numpy.percentile``); a callable ``f(values) -> float`` is
logged under its ``__name__``. Values are read as MLflow does: numbers and
bools as floats, ``"yes"``/``"no"`` as 1/0, anything else left out.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from mltrail.entities.assessment import Feedback

_logger = logging.getLogger(__name__)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


AGGREGATE_FUNCTIONS: dict[str, Callable[[list[float]], float | None]] = {
    "min": min,
    "max": max,
    "mean": statistics.fmean,
    "median": statistics.median,
    "variance": statistics.pvariance,
    "p90": lambda values: _percentile(values, 90),
}


def value_as_float(value: Any) -> float | None:
    """A feedback value as a number for aggregation, or None when it has none."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("yes", "no"):
            return float(text == "yes")
    return None


def compute_aggregations(values: list[float], aggregations: Iterable[Any] | None) -> dict[str, float | None]:
    """``{"mean": ..., "p90": ...}`` for one scorer's values; ``None`` aggregations means ``["mean"]``.

    An unknown aggregation name raises ``ValueError``; a callable that fails is
    logged and left out, as MLflow does.
    """
    results: dict[str, float | None] = {}
    for aggregation in aggregations if aggregations is not None else ["mean"]:
        if isinstance(aggregation, str):
            if aggregation not in AGGREGATE_FUNCTIONS:
                raise ValueError(f"Invalid aggregation: {aggregation}")
            results[aggregation] = AGGREGATE_FUNCTIONS[aggregation](values) if values else None
        else:
            try:
                results[aggregation.__name__] = aggregation(values)
            except Exception as err:  # a user's function: report and go on
                _logger.error("Error computing aggregation %s due to: %s", aggregation, err)
    return results


def aggregate_feedbacks(
    feedbacks: Iterable[Feedback], aggregations_by_name: dict[str, Any]
) -> dict[str, Any]:
    """Run metrics ``"<feedback name>/<aggregation>"`` over many rows' feedbacks.

    ``aggregations_by_name`` maps a scorer name to its ``aggregations`` (``None``
    for the default ``["mean"]``); a feedback named ``"<prefix>/<scorer>"`` uses
    its scorer's entry, as in MLflow.
    """
    values: dict[str, list[float]] = {}
    for feedback in feedbacks:
        number = value_as_float(feedback.value)
        if number is not None:
            values.setdefault(feedback.name, []).append(number)
    out: dict[str, Any] = {}
    for name, numbers in values.items():
        wanted = aggregations_by_name.get(name.split("/", 1)[-1])
        for agg_name, agg_value in compute_aggregations(numbers, wanted).items():
            out[f"{name}/{agg_name}"] = agg_value
    return out
