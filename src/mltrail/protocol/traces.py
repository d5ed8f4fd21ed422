"""MLflow 3's trace REST API and OTLP/HTTP span ingest: wire types and endpoint declarations."""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet

#: ``SearchTracesV3.max_results``' default in MLflow's proto: a client may leave it out.
SEARCH_TRACES_WIRE_DEFAULT = 100
#: The header naming the experiment of OTLP spans (MLflow's).
EXPERIMENT_HEADER = "x-mlflow-experiment-id"


class StartTraceV3(Message):
    trace: dict[str, Any] = {}


class GetTrace(Message):
    trace_id: str = ""
    allow_partial: bool = False


class BatchGet(Message):
    trace_ids: list[str] = []
    experiment_ids: list[str] = []


class Location(msgspec.Struct):
    type: str | None = None
    mlflow_experiment: dict[str, Any] | None = None


class SearchTracesV3(Message):
    locations: list[Location] = []
    experiment_ids: list[str] = []
    filter: str | None = None
    max_results: int = SEARCH_TRACES_WIRE_DEFAULT
    order_by: list[str] = []
    page_token: str | None = None


class DeleteTraces(Message):
    experiment_id: str = ""
    max_timestamp_millis: int | None = None
    max_traces: int | None = None
    request_ids: list[str] = []


class SetTag(Message):
    key: str = ""
    value: str = ""


class DeleteTag(Message):
    key: str = ""


class TraceResponse(msgspec.Struct):
    trace: dict[str, Any] = {}


class TracesResponse(msgspec.Struct):
    traces: list[dict[str, Any]] = []
    next_page_token: str | None = None


class Empty(msgspec.Struct):
    pass


class LinkTracesToRun(Message):
    trace_ids: list[str] = []
    run_id: str = ""


class CreateAssessment(Message):
    assessment: dict[str, Any] = {}


class AssessmentIds(Message):
    trace_id: str = ""
    assessment_id: str = ""


class UpdateAssessment(Message):
    assessment: dict[str, Any] = {}
    update_mask: Any = None  # protobuf FieldMask JSON: "assessmentName,rationale" (or {"paths": [...]})


class AssessmentResponse(msgspec.Struct):
    assessment: dict[str, Any] = {}


class KV(msgspec.Struct):
    """MLflow 2's ``TraceRequestMetadata`` / ``TraceTag``: one key and its value."""

    key: str = ""
    value: str = ""


class StartTraceV2(Message):
    """MLflow 2's ``StartTrace`` (``POST /api/2.0/mlflow/traces``); ``trace`` is MLflow 3's body."""

    experiment_id: str = ""
    timestamp_ms: int | None = None
    request_metadata: list[KV] = []
    tags: list[KV] = []
    trace: dict[str, Any] | None = None


class EndTraceV2(Message):
    """MLflow 2's ``EndTrace`` (``PATCH /api/2.0/mlflow/traces/{request_id}``)."""

    timestamp_ms: int | None = None
    status: str | int | None = None
    request_metadata: list[KV] = []
    tags: list[KV] = []


class SearchTracesV2(Message):
    """MLflow 2's ``SearchTraces`` (``GET /api/2.0/mlflow/traces``)."""

    experiment_ids: list[str] = []
    filter: str | None = None
    max_results: int = SEARCH_TRACES_WIRE_DEFAULT
    order_by: list[str] = []
    page_token: str | None = None


class TraceInfoV2Response(msgspec.Struct):
    trace_info: dict[str, Any] = {}


class TracesV2Response(msgspec.Struct):
    traces: list[dict[str, Any]] = []
    next_page_token: str | None = None


class PromptVersionRef(msgspec.Struct):
    name: str = ""
    version: str | int = ""


class LinkPromptsToTrace(Message):
    trace_id: str = ""
    prompt_versions: list[PromptVersionRef] = []


class MetricAggregationWire(msgspec.Struct):
    """``{"aggregation_type": "PERCENTILE", "percentile_value": 95}`` (enum names or numbers)."""

    aggregation_type: str | int | None = None
    percentile_value: float | None = None


