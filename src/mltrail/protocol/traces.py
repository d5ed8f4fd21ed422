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


# ------------------------------------------------------------------- endpoints

#: Served under 3.0 and 2.0; the official client calls 3.0 except where noted (``client_version``).
_V = ("3.0", "2.0")
_ONE = "/traces/{trace_id}"
_ASSESSMENT = _ONE + "/assessments/{assessment_id}"


def _r(name: str, method: str, path: str, req: type | None, resp: type = Empty, client: str = "") -> Route:
    return Route(name, method, path, req, resp, versions=_V, tags=("traces",), client_version=client)


TRACES = RouteSet(
    _r("start_trace", "POST", "/traces", StartTraceV3, TraceResponse),
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
