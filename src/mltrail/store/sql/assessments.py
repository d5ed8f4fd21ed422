"""Trace assessments on SQL: the ``assessments`` table, used by :class:`~mltrail.store.sql.traces.SqlTraceStore`.

Functions take an open connection so the trace store can run them inside its
own transactions (a trace's info and its assessments are written together).
An assessment row keeps the assessment's wire JSON in ``content``; the other
columns are copies for lookups (by trace, by id) and ordering.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities.assessment import Assessment, ExpectationValue, FeedbackValue, new_assessment_id
from mltrail.entities.timestamps import ms_to_rfc3339
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.sql._codec import chunks
from mltrail.store.sql._workspace import by_experiment_scope
from mltrail.store.sql.schema import assessments, trace_info

_A = assessments.c


def _trace_exists(conn: sa.Connection, trace_id: str) -> bool:
    return (
        conn.execute(
            sa.select(trace_info.c.request_id).where(
                trace_info.c.request_id == trace_id, *by_experiment_scope(trace_info.c.experiment_id)
            )
        ).first()
        is not None
    )


def _require_trace(conn: sa.Connection, trace_id: str) -> None:
    if not trace_id:
        raise invalid("An assessment needs the id of the trace it assesses")
    if not _trace_exists(conn, trace_id):
        raise MltrailException(f"Trace with ID '{trace_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST)


def _row(a: Assessment) -> dict[str, Any]:
    return {
        "assessment_id": a.assessment_id,
        "trace_id": a.trace_id,
        "name": a.name[:250],
        "assessment_type": "expectation" if "expectation" in a else "feedback",
        "created_timestamp": a.create_time_ms or 0,
        "last_updated_timestamp": a.last_update_time_ms or 0,
        "overrides": a.overrides,
        "valid": a.get("valid") is not False,
        "content": json.dumps(a, ensure_ascii=False),
    }


def load_for_traces(conn: sa.Connection, trace_ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """Each trace's assessments, oldest first."""
    out: dict[str, list[Assessment]] = {}
    for part in chunks(list(trace_ids)):
        query = (
            sa.select(_A.trace_id, _A.content)
            .where(_A.trace_id.in_(part))
            .order_by(_A.trace_id, _A.created_timestamp, _A.assessment_id)
        )
        for r in conn.execute(query):
            out.setdefault(r.trace_id, []).append(Assessment.from_proto_json(json.loads(r.content)))
    return out


def create(conn: sa.Connection, assessment: Assessment) -> Assessment:
    """Store a new assessment under a fresh id; an override marks the one it overrides invalid."""
    if not isinstance(assessment, Assessment):
        raise invalid(f"Invalid assessment {assessment!r}: use Feedback or Expectation")
    trace_id = assessment.trace_id or ""
    _require_trace(conn, trace_id)
    stored = Assessment.from_proto_json(assessment.to_proto_json())
    stored.assessment_id = new_assessment_id()
    if "feedback" in stored and "valid" not in stored:
        stored["valid"] = True
    if stored.overrides:
        found = conn.execute(
            sa.update(assessments)
            .where(_A.assessment_id == stored.overrides, _A.trace_id == trace_id)
            .values(valid=False)
        )
        if not found.rowcount:
            raise MltrailException(
                f"Assessment with ID '{stored.overrides}' (to override) not found for trace '{trace_id}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        _set_valid_in_content(conn, stored.overrides, False)
    conn.execute(sa.insert(assessments).values(**_row(stored)))
    return stored


def store_missing(conn: sa.Connection, trace_id: str, items: Sequence[Any]) -> None:
    """Store the assessments a finished trace's info carries that are not stored yet (by id)."""
    for item in items:
        a = item if isinstance(item, Assessment) else Assessment.from_proto_json(item)
        if (
            a.assessment_id
            and conn.execute(sa.select(_A.assessment_id).where(_A.assessment_id == a.assessment_id)).first()
            is not None
        ):
            continue
        a = Assessment.from_proto_json(a.to_proto_json())
        a.trace_id = trace_id
        a.assessment_id = a.assessment_id or new_assessment_id()
        conn.execute(sa.insert(assessments).values(**_row(a)))


def _set_valid_in_content(conn: sa.Connection, assessment_id: str, valid: bool) -> None:
    row = conn.execute(sa.select(_A.content).where(_A.assessment_id == assessment_id)).first()
    if row is not None:
        content = json.loads(row.content)
        content["valid"] = valid
        conn.execute(
            sa.update(assessments)
            .where(_A.assessment_id == assessment_id)
            .values(content=json.dumps(content, ensure_ascii=False))
        )


def get(conn: sa.Connection, trace_id: str, assessment_id: str) -> Assessment:
    """One assessment of a trace; ``RESOURCE_DOES_NOT_EXIST`` naming the trace or the assessment."""
    _require_trace(conn, trace_id)  # first: another workspace's trace is not found
    row = conn.execute(
        sa.select(_A.content).where(_A.trace_id == trace_id, _A.assessment_id == assessment_id)
    ).first()
    if row is None:
        raise MltrailException(
            f"Assessment with ID '{assessment_id}' not found for trace '{trace_id}'",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return Assessment.from_proto_json(json.loads(row.content))


def update(
    conn: sa.Connection,
    trace_id: str,
    assessment_id: str,
    name: str | None = None,
    expectation: ExpectationValue | None = None,
    feedback: FeedbackValue | None = None,
    rationale: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Assessment:
    """Change an assessment in place: name, value, rationale; metadata is merged. Source and span stay."""
    if expectation is not None and feedback is not None:
        raise invalid("Give either an expectation or a feedback value to update, not both")
    current = get(conn, trace_id, assessment_id)
    if expectation is not None and "expectation" not in current:
        raise invalid("Cannot update an expectation value on a Feedback assessment")
    if feedback is not None and "feedback" not in current:
        raise invalid("Cannot update a feedback value on an Expectation assessment")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"Invalid assessment name {name!r}: it must be a non-empty string")
        current["assessment_name"] = name
    if expectation is not None:
        current["expectation"] = expectation.to_proto_json()
    if feedback is not None:
        current["feedback"] = feedback.to_proto_json()
    if rationale is not None:
        current["rationale"] = rationale
    if metadata:
        current["metadata"] = {
            **(current.get("metadata") or {}),
            **{str(k): str(v) for k, v in metadata.items()},
        }
    current["last_update_time"] = ms_to_rfc3339(int(time.time() * 1000))
    row = _row(current)
    conn.execute(
        sa.update(assessments)
        .where(_A.assessment_id == assessment_id)
        .values(**{k: v for k, v in row.items() if k not in ("assessment_id", "trace_id")})
    )
    return current


def delete(conn: sa.Connection, trace_id: str, assessment_id: str) -> None:
    """Delete an assessment (nothing to do if it is gone); the one it overrode becomes valid again."""
    _require_trace(conn, trace_id)
    row = conn.execute(
        sa.select(_A.overrides).where(_A.trace_id == trace_id, _A.assessment_id == assessment_id)
    ).first()
    if row is None:
        return
    if row.overrides:
        conn.execute(sa.update(assessments).where(_A.assessment_id == row.overrides).values(valid=True))
        _set_valid_in_content(conn, row.overrides, True)
    conn.execute(sa.delete(assessments).where(_A.assessment_id == assessment_id))


def delete_for_traces(conn: sa.Connection, trace_ids: Sequence[str]) -> None:
    """Remove every assessment of these traces (before the traces themselves)."""
    for part in chunks(list(trace_ids)):
        conn.execute(sa.delete(assessments).where(_A.trace_id.in_(part)))
