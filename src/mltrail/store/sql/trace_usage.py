"""Token usage, cost, session and user of stored traces: written when spans arrive, read in totals.

Spans from any client (the official mlflow client, OTLP exporters) are
priced here as MLflow's server does: OTel GenAI attributes become
``mlflow.chat.tokenUsage`` / ``mlflow.llm.model``, a priced model gives
``mlflow.llm.cost``, and the trace's ``mlflow.trace.tokenUsage`` /
``mlflow.trace.cost`` metadata are totalled over all its stored spans. A span's
``session.id`` / ``user.id`` become the trace's ``mlflow.trace.session`` /
``mlflow.trace.user`` when the trace has none.

The numbers inside those JSON metadata values are read in SQL with each
dialect's JSON function (:func:`json_number`), so filters, sorting and totals
need no extra column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities.prices import enrich_span_attributes
from mltrail.entities.trace import Span, SpanAttributeKey, TraceMetadataKey
from mltrail.entities.trace_usage import OTEL_SESSION_KEY, OTEL_USER_KEY, cost_total, usage_total
from mltrail.store.sql._codec import upsert_statement
from mltrail.store.sql.schema import spans, trace_request_metadata

_META = trace_request_metadata.c
_USAGE_KEYS = (SpanAttributeKey.CHAT_USAGE, SpanAttributeKey.LLM_COST)


def enrich(span: Span) -> bool:
    """Price one incoming span in place; True when it carries usage or cost (its trace needs new totals)."""
    try:
        enrich_span_attributes(span.raw_attributes)
    except (ValueError, OSError):  # a broken MLTRAIL_PRICES_FILE must not refuse spans
        pass
    return any(k in span.raw_attributes for k in _USAGE_KEYS)


def _attr(content: dict[str, Any], key: str) -> Any:
    raw = (content.get("attributes") or {}).get(key)
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def refresh_trace_totals(conn: sa.Connection, trace_id: str) -> None:
    """Recompute ``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost`` of a trace from all its stored spans."""
    usage_nodes, cost_nodes = [], []
    query = sa.select(spans.c.span_id, spans.c.parent_span_id, spans.c.content).where(
        spans.c.trace_id == trace_id
    )
    for span_id, parent, text in conn.execute(query):
        if SpanAttributeKey.CHAT_USAGE not in text and SpanAttributeKey.LLM_COST not in text:
            usage_nodes.append((span_id, parent, None))  # keeps the tree whole for the ancestor rule
            cost_nodes.append((span_id, parent, None))
            continue
        content = json.loads(text)
        usage_nodes.append((span_id, parent, _attr(content, SpanAttributeKey.CHAT_USAGE)))
        cost_nodes.append((span_id, parent, _attr(content, SpanAttributeKey.LLM_COST)))
    values = {}
    if usage := usage_total(usage_nodes):
        values[TraceMetadataKey.TOKEN_USAGE] = json.dumps(usage)
    if cost := cost_total(cost_nodes):
        values[TraceMetadataKey.COST] = json.dumps(cost)
    if values:
        stmt = upsert_statement(conn.dialect.name, trace_request_metadata, ("request_id", "key"), ("value",))
        conn.execute(stmt, [{"request_id": trace_id, "key": k, "value": v} for k, v in values.items()])


def adopt_session_and_user(
    conn: sa.Connection, put: Callable[..., None], trace_id: str, group: Sequence[Span]
) -> None:
    """Copy OTel ``session.id`` / ``user.id`` span attributes to the trace's metadata where it has none."""
    wanted = {}
    for meta_key, otel_key in (
        (TraceMetadataKey.TRACE_SESSION, OTEL_SESSION_KEY),
        (TraceMetadataKey.TRACE_USER, OTEL_USER_KEY),
    ):
        value = next((s.get_attribute(otel_key) for s in group if otel_key in s.raw_attributes), None)
        if value not in (None, ""):
            wanted[meta_key] = str(value)[:8000]
    if not wanted:
        return
    have = set(
        conn.execute(
            sa.select(_META.key).where(_META.request_id == trace_id, _META.key.in_(list(wanted)))
        ).scalars()
    )
    missing = {k: v for k, v in wanted.items() if k not in have}
    if missing:
        put(conn, trace_request_metadata, trace_id, missing)


def json_number(dialect: str, column: Any, field: str) -> Any:
    """``column``'s JSON object's numeric ``field`` as a SQL number (NULL when absent)."""
    if dialect == "postgresql":
        value: Any = sa.func.json_extract_path_text(sa.cast(column, sa.JSON), field)
    elif dialect in ("mysql", "mariadb"):
        value = sa.func.json_unquote(sa.func.json_extract(column, f'$."{field}"'))
    else:
        value = sa.func.json_extract(column, f'$."{field}"')
    return sa.cast(value, sa.Numeric(24, 10))


def json_text(dialect: str, column: Any, *path: str) -> Any:
    """The text at ``path`` inside a JSON document column (a nested string stays JSON-quoted)."""
    if dialect == "postgresql":
        return sa.func.json_extract_path_text(sa.cast(column, sa.JSON), *path)
    dotted = "$" + "".join(f'."{p}"' for p in path)
    if dialect in ("mysql", "mariadb"):
        return sa.func.json_unquote(sa.func.json_extract(column, dotted))
    return sa.func.json_extract(column, dotted)
