"""The web UI's own JSON, event-stream and CSV routes (``/ajax-api/mltrail/…``), declared.

The UI's handlers (:mod:`mltrail.ui.routes`, :mod:`mltrail.ui.trace_routes`)
read their query themselves (``raw``): lists come comma-separated or repeated
(``run_ids=a,b``), which the request types here describe for the OpenAPI
document. :func:`mltrail.ui.routes.ui_routes` mounts each handler at its
declaration's path and method, so a path is written once.
"""

from __future__ import annotations

import msgspec

from mltrail.protocol.routes import UI_PREFIX, Message, Route, RouteSet

EVENT_STREAM = "text/event-stream"
CSV = "text/csv; charset=utf-8"


class MetricHistoryQuery(Message):
    """One metric of one run, downsampled for a chart."""

    run_id: str
    key: str = ""
    metric_key: str = ""  # older spelling of ``key``
    axis: str | None = None  # "step" (default) or "time"
    max_points: int | None = None


class MetricHistoryBulkQuery(Message):
    """One metric of many runs (``run_ids=a,b`` or repeated)."""

    run_ids: list[str]
    key: str
    axis: str | None = None
    max_points: int | None = None


class RunIdsQuery(Message):
    """Many runs (``run_ids=a,b`` or repeated)."""

    run_ids: list[str]


class ExperimentIdsQuery(Message):
    """Experiments (``experiment_ids=1,2`` or repeated); optional where the answer covers all."""

    experiment_ids: list[str] = []


class ExportRunsQuery(Message):
    """The runs table of some experiments as CSV."""

    experiment_ids: list[str]
    filter: str | None = None
    view_type: str | None = None
    order_by: list[str] = []
    columns: list[str] = []


class MetricHistoryResponse(msgspec.Struct):
    run_id: str
    key: str
    axis: str
    total: int = 0
    points: list[dict] = []


class MetricHistoryBulkResponse(msgspec.Struct):
    key: str
    axis: str
    runs: list[dict] = []


class MetricCountsResponse(msgspec.Struct):
    counts: dict[str, dict[str, int]] = {}


class ExperimentSummariesResponse(msgspec.Struct):
    experiments: dict[str, dict] = {}


class ExperimentColumnsResponse(msgspec.Struct):
    """Column keys by kind (``metrics``, ``params``, ``tags``)."""

    metrics: list[str] = []
    params: list[str] = []
    tags: list[str] = []


class TraceTotalsQuery(Message):
    """Traces of some experiments matching a ``search_traces`` filter (sessions: paged)."""

    experiment_ids: list[str]
    filter: str | None = None
    max_results: int | None = None
    page_token: str | None = None


class UiTraceResponse(msgspec.Struct):
    """A trace's info and every span, as stored (OpenTelemetry JSON)."""

    trace_info: dict = {}
    spans: list[dict] = []


# --- "Compare evaluations" (mltrail.ui.eval_compare_routes) ---------------------------------------
class EvaluationCompareQuery(Message):
    """Two evaluation runs, baseline first (``run_ids=a,b``), and scorers whose numbers improve downwards."""

    run_ids: list[str]
    lower_is_better: list[str] = []


class EvaluationCompareResponse(msgspec.Struct):
    """Rows matched on inputs with each scorer's change, per-scorer aggregates, logged-metric deltas."""

    baseline_run_id: str
    candidate_run_id: str
    scorers: list[str] = []
    rows: list[dict] = []
    aggregates: dict[str, dict] = {}
    metrics: dict[str, dict] = {}


class EvaluationRowsQuery(Message):
    """One evaluation run."""

    run_id: str


class EvaluationRowsResponse(msgspec.Struct):
    """The run's evaluation rows: inputs, outputs, expectations and each scorer's value, rationale, error."""

    run_id: str
    scorers: list[str] = []
    rows: list[dict] = []


def _r(name: str, path: str, req: type | None, resp: type | None = None, media_type: str = "application/json",
       summary: str = "") -> Route:
    return Route(name, "GET", UI_PREFIX + path, req, resp, service="", raw=True, media_type=media_type,
                 summary=summary, tags=("ui",))


UI = RouteSet(
    _r("ui_metric_history", "/metrics/history", MetricHistoryQuery, MetricHistoryResponse,
       summary="One metric of one run, downsampled for a chart"),
    _r("ui_metric_history_bulk", "/metrics/history-bulk", MetricHistoryBulkQuery, MetricHistoryBulkResponse,
       summary="One metric of many runs, each downsampled"),
    _r("ui_metric_counts", "/metrics/counts", RunIdsQuery, MetricCountsResponse,
       summary="How many values each metric of each run holds"),
    _r("ui_experiment_summaries", "/experiments/summary", ExperimentIdsQuery, ExperimentSummariesResponse,
       summary="Run counts per experiment"),
    _r("ui_run_events", "/runs/{run_id}/events", None, media_type=EVENT_STREAM,
       summary="Server-sent events: a run's changes"),
    _r("ui_experiment_columns", "/experiments/columns", ExperimentIdsQuery, ExperimentColumnsResponse,
       summary="The metric, param and tag keys of some experiments' runs"),
    _r("ui_export_runs_csv", "/runs/export.csv", ExportRunsQuery, media_type=CSV,
       summary="The runs table as CSV"),
    _r("ui_trace", "/traces/{trace_id}", None, UiTraceResponse, summary="One trace with its spans"),
    _r("ui_trace_events", "/traces/{trace_id}/events", None, media_type=EVENT_STREAM,
       summary="Server-sent events: a trace as it grows"),
    _r("ui_experiment_traces_events", "/experiments/traces/events", ExperimentIdsQuery, media_type=EVENT_STREAM,
       summary="Server-sent events: the traces list's change signal"),
    _r("ui_experiment_trace_totals", "/experiments/traces/totals", TraceTotalsQuery,
       summary="Trace count, tokens and cost of the traces matching a filter"),
    _r("ui_experiment_sessions", "/experiments/traces/sessions", TraceTotalsQuery,
       summary="Sessions (mlflow.trace.session) with turn count, tokens and cost"),
    _r("ui_compare_evaluations", "/evaluations/compare", EvaluationCompareQuery, EvaluationCompareResponse,
       summary="Two evaluation runs row by row: which examples got better or worse per scorer"),
    _r("ui_evaluation_rows", "/evaluations/rows", EvaluationRowsQuery, EvaluationRowsResponse,
       summary="An evaluation run's rows with every scorer's value and rationale"),
)
