"""MLflow 3.17's trace metrics (``query_trace_metrics``) and filter correlation (NPMI), store-agnostic parts.

What MLflow's trace dashboards ask for: a metric of one view (``TRACES``,
``SPANS``, ``ASSESSMENTS``), some aggregations (``COUNT``, ``SUM``, ``AVG``,
``MIN``, ``MAX``, ``PERCENTILE``), grouped by dimensions and optionally by time
bucket. This module holds MLflow's table of allowed metrics, aggregations and
dimensions, the aggregation of grouped values (percentiles interpolated
linearly, as PostgreSQL's ``percentile_cont``) and the NPMI formula; the SQL
store (:mod:`mltrail.store.sql.trace_metrics`) reads the values.

Example::

    spec = MetricQuery.build("TRACES", "latency", [("PERCENTILE", 95.0)], ["trace_name"])
    points = aggregate(spec, [((0, "chat"), 120.0), ((0, "chat"), 80.0)])
    npmi(joint=10, count1=20, count2=15, total=100)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mltrail.exceptions import invalid

VIEW_TYPES = ("TRACES", "SPANS", "ASSESSMENTS")
AGGREGATIONS = ("COUNT", "SUM", "AVG", "PERCENTILE", "MIN", "MAX")
TIME_BUCKET = "time_bucket"
#: MLflow's ``MAX_RESULTS_QUERY_TRACE_METRICS``.
MAX_RESULTS_DEFAULT = 1000

_NUMERIC = frozenset({"SUM", "AVG", "MIN", "MAX", "PERCENTILE"})
_SPREAD = frozenset({"AVG", "MIN", "MAX", "PERCENTILE"})
_COUNT = frozenset({"COUNT"})

#: view -> metric -> (aggregations allowed, dimensions allowed): MLflow 3.17's table, less the span
#: model/cost columns mltrail's span rows do not carry.
METRICS: dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "TRACES": {
        "trace_count": (_COUNT, frozenset({"trace_name", "trace_status"})),
        "session_count": (_COUNT, frozenset()),
        "latency": (_SPREAD, frozenset({"trace_name"})),
        "input_tokens": (_NUMERIC, frozenset({"trace_name"})),
        "output_tokens": (_NUMERIC, frozenset({"trace_name"})),
        "total_tokens": (_NUMERIC, frozenset({"trace_name"})),
    },
    "SPANS": {
        "span_count": (_COUNT, frozenset({"span_name", "span_type", "span_status"})),
        "latency": (_SPREAD, frozenset({"span_name", "span_status"})),
    },
    "ASSESSMENTS": {
        "assessment_count": (_COUNT, frozenset({"assessment_name", "assessment_value"})),
        "assessment_value": (_SPREAD, frozenset({"assessment_name"})),
    },
}


@dataclass(frozen=True)
class Aggregation:
    """One aggregation; ``label`` is MLflow's key in a data point's ``values`` (``"P95.0"`` for a percentile)."""

    kind: str
    percentile: float | None = None

    @property
    def label(self) -> str:
        return f"P{self.percentile}" if self.kind == "PERCENTILE" else self.kind


@dataclass(frozen=True)
class MetricQuery:
    """A validated ``QueryTraceMetrics`` request."""

    view: str
    metric: str
    aggregations: tuple[Aggregation, ...]
    dimensions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    interval_seconds: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    max_results: int = MAX_RESULTS_DEFAULT

    @classmethod
    def build(
        cls,
        view: str,
        metric: str,
        aggregations: Sequence[tuple[str, float | None]],
        dimensions: Sequence[str] = (),
        filters: Sequence[str] = (),
        interval_seconds: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        max_results: int = MAX_RESULTS_DEFAULT,
    ) -> MetricQuery:
        """Check the request against MLflow's table (400 ``INVALID_PARAMETER_VALUE`` with its messages)."""
        if view not in METRICS:
            raise invalid(f"view_type must be one of {list(METRICS)}, got '{view}'")
        table = METRICS[view]
        if metric not in table:
            raise invalid(f"metric_name must be one of {list(table)}, got '{metric}'")
        allowed_aggs, allowed_dims = table[metric]
        if not aggregations:
            raise invalid("Missing value for required parameter 'aggregations'.")
        aggs = []
        for kind, percentile in aggregations:
            if kind not in AGGREGATIONS:
                raise invalid(f"Invalid aggregation_type {kind!r}: use one of {list(AGGREGATIONS)}")
            if kind == "PERCENTILE":
                if percentile is None or not 0 <= percentile <= 100:
                    raise invalid("Percentile value must be between 0 and 100, got " + repr(percentile))
            elif percentile is not None:
                raise invalid(f"Percentile value is only allowed for PERCENTILE aggregation type, got {kind}")
            aggs.append(Aggregation(kind, float(percentile) if kind == "PERCENTILE" else None))
        if bad := sorted({a.kind for a in aggs} - allowed_aggs):
            raise invalid(f"Found invalid aggregation_type(s): {bad}. Supported aggregation types: "
                          f"{sorted(allowed_aggs)}")  # fmt: skip
        if bad := sorted(set(dimensions) - allowed_dims):
            raise invalid(f"Found invalid dimension(s): {bad}. Supported dimensions: {sorted(allowed_dims)}")
        if interval_seconds is not None and interval_seconds <= 0:
            raise invalid(f"time_interval_seconds must be positive, got {interval_seconds}")
        if interval_seconds and (start_ms is None or end_ms is None):
            raise invalid("start_time_ms and end_time_ms are required if time_interval_seconds is set")
        if not 1 <= max_results <= MAX_RESULTS_DEFAULT:
            raise invalid(f"max_results must be between 1 and {MAX_RESULTS_DEFAULT}, got {max_results}")
        return cls(view, metric, tuple(aggs), tuple(dimensions), tuple(filters), interval_seconds or None,
                   start_ms, end_ms, max_results)  # fmt: skip

    def trace_filter(self) -> str | None:
        """The ``filters`` as one ``search_traces`` filter (``trace.tag.k`` is ``tags.k``, ``trace.metadata.k``
        is ``metadata.k``), AND-ed; ``None`` without filters."""
        parts = []
        for text in self.filters:
            text = text.strip()
            for prefix, replacement in (("trace.tag.", "tags."), ("trace.metadata.", "metadata.")):
                if text.startswith(prefix):
                    text = replacement + text[len(prefix) :]
            if text:
                parts.append(f"({text})")
        return " AND ".join(parts) or None


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, PostgreSQL's ``percentile_cont``)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _aggregate_one(agg: Aggregation, values: list[Any], distinct: bool) -> float | None:
    present = [v for v in values if v is not None]
    if agg.kind == "COUNT":
        return float(len(set(present)) if distinct else len(present))
    numbers = [float(v) for v in present]
    if not numbers:
        return None
    if agg.kind == "SUM":
        return float(sum(numbers))
    if agg.kind == "AVG":
        return sum(numbers) / len(numbers)
    if agg.kind == "MIN":
        return min(numbers)
    if agg.kind == "MAX":
        return max(numbers)
    return _percentile(numbers, agg.percentile or 0.0)


