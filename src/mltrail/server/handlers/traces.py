"""MLflow 3's trace endpoints, and OTLP/HTTP span ingest (``POST /v1/traces``).

What the official mlflow 3 client does when a trace ends: it sends the spans
to ``/v1/traces`` (OTLP protobuf, experiment in the ``x-mlflow-experiment-id``
header), then the trace info to ``POST /api/3.0/mlflow/traces``. Because the
spans are then in the database, the answer carries the tag
``mlflow.trace.spansLocation = TRACKING_STORE`` and the client reads spans
back with ``traces/get`` / ``traces/batchGet`` (if the spans never arrived,
the client falls back to uploading ``traces.json`` under the trace's
``mlflow.artifactLocation`` through the artifact proxy).

Endpoints (under ``/api/3.0/mlflow`` and ``/api/2.0/mlflow``, and ``/ajax-api``):

=============================================  ==========================================
``POST /traces``                               create/update a trace's info (StartTraceV3)
``GET /traces/{trace_id}``                     a trace's info
``GET /traces/get?trace_id=``                  a trace with its spans
``GET /traces/batchGet?trace_ids=…``           several traces with spans
``POST /traces/batchGetInfos``                 several trace infos
``POST /traces/search``                        search (locations, filter, order_by, paging)
``POST /traces/delete-traces``                 delete by ids or by age/count
``POST /traces/link-to-run``                   link traces to a run (after ``genai.evaluate``)
``PATCH|DELETE /traces/{trace_id}/tags``       set / delete one tag
``POST /traces/{trace_id}/assessments``        log an assessment (feedback or expectation)
``GET|PATCH|DELETE …/assessments/{id}``        get / update (field mask) / delete one
``POST /v1/traces``                            OTLP/HTTP spans (JSON or protobuf)
=============================================  ==========================================
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.entities.assessment import (
    Assessment,
    AssessmentError,
    ExpectationValue,
    FeedbackValue,
    decode_expectation_value,
)
from mltrail.entities.trace import Trace, TraceData, TraceInfo, TraceTagKey
from mltrail.entities.trace_otlp import (
    SpanConversionError,
    decode_otlp_protobuf,
    span_to_proto_json,
    spans_from_otlp,
)
from mltrail.exceptions import MltrailException, invalid
from mltrail.protocol.traces import (  # noqa: F401 (the wire types, declared with the endpoints)
    EXPERIMENT_HEADER,
    TRACES,
    AssessmentIds,
    AssessmentResponse,
    BatchGet,
    CreateAssessment,
    DeleteTag,
    DeleteTraces,
    Empty,
    GetTrace,
    LinkTracesToRun,
    Location,
    SearchTracesV3,
    SetTag,
    StartTraceV3,
    TraceResponse,
    TracesResponse,
    UpdateAssessment,
)
from mltrail.server.bodies import locked_call, read_body
from mltrail.server.handlers.artifacts import uri_destination
from mltrail.server.limits import check_depth, loads_json, too_deep
from mltrail.server.otlp_encoding import decompress
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import path_param

_ARTIFACT_LOCATION = TraceTagKey.ARTIFACT_LOCATION
_SPANS_LOCATION = TraceTagKey.SPANS_LOCATION
_ARCHIVAL_FAILURE = "mlflow.trace.archivalFailure"
# MLflow's server refuses client writes of the first three; mltrail adds the artifact location,
# which only the server decides (see trace_artifact_location).
_SERVER_TAGS = frozenset({_SPANS_LOCATION, "mlflow.trace.archiveLocation", _ARCHIVAL_FAILURE, _ARTIFACT_LOCATION})
_DELETABLE_SERVER_TAGS = frozenset({_ARCHIVAL_FAILURE})  # deleting it is how a client retries archival


def trace_store(call: Call) -> Any:
    """The trace store of this app (built in ``create_app`` with the others)."""
    return call.trace_store


def trace_json(trace: Trace) -> dict[str, Any]:
    """A trace as MLflow's ``Trace`` message JSON (info + OpenTelemetry spans)."""
    return {"trace_info": trace.info.to_proto_json(), "spans": [span_to_proto_json(s) for s in trace.data.spans]}


