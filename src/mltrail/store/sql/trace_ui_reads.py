"""Reads the trace page and the live traces list need, beyond MLflow's REST API.

Mixed into :class:`~mltrail.store.sql.traces.SqlTraceStore`. Spans are stored
whole as MLflow's span JSON (``spans.content``), so the trace page gets them as
those stored strings, never decoded and re-encoded on the server: a
10,000-span trace costs one indexed read and one string join. The probes are
one small aggregate each, cheap enough for a live page to ask once a second.

Example::

    store = SqlTraceStore("sqlite:///mltrail.db")
    docs = store.span_documents("tr-1a2b")           # ['{"trace_id": ..., "span_id": ...}', ...]
    store.trace_probe("tr-1a2b")                      # ('IN_PROGRESS', None, 12, 1700000000123456789, 0)
    store.span_marks("tr-1a2b")                       # {'6f1c...': (1700000000123456789, 'OK'), ...}
    store.experiment_traces_probe(["1"])              # (40, 1700000000123, 2, 81234, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.store.sql._codec import chunks
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import assessments, spans, trace_info, trace_tags


class TraceUiReadsMixin:
    """Read-only trace reads for the UI; the host class provides ``db`` (a :class:`Database`)."""

    db: Database

    def span_documents(self, trace_id: str, span_ids: Sequence[str] | None = None) -> list[str]:
        """The stored span JSON strings of a trace, by start time (only ``span_ids`` if given)."""
        query = sa.select(spans.c.content).where(spans.c.trace_id == trace_id)
        order = (spans.c.start_time_unix_nano, spans.c.span_id)
        with self.db.read() as conn:
            if span_ids is None:
                return [r[0] for r in conn.execute(query.order_by(*order))]
            out: list[str] = []
            for part in chunks(list(span_ids)):
                out += [r[0] for r in conn.execute(query.where(spans.c.span_id.in_(part)).order_by(*order))]
            return out

    def span_marks(self, trace_id: str) -> dict[str, tuple[Any, str]]:
        """``span_id -> (end time, status)`` of every span of a trace: what changes when a span does."""
        query = sa.select(spans.c.span_id, spans.c.end_time_unix_nano, spans.c.status).where(
            spans.c.trace_id == trace_id)
        with self.db.read() as conn:
            return {r[0]: (r[1], r[2]) for r in conn.execute(query)}

    def trace_probe(self, trace_id: str) -> tuple | None:
        """A fingerprint of what the trace page shows, or ``None`` for an unknown trace.

        State, duration, span count and latest span end, assessment count and last
        update, tag count: a page re-reads only when this changes.
        """
        def one(column: Any, table: sa.Table, key: Any) -> Any:
            # Scalar subqueries (not joins): one row whatever the dialect, no cartesian product.
            return sa.select(column).select_from(table).where(key == trace_id).scalar_subquery()

        stmt = sa.select(
            trace_info.c.status, trace_info.c.execution_time_ms,
            one(sa.func.count(), spans, spans.c.trace_id),
            one(sa.func.max(spans.c.end_time_unix_nano), spans, spans.c.trace_id),
            one(sa.func.max(spans.c.start_time_unix_nano), spans, spans.c.trace_id),
            one(sa.func.count(), assessments, assessments.c.trace_id),
            one(sa.func.max(assessments.c.last_updated_timestamp), assessments, assessments.c.trace_id),
            one(sa.func.count(), trace_tags, trace_tags.c.request_id),
        ).where(trace_info.c.request_id == trace_id)
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else tuple(row)

    def experiment_traces_probe(self, experiment_ids: Sequence[str]) -> tuple:
        """A fingerprint of the traces of some experiments: count, newest, in progress, total duration.

        One aggregate over the ``(experiment_id, timestamp_ms)`` index; the traces
        list re-reads its first page when it changes.
        """
        ids = [int(i) for i in experiment_ids]
        running = sa.func.sum(sa.case((trace_info.c.status == "IN_PROGRESS", 1), else_=0))
        stmt = sa.select(sa.func.count(), sa.func.max(trace_info.c.timestamp_ms), running,
                         sa.func.sum(trace_info.c.execution_time_ms),
                         sa.func.sum(sa.case((trace_info.c.status == "ERROR", 1), else_=0))).where(
            trace_info.c.experiment_id.in_(ids))
        with self.db.read() as conn:
            return tuple(conn.execute(stmt).first() or ())
