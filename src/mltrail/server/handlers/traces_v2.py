"""MLflow 2's trace endpoints, which older clients still call (MLflow 3.17 serves them, deprecated).

Served under ``/api/2.0/mlflow`` (and ``/ajax-api``) only, with MLflow 2's
``TraceInfo`` shape (``request_id``, ``timestamp_ms``, ``execution_time_ms``,
``status``, ``request_metadata`` and ``tags`` as ``[{"key", "value"}]`` lists):

=============================================  ==========================================
``POST /traces``                               start a trace (IN_PROGRESS); MLflow 3's
                                               ``{"trace": …}`` body is accepted too
``PATCH /traces/{request_id}``                 end it: status, end time, merged metadata/tags
``GET /traces/{request_id}/info``              its info
``GET /traces?experiment_ids=…``               search (filter, order_by, max_results ≤ 500)
``POST /traces/link-prompts``                  link prompt versions to a trace (``mlflow.linkedPrompts``)
=============================================  ==========================================
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from mltrail.entities.prompt import LINKED_PROMPTS_TAG_KEY, PromptVersion, merge_linked_prompts
from mltrail.entities.trace import TraceInfo, TraceState, TraceTagKey
from mltrail.exceptions import invalid
from mltrail.protocol.traces import KV, TRACES, EndTraceV2, LinkPromptsToTrace, SearchTracesV2, StartTraceV2
from mltrail.server.auth.locate import trace_experiment
from mltrail.server.auth.rules import READ, UPDATE, Rule, on_experiments
from mltrail.server.handlers.traces import SEARCH_TRACES_HTTP_MAX_RESULTS, start_trace
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import path_param

#: MLflow 2's ``TraceStatus`` enum: names and protobuf numbers, as MLflow 3's trace states.
_STATUS = {"TRACE_STATUS_UNSPECIFIED": TraceState.STATE_UNSPECIFIED, "OK": TraceState.OK,
           "ERROR": TraceState.ERROR, "IN_PROGRESS": TraceState.IN_PROGRESS}  # fmt: skip
_STATUS_NUMBERS = dict(enumerate(_STATUS))
_V2_STATUS = {state: name for name, state in _STATUS.items()}


def trace_info_v2(info: TraceInfo) -> dict[str, Any]:
    """MLflow 2's ``TraceInfo`` message JSON for a trace (what ``TraceInfoV2.from_v3`` gives)."""
    out: dict[str, Any] = {
        "request_id": info.trace_id,
        "experiment_id": info.experiment_id,
        "timestamp_ms": info.request_time,
        "request_metadata": [{"key": k, "value": v} for k, v in info.trace_metadata.items()],
        "tags": [{"key": k, "value": str(v)} for k, v in info.tags.items()],
    }
    if info.execution_duration:  # protobuf leaves zero out
        out["execution_time_ms"] = info.execution_duration
    status = _V2_STATUS.get(info.state, "TRACE_STATUS_UNSPECIFIED")
    if status != "TRACE_STATUS_UNSPECIFIED":
        out["status"] = status
    return out


def _pairs(kvs: list[KV], what: str) -> dict[str, str]:
    out = {}
    for kv in kvs:
        if not kv.key:
            raise invalid(f"Missing value for required parameter '{what}.key'.")
        out[kv.key] = kv.value
    return out


def _status(value: str | int | None) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = _STATUS_NUMBERS.get(value)
    state = _STATUS.get(str(value).upper()) if value is not None else TraceState.STATE_UNSPECIFIED
    if state is None:
        raise invalid(f"Invalid value {value!r} for parameter 'status': use one of {', '.join(_STATUS)}")
    return state


def start_trace_v2(call: Call) -> dict[str, Any]:
    """MLflow 2's StartTrace: a new IN_PROGRESS trace with a server-made ``request_id``."""
    b: StartTraceV2 = call.body
    if b.trace is not None:  # an MLflow 3 body on the 2.0 path (mltrail clients before 0.x did this)
        return start_trace(call)
    if not b.experiment_id:
        raise invalid("Missing value for required parameter 'experiment_id'.")
    experiment = call.tracking_store.get_experiment(b.experiment_id)
    if experiment.lifecycle_stage != "active":
        raise invalid(f"The experiment {b.experiment_id} must be in the 'active' state. "
                      f"Current state is {experiment.lifecycle_stage}.")  # fmt: skip
    info = TraceInfo(
        trace_id=uuid.uuid4().hex,
        experiment_id=b.experiment_id,
        request_time=b.timestamp_ms if b.timestamp_ms is not None else int(time.time() * 1000),
        state=TraceState.IN_PROGRESS,
        trace_metadata=_pairs(b.request_metadata, "request_metadata"),
        tags=_pairs(b.tags, "tags"),
    )
    return {"trace_info": trace_info_v2(call.trace_store.start_trace(info))}