# ------------------------------------------------------------------ handlers
def start_trace(call: Call) -> dict[str, Any]:
    raw = call.body.trace.get("trace_info") if isinstance(call.body.trace, dict) else None
    if not isinstance(raw, dict):
        raise invalid("Missing value for required parameter 'trace.trace_info'.")
    try:
        info = TraceInfo.from_proto_json(raw)
    except (TypeError, ValueError) as err:
        raise invalid(f"Invalid trace_info: {err}") from None
    if not info.experiment_id:
        raise invalid("Missing value for required parameter 'trace.trace_info.trace_location'.")
    store = trace_store(call)
    spans = call.body.trace.get("spans") or []
    if spans:  # a client may send its spans inline (OTLP span JSON)
        try:
            parsed = spans_from_otlp({"resource_spans": [{"scope_spans": [{"spans": spans}]}]})
        except (TypeError, ValueError, AttributeError) as err:
            raise invalid(f"Invalid spans: {err}") from None
        store.log_spans(info.experiment_id, parsed)
    return {"trace": {"trace_info": store.start_trace(info).to_proto_json()}}


def get_trace_info(call: Call) -> dict[str, Any]:
    info = trace_store(call).get_trace_info(path_param(call, "trace_id"))
    return {"trace": {"trace_info": info.to_proto_json()}}


def trace_artifact_location(call: Call, trace: Trace) -> str:
    """Where the server put this trace's files: ``<experiment location>/traces/<id>/artifacts``.

    Derived from the experiment, never read from the ``mlflow.artifactLocation`` tag,
    so a tag a client wrote cannot send the server's reads elsewhere.
    """
    experiment = call.tracking_store.get_experiment(trace.info.experiment_id)
    return f"{experiment.artifact_location.rstrip('/')}/traces/{trace.info.trace_id}/artifacts"


async def with_artifact_spans(call: Call, trace: Trace) -> Trace:
    """A trace whose spans never reached the database, with spans from its ``traces.json`` artifact.

    The official client uploads that file through the artifact proxy when the
    server did not report the spans as stored (e.g. its span export failed).
    The file is read only from the location the server decided, inside its roots.
    """
    tags = trace.info.tags
    if trace.data.spans or not tags.get(_ARTIFACT_LOCATION) or tags.get(_SPANS_LOCATION) == "TRACKING_STORE":
        return trace
    from pathlib import Path

    from starlette.responses import FileResponse

    try:
        location = await run_in_threadpool(trace_artifact_location, call, trace)
        resp = await uri_destination(call, location, "trace artifact location").download("traces.json")
        if isinstance(resp, FileResponse):
            raw = await run_in_threadpool(Path(resp.path).read_bytes)
        else:
            parts = [c if isinstance(c, bytes) else str(c).encode() async for c in resp.body_iterator]
            raw = b"".join(parts)
        return Trace(trace.info, TraceData.from_dict(json.loads(raw)))
    except (MltrailException, OSError, ValueError, TypeError, KeyError):
        return trace  # no readable artifact: the trace has no spans


async def get_trace(call: Call) -> dict[str, Any]:
    if not call.body.trace_id:
        raise invalid("Missing value for required parameter 'trace_id'.")
    store = await run_in_threadpool(trace_store, call)  # built on first use: may open the database
    trace = await run_in_threadpool(store.get_trace, call.body.trace_id)
    return {"trace": trace_json(await with_artifact_spans(call, trace))}


def _scoped(traces: list[Any], experiment_ids: list[str], info: Any = lambda t: t.info) -> list[Any]:
    if not experiment_ids:
        return traces
    return [t for t in traces if info(t).experiment_id in experiment_ids]