class QueryTraceMetrics(Message):
    experiment_ids: list[str] = []
    view_type: str | int | None = None
    metric_name: str = ""
    aggregations: list[MetricAggregationWire] = []
    dimensions: list[str] = []
    filters: list[str] = []
    time_interval_seconds: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    max_results: int | None = None
    page_token: str | None = None


class QueryTraceMetricsResponse(msgspec.Struct):
    data_points: list[dict[str, Any]] = []
    next_page_token: str | None = None


class CalculateTraceFilterCorrelation(Message):
    experiment_ids: list[str] = []
    filter_string1: str = ""
    filter_string2: str = ""
    base_filter: str | None = None


class TraceFilterCorrelationResponse(msgspec.Struct):
    npmi: float | str | None = None
    npmi_smoothed: float | str | None = None
    filter1_count: int = 0
    filter2_count: int = 0
    joint_count: int = 0
    total_count: int = 0


# ------------------------------------------------------------------- endpoints

#: Served under 3.0 and 2.0; the official client calls 3.0 except where noted (``client_version``).
_V = ("3.0", "2.0")
_ONE = "/traces/{trace_id}"
_ASSESSMENT = _ONE + "/assessments/{assessment_id}"


def _r(
    name: str, method: str, path: str, req: type | None, resp: type = Empty, client: str = "",
    versions: tuple[str, ...] = _V,
) -> Route:
    return Route(name, method, path, req, resp, versions=versions, tags=("traces",), client_version=client)


_V3, _V2 = ("3.0",), ("2.0",)


TRACES = RouteSet(
    _r("start_trace", "POST", "/traces", StartTraceV3, TraceResponse, versions=_V3),
    # MLflow 2's trace API, which older clients still call (MLflow 3.17 keeps it, deprecated).
    _r("start_trace_v2", "POST", "/traces", StartTraceV2, TraceInfoV2Response, versions=_V2),
    _r("end_trace_v2", "PATCH", "/traces/{request_id}", EndTraceV2, TraceInfoV2Response, versions=_V2),
    _r("get_trace_info_v2", "GET", "/traces/{request_id}/info", None, TraceInfoV2Response, versions=_V2),
    _r("search_traces_v2", "GET", "/traces", SearchTracesV2, TracesV2Response, versions=_V2),
    _r("link_prompts_to_trace", "POST", "/traces/link-prompts", LinkPromptsToTrace, versions=_V2),
    # MLflow 3.17's trace dashboards.
    _r("query_trace_metrics", "POST", "/traces/metrics", QueryTraceMetrics, QueryTraceMetricsResponse,
       versions=_V3),
    _r("calculate_trace_filter_correlation", "POST", "/traces/calculate-filter-correlation",
       CalculateTraceFilterCorrelation, TraceFilterCorrelationResponse, versions=_V3),
    _r("get_trace", "GET", "/traces/get", GetTrace, TraceResponse),
    _r("batch_get_traces", "GET", "/traces/batchGet", BatchGet, TracesResponse),
    _r("batch_get_trace_infos", "POST", "/traces/batchGetInfos", BatchGet),
    _r("search_traces", "POST", "/traces/search", SearchTracesV3, TracesResponse),
    _r("delete_traces", "POST", "/traces/delete-traces", DeleteTraces, client="2.0"),
    _r("link_traces_to_run", "POST", "/traces/link-to-run", LinkTracesToRun, client="2.0"),
    _r("get_trace_info", "GET", _ONE, None, TraceResponse),
    _r("set_trace_tag", "PATCH", f"{_ONE}/tags", SetTag, client="2.0"),
    _r("delete_trace_tag", "DELETE", f"{_ONE}/tags", DeleteTag, client="2.0"),
    _r("create_assessment", "POST", f"{_ONE}/assessments", CreateAssessment, AssessmentResponse),
    _r("get_assessment", "GET", _ASSESSMENT, AssessmentIds, AssessmentResponse),
    _r("update_assessment", "PATCH", _ASSESSMENT, UpdateAssessment, AssessmentResponse),
    _r("delete_assessment", "DELETE", _ASSESSMENT, AssessmentIds),
    Route("otlp_ingest", "POST", "/v1/traces", service="", raw=True, tags=("traces",),
          summary="OTLP/HTTP trace ingest (JSON or protobuf); experiment in x-mlflow-experiment-id"),
)
