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

from mltrail.entities.trace import TraceMetadataKey
from mltrail.exceptions import invalid
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql._codec import chunks
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import assessments, spans, trace_info, trace_request_metadata, trace_tags
from mltrail.store.sql.trace_search import compile_filter
from mltrail.store.sql.trace_usage import json_number
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

    # ------------------------------------------------------------ usage totals and sessions
    def _usage_query(self, experiment_ids: Sequence[str], filter_string: str | None) -> tuple[Any, list[Any]]:
        """``trace_info`` left-joined to its usage and cost metadata, filtered; and the summed columns."""
        ids = [int(i) for i in experiment_ids]
        usage = trace_request_metadata.alias("usage")
        cost = trace_request_metadata.alias("cost")
        ti = trace_info.c
        joined = trace_info.outerjoin(
            usage, sa.and_(usage.c.request_id == ti.request_id, usage.c.key == TraceMetadataKey.TOKEN_USAGE)
        ).outerjoin(cost, sa.and_(cost.c.request_id == ti.request_id, cost.c.key == TraceMetadataKey.COST))
        d = self.db.dialect
        sums = [
            sa.func.count(),
            *(sa.func.sum(json_number(d, usage.c.value, k)) for k in ("input_tokens", "output_tokens", "total_tokens")),
            *(sa.func.sum(json_number(d, cost.c.value, k)) for k in ("input_cost", "output_cost", "total_cost")),
        ]
        conds = [ti.experiment_id.in_(ids)]
        where = compile_filter(d, parse_trace_filter(filter_string))
        if where is not None:
            conds.append(where)
        return joined, [sums, conds]

    def trace_totals(self, experiment_ids: Sequence[str], filter_string: str | None = None) -> dict[str, Any]:
        """Trace count, tokens and cost (USD) summed over the traces matching a filter, in one query."""
        joined, (sums, conds) = self._usage_query(experiment_ids, filter_string)
        with self.db.read() as conn:
            row = conn.execute(sa.select(*sums).select_from(joined).where(*conds)).first()
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
            raise invalid(f"Invalid max_results {max_results!r}: it must be between 1 and {SEARCH_TRACES_MAX_RESULTS}")
        offset = decode_page_token(page_token)
        joined, (sums, conds) = self._usage_query(experiment_ids, filter_string)
        session = trace_request_metadata.alias("session")
        user = trace_request_metadata.alias("user")
        ti = trace_info.c
        in_session = sa.and_(session.c.request_id == ti.request_id, session.c.key == TraceMetadataKey.TRACE_SESSION)
        of_user = sa.and_(user.c.request_id == ti.request_id, user.c.key == TraceMetadataKey.TRACE_USER)
        last = sa.func.max(ti.timestamp_ms)
        # Two steps: the page of sessions from indexed columns only, then the JSON token and cost sums for
        # that page's traces alone (summing every trace's JSON first cost seconds at 100,000 traces).
        page_query = (
            sa.select(session.c.value, sa.func.count(), sa.func.min(ti.timestamp_ms), last, sa.func.max(user.c.value),
                      sa.func.sum(sa.case((ti.status == "ERROR", 1), else_=0)))
            .select_from(trace_info.join(session, in_session).outerjoin(user, of_user))
            .where(*conds)
            .group_by(session.c.value)
            .order_by(last.desc(), session.c.value)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.db.read() as conn:
            rows = conn.execute(page_query).all()
            ids = [r[0] for r in rows[:max_results]]
            sums_by_session: dict[str, Any] = {}
            for part in chunks(ids):
                sums_query = (sa.select(session.c.value, *sums).select_from(joined.join(session, in_session))
                              .where(*conds, session.c.value.in_(part)).group_by(session.c.value))
                sums_by_session.update({r[0]: r[1:] for r in conn.execute(sums_query)})
        out = []
        for r in rows[:max_results]:
            totals = usage_totals_row(sums_by_session.get(r[0]))
            totals.update(session_id=r[0], trace_count=int(r[1]), first_timestamp_ms=r[2], last_timestamp_ms=r[3],
                          user=r[4], error_count=int(r[5] or 0))
            out.append(totals)
        return out, encode_page_token(offset + max_results) if len(rows) > max_results else None
