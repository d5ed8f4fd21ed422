"""MLflow 3.17's trace dashboard endpoints: ``POST /api/3.0/mlflow/traces/metrics`` and
``POST /api/3.0/mlflow/traces/calculate-filter-correlation``.

``metrics`` answers ``{"data_points": [{"metric_name", "dimensions", "values"}]}``
(values keyed ``COUNT``, ``AVG``, ``P95.0``, …; the ``time_bucket`` dimension an
ISO 8601 time); ``calculate-filter-correlation`` answers the NPMI of two
``search_traces`` filters with the four counts. Undefined NPMI is ``"NaN"``, as
protobuf JSON writes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from mltrail.exceptions import invalid
from mltrail.protocol.traces import TRACES, CalculateTraceFilterCorrelation, QueryTraceMetrics
from mltrail.server.auth.rules import READ, Rule, on_experiments
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.store.trace_metrics import AGGREGATIONS, MAX_RESULTS_DEFAULT, VIEW_TYPES, MetricQuery

#: protobuf numbers of ``MetricViewType`` and ``AggregationType``
_VIEW_NUMBERS = dict(enumerate(VIEW_TYPES, 1))
_AGG_NUMBERS = {1: "COUNT", 2: "SUM", 3: "AVG", 4: "PERCENTILE", 5: "MIN", 6: "MAX"}


def _enum(value: Any, numbers: dict[int, str], names: Iterable[str], what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in numbers:
            raise invalid(f"Invalid value {value} for parameter '{what}'")
        return numbers[value]
    name = str(value or "").upper()
    if name not in names:
        raise invalid(f"Invalid value {value!r} for parameter '{what}': use one of {', '.join(names)}")
    return name


def _experiments(ids: list[str]) -> list[str]:
    if not ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    for i in ids:
        if not str(i).isdigit():
            raise invalid(f"Invalid experiment id {i!r}: it must be an integer string")
    return list(ids)


def query_trace_metrics(call: Call) -> dict[str, Any]:
    b: QueryTraceMetrics = call.body
    ids = _experiments(b.experiment_ids)
    if b.view_type is None:
        raise invalid("Missing value for required parameter 'view_type'.")
    if not b.metric_name:
        raise invalid("Missing value for required parameter 'metric_name'.")
    aggs = [(_enum(a.aggregation_type, _AGG_NUMBERS, AGGREGATIONS, "aggregation_type"), a.percentile_value)
            for a in b.aggregations]  # fmt: skip
    query = MetricQuery.build(
        _enum(b.view_type, _VIEW_NUMBERS, VIEW_TYPES, "view_type"), b.metric_name, aggs, b.dimensions,
        b.filters, b.time_interval_seconds, b.start_time_ms, b.end_time_ms,
        b.max_results if b.max_results is not None else MAX_RESULTS_DEFAULT,
    )  # fmt: skip
    return {"data_points": call.trace_store.query_trace_metrics(ids, query)}


def _proto_double(value: float) -> float | str:
    return "NaN" if math.isnan(value) else value


def calculate_filter_correlation(call: Call) -> dict[str, Any]:
    b: CalculateTraceFilterCorrelation = call.body
    ids = _experiments(b.experiment_ids)
    for name in ("filter_string1", "filter_string2"):
        if not getattr(b, name):
            raise invalid(f"Missing value for required parameter '{name}'.")
    out = call.trace_store.trace_filter_correlation(
        ids, b.filter_string1, b.filter_string2, b.base_filter or None
    )
    out["npmi"], out["npmi_smoothed"] = _proto_double(out["npmi"]), _proto_double(out["npmi_smoothed"])
    return out


def _experiments_of_body(call: Call) -> Iterable[str]:
    return set(call.body.experiment_ids)


T = TRACES
ENDPOINTS: list[Endpoint] = [
    implement(T.query_trace_metrics, query_trace_metrics, db_only=True),
    implement(T.calculate_trace_filter_correlation, calculate_filter_correlation, db_only=True),
]

#: READ on every experiment asked about (MLflow's auth app checks each experiment id).
AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/traces/metrics", "POST"): on_experiments(READ, _experiments_of_body),
    ("/traces/calculate-filter-correlation", "POST"): on_experiments(READ, _experiments_of_body),
}
