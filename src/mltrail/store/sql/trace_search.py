"""SQL for ``search_traces``: a parsed trace filter (:mod:`mltrail.store.trace_filter`).

The sort columns and paging are in :mod:`mltrail.store.sql.trace_paging`.

Every clause is one indexed predicate on ``trace_info`` or an ``EXISTS`` on
the table that holds the value (tags, metadata, spans), so ``AND`` / ``OR``
combine freely. Span clauses (``span.*``, ``trace.text``) mean "some span of
the trace matches", each clause on its own, as in MLflow.

Example::

    where = compile_filter("sqlite", parse_trace_filter("trace.text LIKE '%refund%'"))
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from mltrail.entities.trace import TraceMetadataKey
from mltrail.store.sql import search_ops as _ops
from mltrail.store.sql.schema import spans, trace_info, trace_request_metadata, trace_tags
from mltrail.store.sql.trace_columns import ID_WIDTH, NUMBER_COLUMNS
from mltrail.store.sql.trace_usage import json_number, json_text
from mltrail.store.trace_filter import (
    ATTR,
    CONTENT,
    METADATA,
    SPAN,
    SPAN_ATTR,
    TAG,
    USAGE,
    AllOf,
    AnyOf,
    TraceClause,
    TraceNode,
)

#: Metadata key prefix of a trace's links to runs other than its ``mlflow.sourceRun`` (link-to-run).
LINKED_RUN_PREFIX = "mltrail.linkedRun."

_TI = trace_info.c
_NUMERIC_ATTRS = ("timestamp_ms", "execution_time_ms", "end_time_ms")
_SP = spans.c
#: Metadata keys with an indexed copy in trace_info (migration 0008), and the numbers inside JSON ones.
_ID_COLUMNS = {TraceMetadataKey.TRACE_SESSION: _TI.session_id, TraceMetadataKey.TRACE_USER: _TI.user_id}
_NUMBER_COLUMNS = {f"{key}:{field}": trace_info.c[column] for column, key, field in NUMBER_COLUMNS}


def _id_column_clause(clause: TraceClause) -> Any:
    """``session = 's1'`` / ``user IN (...)`` on the indexed copy, or None when the metadata must answer.

    Only equality and IN on ids the column can hold: a longer id is not copied (its column is NULL),
    and ``!=``, ``LIKE`` or ``IS NULL`` would then count such a trace wrongly.
    """
    col = _ID_COLUMNS.get(clause.key)
    values = clause.value if isinstance(clause.value, list) else [clause.value]
    if col is None or clause.op not in ("=", "IN") or any(len(str(v)) > ID_WIDTH for v in values):
        return None
    return compare(col, clause.op, clause.value)


def compare(col: Any, op: str, value: Any, numeric: bool = False) -> Any:
    """``col <op> value`` with MLflow's semantics on every dialect (case-sensitive ``=`` and ``LIKE``)."""
    return _ops.compare(col, op, list(value) if isinstance(value, (list, tuple)) else value, numeric)


def _kv(table: sa.Table, clause: TraceClause) -> Any:
    c = table.c
    if clause.op == "IS NULL":
        return sa.not_(sa.exists().where(c.request_id == _TI.request_id, c.key == clause.key))
    if clause.op == "IS NOT NULL":
        return sa.exists().where(c.request_id == _TI.request_id, c.key == clause.key)
    return sa.exists().where(
        c.request_id == _TI.request_id, c.key == clause.key, compare(c.value, clause.op, clause.value)
    )


def _span_attr(dialect: str, clause: TraceClause) -> Any:
    # Span attribute values are stored JSON-encoded ("\"LLM\""): match the value as given or as encoded.
    col = json_text(dialect, _SP.content, "attributes", clause.key)
    op, value = clause.op, clause.value
    if op in ("=", "!="):
        cond = col.in_([value, json.dumps(value)])
        cond = cond if op == "=" else sa.not_(cond)
    elif op in ("IN", "NOT IN"):
        both = [v for x in value for v in (x, json.dumps(x))]
        cond = col.in_(both) if op == "IN" else col.not_in(both)
    else:
        cond = sa.or_(compare(col, op, value), compare(col, op, f'"{value}"'))
    return sa.exists().where(_SP.trace_id == _TI.request_id, cond)


def clause_sql(dialect: str, clause: TraceClause) -> Any:
    """One clause as a SQL boolean over ``trace_info``."""
    kind = clause.kind
    if kind == ATTR:
        if clause.key == "end_time_ms":
            col: Any = _TI.timestamp_ms + sa.func.coalesce(_TI.execution_time_ms, 0)
        else:
            col = {
                "status": _TI.status,
                "timestamp_ms": _TI.timestamp_ms,
                "trace_id": _TI.request_id,
                "execution_time_ms": _TI.execution_time_ms,
                "client_request_id": _TI.client_request_id,
            }[clause.key]
        return compare(col, clause.op, clause.value, clause.key in _NUMERIC_ATTRS)
    if kind == TAG:
        return _kv(trace_tags, clause)
    if kind == METADATA:
        if clause.key == TraceMetadataKey.SOURCE_RUN and clause.op == "=":
            # as MLflow: `run_id = X` also finds the traces linked to X by link-to-run (many runs per trace)
            m = trace_request_metadata.c
            link_key = f"{LINKED_RUN_PREFIX}{clause.value}"
            linked = sa.exists().where(m.request_id == _TI.request_id, m.key == link_key)
            return sa.or_(_kv(trace_request_metadata, clause), linked)
        on_column = _id_column_clause(clause)
        return _kv(trace_request_metadata, clause) if on_column is None else on_column
    if kind == SPAN:
        col = {"name": _SP.name, "type": _SP.type, "status": _SP.status}[clause.key]
        value = (
            [str(v).upper() for v in clause.value]
            if clause.key == "status" and isinstance(clause.value, list)
            else (str(clause.value).upper() if clause.key == "status" else clause.value)
        )
        return sa.exists().where(_SP.trace_id == _TI.request_id, compare(col, clause.op, value))
    if kind == SPAN_ATTR:
        return _span_attr(dialect, clause)
    if kind == CONTENT:
        return sa.exists().where(
            _SP.trace_id == _TI.request_id, compare(_SP.content, clause.op, clause.value)
        )
    if kind == USAGE:
        if clause.key in _NUMBER_COLUMNS:
            return compare(_NUMBER_COLUMNS[clause.key], clause.op, clause.value, True)
        meta_key, field = clause.key.split(":", 1)
        m = trace_request_metadata.c
        number = json_number(dialect, m.value, field)
        return sa.exists().where(
            m.request_id == _TI.request_id, m.key == meta_key, compare(number, clause.op, clause.value, True)
        )
    raise ValueError(f"unknown clause kind {kind!r}")


def compile_filter(dialect: str, node: TraceNode | None) -> Any:
    """The whole tree as one SQL boolean (``None`` for no filter)."""
    if node is None:
        return None
    if isinstance(node, TraceClause):
        return clause_sql(dialect, node)
    parts = [compile_filter(dialect, item) for item in node.items]
    return sa.and_(*parts) if isinstance(node, AllOf) else sa.or_(*parts) if isinstance(node, AnyOf) else None