async def batch_get(call: Call) -> dict[str, Any]:
    ids = call.body.trace_ids
    if not ids:
        raise invalid("Missing value for required parameter 'trace_ids'.")
    store = await run_in_threadpool(trace_store, call)
    found = await run_in_threadpool(store.batch_get_traces, ids)
    traces = [await with_artifact_spans(call, t) for t in _scoped(found, call.body.experiment_ids)]
    return {"traces": [trace_json(t) for t in traces]}


def batch_get_infos(call: Call) -> dict[str, Any]:
    ids = call.body.trace_ids
    if not ids:
        raise invalid("Missing value for required parameter 'trace_ids'.")
    traces = _scoped(trace_store(call).batch_get_traces(ids), call.body.experiment_ids)
    return {"trace_infos": [t.info.to_proto_json() for t in traces]}


#: MLflow's server refuses trace searches asking for more than 500 per page (its handler schema).
SEARCH_TRACES_HTTP_MAX_RESULTS = 500


def search(call: Call) -> dict[str, Any]:
    b: SearchTracesV3 = call.body
    ids = [str((loc.mlflow_experiment or {}).get("experiment_id", "")) for loc in b.locations]
    ids = [i for i in ids if i] + list(b.experiment_ids)
    if not ids:
        raise invalid("Missing value for required parameter 'locations' (experiment ids to search).")
    if isinstance(b.max_results, int) and b.max_results > SEARCH_TRACES_HTTP_MAX_RESULTS:
        raise invalid(f"Invalid value {b.max_results} for parameter 'max_results' supplied: "
                      f"it must be at most {SEARCH_TRACES_HTTP_MAX_RESULTS} (as in MLflow's server)")
    infos, token = trace_store(call).search_traces(ids, b.filter, b.max_results, b.order_by or None, b.page_token)
    out: dict[str, Any] = {"traces": [i.to_proto_json() for i in infos]}
    if token:
        out["next_page_token"] = token
    return out


def delete_traces(call: Call) -> dict[str, Any]:
    b: DeleteTraces = call.body
    if not b.experiment_id:
        raise invalid("Missing value for required parameter 'experiment_id'.")
    n = trace_store(call).delete_traces(b.experiment_id, b.max_timestamp_millis, b.max_traces, b.request_ids or None)
    return {"traces_deleted": n}


def _tag_trace_id(call: Call) -> str:
    return path_param(call, "trace_id")


def _check_tag_mutation(key: str, operation: str) -> None:
    """Tags only the server writes: MLflow's immutable ones, plus the trace's artifact location."""
    if key in _SERVER_TAGS and not (operation == "deleted" and key in _DELETABLE_SERVER_TAGS):
        raise invalid(f"Tag '{key}' is immutable and cannot be {operation} on a trace.")


def set_tag(call: Call) -> dict[str, Any]:
    if not call.body.key:
        raise invalid("Missing value for required parameter 'key'.")
    _check_tag_mutation(call.body.key, "set")
    trace_store(call).set_trace_tag(_tag_trace_id(call), call.body.key, call.body.value)
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    key = call.body.key or call.query.get("key", "")
    if not key:
        raise invalid("Missing value for required parameter 'key'.")
    _check_tag_mutation(key, "deleted")
    trace_store(call).delete_trace_tag(_tag_trace_id(call), key)
    return {}


def link_to_run(call: Call) -> dict[str, Any]:
    """Link traces to a run (what the official client calls after ``genai.evaluate``)."""
    b: LinkTracesToRun = call.body
    if not b.run_id:
        raise invalid("Missing value for required parameter 'run_id'.")
    if not b.trace_ids:
        raise invalid("Missing value for required parameter 'trace_ids'.")
    trace_store(call).link_traces_to_run(list(b.trace_ids), b.run_id)
    return {}