def end_trace_v2(call: Call) -> dict[str, Any]:
    """MLflow 2's EndTrace: status, execution time from the end time, metadata and tags merged in."""
    b: EndTraceV2 = call.body
    store = call.trace_store
    current = store.get_trace_info(path_param(call, "request_id"))
    end_ms = b.timestamp_ms if b.timestamp_ms is not None else current.request_time
    tags = {**current.tags, **_pairs(b.tags, "tags")}
    for key in (TraceTagKey.SPANS_LOCATION, TraceTagKey.ARTIFACT_LOCATION):
        tags.pop(key, None)  # the server's own, kept as they are
    info = TraceInfo(
        trace_id=current.trace_id,
        experiment_id=current.experiment_id,
        request_time=current.request_time,
        execution_duration=end_ms - current.request_time,
        state=_status(b.status),
        trace_metadata={**current.trace_metadata, **_pairs(b.request_metadata, "request_metadata")},
        tags=tags,
        client_request_id=current.client_request_id,
        request_preview=current.request_preview,
        response_preview=current.response_preview,
    )
    return {"trace_info": trace_info_v2(store.start_trace(info))}


def get_trace_info_v2(call: Call) -> dict[str, Any]:
    return {"trace_info": trace_info_v2(call.trace_store.get_trace_info(path_param(call, "request_id")))}


def search_traces_v2(call: Call) -> dict[str, Any]:
    b: SearchTracesV2 = call.body
    if not b.experiment_ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    if b.max_results > SEARCH_TRACES_HTTP_MAX_RESULTS:
        raise invalid(f"Invalid value {b.max_results} for parameter 'max_results' supplied: "
                      f"it must be at most {SEARCH_TRACES_HTTP_MAX_RESULTS}")  # fmt: skip
    infos, token = call.trace_store.search_traces(
        list(b.experiment_ids), b.filter, b.max_results, b.order_by or None, b.page_token or None
    )
    out: dict[str, Any] = {"traces": [trace_info_v2(i) for i in infos]}
    if token:
        out["next_page_token"] = token
    return out


def link_prompts_to_trace(call: Call) -> dict[str, Any]:
    """Add prompt versions to the trace's ``mlflow.linkedPrompts`` tag (no duplicates), as MLflow links them."""
    b: LinkPromptsToTrace = call.body
    if not b.trace_id:
        raise invalid("Missing value for required parameter 'trace_id'.")
    if not b.prompt_versions:
        raise invalid("Missing value for required parameter 'prompt_versions'.")
    versions = []
    for ref in b.prompt_versions:
        if not ref.name or not str(ref.version).strip().isdigit():
            raise invalid(f"Invalid prompt version {{'name': {ref.name!r}, 'version': {ref.version!r}}}: "
                          "a name and a version number are required")  # fmt: skip
        versions.append(PromptVersion(ref.name, int(ref.version), ""))
    store = call.trace_store
    current = store.get_trace_info(b.trace_id).tags.get(LINKED_PROMPTS_TAG_KEY)
    merged = merge_linked_prompts(current, versions)
    if merged is not None and merged != current:
        store.set_trace_tag(b.trace_id, LINKED_PROMPTS_TAG_KEY, merged)
    return {}


# ------------------------------------------------------------------ routes and permissions
def _trace_of_request_id(call: Call) -> Iterable[str]:
    return (trace_experiment(call, path_param(call, "request_id")),)


def _trace_of_body(call: Call) -> Iterable[str]:
    return (trace_experiment(call, call.body.trace_id),) if call.body.trace_id else ()


def _experiments_of_body(call: Call) -> Iterable[str]:
    return set(call.body.experiment_ids)


T = TRACES
_W = {"write": True}
ENDPOINTS: list[Endpoint] = [
    implement(T.start_trace_v2, start_trace_v2, **_W),
    implement(T.end_trace_v2, end_trace_v2, **_W),
    implement(T.get_trace_info_v2, get_trace_info_v2, inline=True),
    implement(T.search_traces_v2, search_traces_v2, db_only=True),
    implement(T.link_prompts_to_trace, link_prompts_to_trace, **_W),
]

#: As MLflow's auth app: reads need READ on the trace's experiment, writes UPDATE. (``POST /traces``
#: shares its path with MLflow 3's start, whose rule is in the main table.)
AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/traces/{request_id}", "PATCH"): on_experiments(UPDATE, _trace_of_request_id),
    ("/traces/{request_id}/info", "GET"): on_experiments(READ, _trace_of_request_id),
    ("/traces", "GET"): on_experiments(READ, _experiments_of_body),
    ("/traces/link-prompts", "POST"): on_experiments(UPDATE, _trace_of_body),
}
