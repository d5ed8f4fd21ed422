"""``POST /api/2.0/mltrail/offline/replay``: apply an SDK's offline journal, idempotently.

Each record is one write the SDK made while the server was unreachable, with
the body the matching MLflow endpoint takes; records are applied in order, each
through the same handler as the live endpoint, so validation and semantics are
the live ones. Applying a record twice changes nothing, which is what lets a
client send an interrupted replay again without duplicates:

* ``create_run`` carries the id the SDK chose offline; a run that already has it
  is answered as it stands (``duplicate``).
* ``create_experiment`` is "get or create" by name.
* ``log_batch`` records flagged ``check`` (the SDK may have sent them before)
  leave out every metric value the run already holds with the same
  ``(key, step, timestamp, value)`` - the identity MLflow's own SQL store gives
  a metric row; params re-logged with the same value and tags are idempotent
  already.
* ``update_run`` sets the same status, end time and name again; ``delete_tag``
  of a tag already gone is a no-op on a checked record.

A record the server refuses (a param logged offline with a new value, a run
deleted meanwhile) is answered with its error and the replay goes on, as the
call would have raised in the training loop had the server been up. A transient
failure (database busy) fails the whole request: the SDK sends it again.
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from mltrail.entities import RunTag
from mltrail.entities.trace import TraceInfo
from mltrail.entities.trace_otlp import spans_from_otlp
from mltrail.exceptions import (
    INTERNAL_ERROR,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
    invalid,
)
from mltrail.protocol.offline import MAX_REPLAY_RECORDS, OFFLINE, RECORD_BODIES, Replay, ReplayRecord
from mltrail.server.auth.locate import run_experiment
from mltrail.server.auth.rules import PermissionDenied, Rule, Subject, require_user
from mltrail.server.handlers import tracking as live
from mltrail.server.routing import Call, implement
from mltrail.server.wire import run_json

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_JOURNAL_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _body(record: ReplayRecord) -> Any:
    kind = RECORD_BODIES.get(record.op)
    if kind is None:
        raise invalid(f"Unknown offline journal operation {record.op!r} (record {record.seq})")
    try:
        return msgspec.convert(record.body, kind, strict=False)  # "NaN" values, as dispatch decodes
    except msgspec.ValidationError as err:
        raise invalid(f"Invalid body for {record.op} (record {record.seq}): {err}") from err


def _create_run(call: Call, body: Any) -> dict[str, Any]:
    if not _RUN_ID.match(body.run_id):
        raise invalid(f"Invalid offline run id {body.run_id!r}: expected 32 lowercase hex characters")
    store = call.tracking_store
    try:
        return {"run": run_json(store.get_run(body.run_id)), "duplicate": True}
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
    run = store.create_run(
        experiment_id=body.experiment_id or "0",
        user_id=body.user_id,
        start_time=body.start_time,
        tags=[RunTag(t.key, t.value) for t in body.tags],
        run_name=body.run_name or None,
        run_id=body.run_id,
    )
    return {"run": run_json(run)}


def _create_experiment(call: Call, body: Any) -> dict[str, Any]:
    found = call.tracking_store.get_experiment_by_name(body.name) if body.name else None
    if found is not None:
        return {"experiment_id": str(found.experiment_id), "duplicate": True}
    return {"experiment_id": str(live.create_experiment(Call(call.request, body))["experiment_id"])}


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _new_metrics(call: Call, body: Any) -> Any:
    """``body`` without the metric values the run already holds (same key, step, timestamp, value)."""
    if not body.metrics:
        return body
    store = call.tracking_store
    values: dict[tuple[str, int, int], list[float]] = {}
    for key in {m.key for m in body.metrics}:
        for m in store.get_metric_history(body.run_id, key):
            values.setdefault((key, m.step, m.timestamp), []).append(float(m.value))
    keep = []
    for m in body.metrics:
        value = float(m.value)
        if not any(_same(value, v) for v in values.get((m.key, m.step, m.timestamp), ())):
            keep.append(m)
    return msgspec.structs.replace(body, metrics=keep)


def _log_trace(call: Call, body: Any) -> dict[str, Any]:
    """Spans then info, as the SDK exports a trace; both are upserts (a trace sent twice is one trace)."""
    try:
        spans = spans_from_otlp({"resource_spans": [{"scope_spans": [{"spans": body.spans}]}]})
        info = TraceInfo.from_proto_json(body.trace_info)
    except Exception as err:  # any shape the parsers cannot read is the client's error, never a 500
        raise invalid(f"Invalid trace in an offline journal record: {err!r}") from err
    info.experiment_id = body.experiment_id  # an experiment created offline got its id at replay
    if not info.trace_id:
        raise invalid("Invalid trace in an offline journal record: no trace_id")
    call.trace_store.log_spans(body.experiment_id, spans)
    call.trace_store.start_trace(info)
    return {}


def _apply(call: Call, record: ReplayRecord) -> dict[str, Any]:
    body = _body(record)
    op = record.op
    if op == "create_run":
        return _create_run(call, body)
    if op == "create_experiment":
        return _create_experiment(call, body)
    if op == "log_trace":
        return _log_trace(call, body)
    if op == "log_batch" and record.check:
        body = _new_metrics(call, body)
    if op == "delete_tag" and record.check:
        try:
            live.delete_tag(Call(call.request, body))
        except MltrailException as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            call.tracking_store.get_run(body.run_id)  # the tag is gone, not the run (else: refused)
        return {}
    handler = {
        "set_experiment_tag": live.set_experiment_tag,
        "update_run": live.update_run,
        "log_batch": live.log_batch,
        "delete_tag": live.delete_tag,
        "log_inputs": live.log_inputs,
    }[op]
    handler(Call(call.request, body))
    return {}


def replay(call: Call) -> dict[str, Any]:
    """Apply the records in order; one outcome each (refused records carry their error)."""
    body: Replay = call.body
    if not _JOURNAL_ID.match(body.journal or ""):
        raise invalid("Invalid 'journal': expected 1 to 64 letters, digits, '-' or '_'")
    if len(body.records) > MAX_REPLAY_RECORDS:
        raise invalid(f"A replay request takes at most {MAX_REPLAY_RECORDS} records, got {len(body.records)}")
    results = []
    for record in body.records:
        try:
            outcome = {"seq": record.seq, **_apply(call, record)}
        except MltrailException as err:
            if err.error_code in (TEMPORARILY_UNAVAILABLE, INTERNAL_ERROR):
                raise  # transient or unexpected: the whole request fails and the SDK sends it again
            outcome = {"seq": record.seq, "error_code": err.error_code, "message": err.message}
        results.append(outcome)
    return {"results": results}


# ---------------------------------------------------------------- permissions


def _check(call: Call, subject: Subject) -> None:
    """With logins on: EDIT on every run's experiment; creating experiments offline is for admins."""
    require_user(call, subject)
    created: dict[str, str] = {}
    for record in call.body.records:
        body = record.body if isinstance(record.body, dict) else {}
        if record.op == "create_experiment":
            if not subject.is_admin:
                name = str(body.get("name") or "")
                found = call.tracking_store.get_experiment_by_name(name) if name else None
                if found is None:
                    raise PermissionDenied()
                subject.require_experiment(str(found.experiment_id), "can_read")
        elif record.op in ("create_run", "set_experiment_tag", "log_trace"):
            exp_id = str(body.get("experiment_id") or "0")
            subject.require_experiment(exp_id, "can_update")
            if record.op == "create_run":
                created[str(body.get("run_id") or "")] = exp_id
        else:
            run_id = str(body.get("run_id") or body.get("run_uuid") or "")
            if run_id not in created:
                subject.require_experiment(run_experiment(call, run_id), "can_update")


ENDPOINTS = [implement(OFFLINE.replay, replay, write=True)]

#: The endpoint's permission rule (read by :func:`mltrail.server.auth.rules.declared_rule`).
AUTH_RULES = {(OFFLINE.replay.path, "POST"): Rule("experiment", "can_update", _check)}