def _assessment_ids(call: Call) -> tuple[str, str]:
    return path_param(call, "trace_id"), path_param(call, "assessment_id")


def create_assessment(call: Call) -> dict[str, Any]:
    raw = call.body.assessment
    if not raw:
        raise invalid("Missing value for required parameter 'assessment'.")
    assessment = Assessment.from_proto_json(raw)
    assessment.trace_id = path_param(call, "trace_id") or assessment.trace_id
    assessment.assessment_id = None  # the server names it
    return {"assessment": trace_store(call).create_assessment(assessment)}


def get_assessment(call: Call) -> dict[str, Any]:
    return {"assessment": trace_store(call).get_assessment(*_assessment_ids(call))}


def _mask_paths(mask: Any, assessment: dict[str, Any]) -> set[str]:
    """The snake_case field names of a FieldMask; without one, every field the body carries."""
    if isinstance(mask, dict):
        mask = mask.get("paths")
    if isinstance(mask, str):
        mask = mask.split(",")
    if not mask:
        return set(assessment) - {"assessment_id", "trace_id"}
    if not isinstance(mask, list):
        raise invalid(f"Invalid update_mask {mask!r}")
    return {"".join(f"_{c.lower()}" if c.isupper() else c for c in str(p).strip()) for p in mask if str(p).strip()}


def update_assessment(call: Call) -> dict[str, Any]:
    body, paths = call.body.assessment, _mask_paths(call.body.update_mask, call.body.assessment)
    unknown = paths - {"assessment_name", "expectation", "feedback", "rationale", "metadata"}
    if unknown:
        raise invalid(f"Cannot update assessment field(s) {', '.join(sorted(unknown))}: only assessment_name, "
                      "expectation, feedback, rationale and metadata change")
    feedback = expectation = None
    if "feedback" in paths:
        raw = body.get("feedback") or {}
        error = raw.get("error")
        feedback = FeedbackValue(raw.get("value"), AssessmentError.from_proto_json(error) if error else None)
    if "expectation" in paths:
        expectation = ExpectationValue(decode_expectation_value(body.get("expectation") or {}))
    updated = trace_store(call).update_assessment(
        *_assessment_ids(call), name=body.get("assessment_name") if "assessment_name" in paths else None,
        expectation=expectation, feedback=feedback, rationale=body.get("rationale") if "rationale" in paths else None,
        metadata=body.get("metadata") if "metadata" in paths else None)
    return {"assessment": updated}


def delete_assessment(call: Call) -> dict[str, Any]:
    trace_store(call).delete_assessment(*_assessment_ids(call))
    return {}


_OTLP_BODY = "the OTLP request body"


class SpanNotConvertible(MltrailException):
    """A span of a well-formed OTLP request that cannot be stored: HTTP 422, as MLflow answers."""

    def get_http_status_code(self) -> int:
        return 422


RUN_HEADER = "x-mlflow-run-id"
_log = logging.getLogger(__name__)


def _link_to_run(call: Call, experiment_id: str, trace_ids: list[str], run_id: str) -> None:
    """Link ingested traces to the ``x-mlflow-run-id`` header's run, as MLflow's server does.

    Only a run of the same experiment (the permission checked was the experiment's);
    as in MLflow, a failed link is logged and the spans stay accepted.
    """
    try:
        run = call.tracking_store.get_run(run_id)
        if run.info.experiment_id != experiment_id:
            _log.warning("OTLP: run %s is not in experiment %s; traces not linked", run_id, experiment_id)
            return
        lock = call.state.write_lock
        if lock is not None:
            locked_call(lock, lambda _c: trace_store(call).link_traces_to_run(trace_ids, run_id), call)
        else:
            trace_store(call).link_traces_to_run(trace_ids, run_id)
    except MltrailException as err:
        _log.warning("OTLP: could not link traces to run %s: %s", run_id, err.message)