def _bucket_label(start_ms: float) -> str:
    return datetime.fromtimestamp(start_ms / 1000.0, tz=UTC).isoformat()


def aggregate(query: MetricQuery, rows: Iterable[tuple[tuple[Any, ...], Any]]) -> list[dict[str, Any]]:
    """MLflow's ``MetricDataPoint`` JSON from ``(group key, value)`` rows, ordered by the group key.

    The key is ``(time bucket start in ms or None, *dimension values)``; groups with a
    missing dimension are left out, as are groups whose every aggregation is empty.
    """
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for key, value in rows:
        if any(part is None for part in key[1:]):
            continue
        groups.setdefault(key, []).append(value)
    if not groups and not query.dimensions and not query.interval_seconds:
        groups[(None,)] = []  # one ungrouped row, as SQL answers an aggregate over nothing
    distinct = query.metric == "session_count"
    points = []
    for key in sorted(groups, key=lambda k: tuple((p is None, p) for p in k)):
        values = {}
        for agg in query.aggregations:
            result = _aggregate_one(agg, groups[key], distinct)
            if result is not None:
                values[agg.label] = result
        if not values:
            continue
        dims: dict[str, str] = {}
        if query.interval_seconds:
            dims[TIME_BUCKET] = _bucket_label(key[0])
        dims.update({name: str(value) for name, value in zip(query.dimensions, key[1:], strict=True)})
        points.append({"metric_name": query.metric, "dimensions": dims, "values": values})
        if len(points) >= query.max_results:
            break
    return points


# ------------------------------------------------------------------ filter correlation (NPMI)
#: Jeffreys prior: the additive smoothing of ``npmi_smoothed`` (MLflow's).
JEFFREYS_PRIOR = 0.5


def _npmi_cells(n11: float, n10: float, n01: float, n00: float, smoothing: float) -> float:
    a, b, c, d = n11 + smoothing, n10 + smoothing, n01 + smoothing, n00 + smoothing
    total, first, second = a + b + c + d, a + b, a + c
    if first <= 0 or second <= 0 or a <= 0:
        return math.nan
    if n10 == 0 and n01 == 0 and n00 == 0:
        return 1.0  # always together
    pmi = math.log(a) + math.log(total) - math.log(first) - math.log(second)
    return max(-1.0, min(1.0, pmi / -(math.log(a) - math.log(total))))


def npmi(joint: int, count1: int, count2: int, total: int) -> tuple[float, float]:
    """``(npmi, npmi_smoothed)`` of two filters over ``total`` traces: NaN when undefined, -1 when never together."""
    if total <= 0 or count1 == 0 or count2 == 0:
        return math.nan, math.nan
    n10, n01 = count1 - joint, count2 - joint
    n00 = total - count1 - count2 + joint
    if min(joint, n10, n01, n00) < 0:
        return math.nan, math.nan
    plain = -1.0 if joint == 0 else _npmi_cells(joint, n10, n01, n00, 0)
    return plain, _npmi_cells(joint, n10, n01, n00, JEFFREYS_PRIOR)
