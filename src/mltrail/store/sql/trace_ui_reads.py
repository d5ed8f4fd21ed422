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
    store.trace_totals(["1"], "trace.run_id = 'r1'")  # {"trace_count": 3, "total_tokens": 900, ...}
    store.session_summaries(["1"])                    # [{"session_id": "s1", "trace_count": 4, ...}], None
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import invalid
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql._codec import chunks
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import assessments, spans, trace_info, trace_tags
from mltrail.store.sql.trace_columns import NUMBER_COLUMNS
from mltrail.store.sql.trace_search import compile_filter
from mltrail.store.trace_filter import parse_trace_filter
from mltrail.store.traces import SEARCH_TRACES_MAX_RESULTS, usage_totals_row


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
            spans.c.trace_id == trace_id
        )
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
            trace_info.c.status,
            trace_info.c.execution_time_ms,
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
        stmt = sa.select(
            sa.func.count(),
            sa.func.max(trace_info.c.timestamp_ms),
            running,
            sa.func.sum(trace_info.c.execution_time_ms),
            sa.func.sum(sa.case((trace_info.c.status == "ERROR", 1), else_=0)),
        ).where(trace_info.c.experiment_id.in_(ids))
        with self.db.read() as conn:
            return tuple(conn.execute(stmt).first() or ())

    # ------------------------------------------------------------ usage totals and sessions
    def _usage_query(
        self, experiment_ids: Sequence[str], filter_string: str | None
    ) -> tuple[list[Any], list[Any]]:
        """The summed usage and cost columns and the conditions of the traces matching a filter."""
        ids = [int(i) for i in experiment_ids]
        ti = trace_info.c
        sums = [sa.func.count(), *(sa.func.sum(ti[c]) for c, _, _ in NUMBER_COLUMNS)]
        conds = [ti.experiment_id.in_(ids)]
        where = compile_filter(self.db.dialect, parse_trace_filter(filter_string))
        if where is not None:
            conds.append(where)
        return sums, conds

    def trace_totals(self, experiment_ids: Sequence[str], filter_string: str | None = None) -> dict[str, Any]:
        """Trace count, tokens and cost (USD) summed over the traces matching a filter, in one query."""
        sums, conds = self._usage_query(experiment_ids, filter_string)
        with self.db.read() as conn:
            row = conn.execute(sa.select(*sums).where(*conds)).first()
        return usage_totals_row(row)

    def session_summaries(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Sessions (``mlflow.trace.session``) of some experiments, most recent first: turns, tokens, cost, user."""
        if not isinstance(max_results, int) or not 1 <= max_results <= SEARCH_TRACES_MAX_RESULTS:
            raise invalid(
                f"Invalid max_results {max_results!r}: it must be between 1 and {SEARCH_TRACES_MAX_RESULTS}"
            )
        offset = decode_page_token(page_token)
        sums, conds = self._usage_query(experiment_ids, filter_string)
        ti = trace_info.c
        last = sa.func.max(ti.timestamp_ms)
        # One aggregate over the indexed copies (migration 0008): no metadata row is read.
        page_query = (
            sa.select(
                ti.session_id,
                *sums,
                sa.func.min(ti.timestamp_ms),
                last,
                sa.func.max(ti.user_id),
                sa.func.sum(sa.case((ti.status == "ERROR", 1), else_=0)),
            )
            .where(*conds, ti.session_id.is_not(None))
            .group_by(ti.session_id)
            .order_by(last.desc(), ti.session_id)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.db.read() as conn:
            rows = conn.execute(page_query).all()
        width = len(sums)
        out = []
        for r in rows[:max_results]:
            totals = usage_totals_row(r[1 : 1 + width])
            first, latest, user, errors = r[1 + width :]
            totals.update(
                session_id=r[0],
                trace_count=totals["trace_count"],
                first_timestamp_ms=first,
                last_timestamp_ms=latest,
                user=user,
                error_count=int(errors or 0),
            )
            out.append(totals)
        return out, encode_page_token(offset + max_results) if len(rows) > max_results else None