async def otlp_ingest(call: Call) -> Response:
    """OTLP/HTTP ``ExportTraceServiceRequest`` in JSON or protobuf; spans go to the header's experiment.

    As MLflow's server: the ``x-mlflow-experiment-id`` header is required, a gzip or
    deflate ``Content-Encoding`` is undone (the decompressed size within
    ``--max-body-size``), a request without spans is refused with 400, a span that
    cannot be read with 422, and the resource's ``service.name`` goes to root spans.
    """
    request = call.request
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json"
    if not is_json and content_type not in ("application/x-protobuf", "application/protobuf",
                                            "application/octet-stream"):
        raise MltrailException(f"Unsupported Content-Type {content_type!r}: send application/json or "
                               "application/x-protobuf", error_code="INVALID_PARAMETER_VALUE")
    limit = call.config.max_body_bytes
    raw = decompress(await read_body(request, limit), request.headers.get("content-encoding"), limit)
    try:
        if is_json:
            payload = loads_json(raw or b"{}", _OTLP_BODY)
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
        else:
            payload = decode_otlp_protobuf(raw)
            check_depth(payload, _OTLP_BODY)  # nested AnyValues, bounded as in JSON bodies
        resource_spans = payload.get("resourceSpans", payload.get("resource_spans"))
        if resource_spans is not None and not isinstance(resource_spans, list):
            raise ValueError("resourceSpans must be a list")
        if not resource_spans:
            raise invalid("Invalid OpenTelemetry format - no spans found")
        spans = spans_from_otlp(payload, service_name_to_root=True)
        experiment_id = (request.headers.get(EXPERIMENT_HEADER) or "").strip()
        if not experiment_id:
            raise invalid(f"Missing required header {EXPERIMENT_HEADER!r}: the experiment the spans go to")
    except SpanConversionError as err:
        raise SpanNotConvertible(f"Cannot convert OpenTelemetry span to MLflow span: {err}",
                                 error_code="INVALID_PARAMETER_VALUE") from None
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise invalid(f"Invalid OTLP trace export request: {err}") from None
    except RecursionError:  # protobuf AnyValues nested ~1,000 deep
        raise too_deep(_OTLP_BODY) from None
    if spans:
        store = await run_in_threadpool(trace_store, call)
        lock = call.state.write_lock
        if lock is not None:
            await run_in_threadpool(locked_call, lock, lambda _c: store.log_spans(experiment_id, spans), call)
        else:
            await run_in_threadpool(store.log_spans, experiment_id, spans)
        run_id = (request.headers.get(RUN_HEADER) or "").strip()
        roots = sorted({s.trace_id for s in spans if s.parent_id is None})
        if run_id and roots:
            await run_in_threadpool(_link_to_run, call, experiment_id, roots, run_id)
    if is_json:
        return Response(b"{}", media_type="application/json")
    return Response(b"", media_type="application/x-protobuf")


# ------------------------------------------------------------------ routes
T = TRACES
_W = {"write": True}
ENDPOINTS: list[Endpoint] = [
    implement(T.start_trace, start_trace, **_W),
    implement(T.get_trace, get_trace),
    implement(T.batch_get_traces, batch_get),
    implement(T.batch_get_trace_infos, batch_get_infos),
    implement(T.search_traces, search),
    implement(T.delete_traces, delete_traces, **_W),
    implement(T.link_traces_to_run, link_to_run, **_W),
    implement(T.get_trace_info, get_trace_info, inline=True),
    implement(T.set_trace_tag, set_tag, **_W),
    implement(T.delete_trace_tag, delete_tag, **_W),
    implement(T.create_assessment, create_assessment, **_W),
    implement(T.get_assessment, get_assessment),
    implement(T.update_assessment, update_assessment, **_W),
    implement(T.delete_assessment, delete_assessment, **_W),
    implement(T.otlp_ingest, otlp_ingest),
]
