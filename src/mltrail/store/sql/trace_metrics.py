"""Trace metrics and filter correlation on SQL: the rows :mod:`mltrail.store.trace_metrics` aggregates.

Mixed into :class:`~mltrail.store.sql.traces.SqlTraceStore`. One query per
request reads ``(time bucket, *dimensions, value)`` for the traces, spans or
assessments of some experiments that match the filters (the ``search_traces``
grammar, compiled to SQL) and the time range; grouping and aggregation happen in
Python, so percentiles come out the same on SQLite, PostgreSQL and MySQL.
Correlation counts are four ``COUNT`` queries.

Example::

    store.query_trace_metrics(["1"], MetricQuery.build("TRACES", "trace_count", [("COUNT", None)]))
    store.trace_filter_correlation(["1"], "trace.status = 'ERROR'", "tags.env = 'prod'")
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities.trace import TraceTagKey
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import assessments, spans, trace_info, trace_tags
from mltrail.store.sql.trace_search import compile_filter
from mltrail.store.trace_filter import parse_trace_filter
from mltrail.store.trace_metrics import MetricQuery, aggregate, npmi

_TI = trace_info.c
_S = spans.c
_A = assessments.c
#: Rows read per request at most: a dashboard query over more is refused rather than run unbounded.
MAX_METRIC_ROWS = 1_000_000


def _trace_name() -> Any:
    t = trace_tags.c
    return (
        sa.select(t.value)
        .where(t.request_id == _TI.request_id, t.key == TraceTagKey.TRACE_NAME)
        .scalar_subquery()
    )


def _assessment_value(content: str) -> float | None:
    """The number an assessment carries (a feedback's number or boolean), else ``None``."""
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    raw = (doc.get("feedback") or {}).get("value", doc.get("value")) if isinstance(doc, dict) else None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str) and raw.strip().lower() in ("yes", "true", "no", "false"):
        return 1.0 if raw.strip().lower() in ("yes", "true") else 0.0
    return None


def _assessment_label(content: str) -> str | None:
    try:
        doc = json.loads(content)
    except ValueError:
        return None
    raw = (
        (doc.get("feedback") or doc.get("expectation") or {}).get("value") if isinstance(doc, dict) else None
    )
    if raw is None:
        return None
    return json.dumps(raw) if not isinstance(raw, str) else raw


class TraceMetricsMixin:
    """``query_trace_metrics`` and ``trace_filter_correlation``; the host class provides ``db``."""

    db: Database

    def _trace_conditions(self, experiment_ids: Sequence[str], filter_string: str | None) -> list[Any]:
        conds = [_TI.experiment_id.in_([int(i) for i in experiment_ids])]
        where = compile_filter(self.db.dialect, parse_trace_filter(filter_string))
        if where is not None:
            conds.append(where)
        return conds

    def _metric_select(self, experiment_ids: Sequence[str], q: MetricQuery) -> Any:
        """The SELECT of ``(time ms, *dimensions, value, [assessment content])``."""
        conds = self._trace_conditions(experiment_ids, q.trace_filter())
        if q.start_ms is not None:
            conds.append(_TI.timestamp_ms >= q.start_ms)
        if q.end_ms is not None:
            conds.append(_TI.timestamp_ms <= q.end_ms)
        if q.view == "TRACES":
            dims = {"trace_name": _trace_name(), "trace_status": _TI.status}
            named = {
                "trace_count": _TI.request_id,
                "session_count": _TI.session_id,
                "latency": _TI.execution_time_ms,
            }
            value = named.get(q.metric, trace_info.c.get(q.metric))
            cols = [_TI.timestamp_ms, *(dims[d] for d in q.dimensions), value]
            return sa.select(*cols).where(*conds)
        if q.view == "SPANS":
            dims = {"span_name": _S.name, "span_type": _S.type, "span_status": _S.status}
            latency = (_S.end_time_unix_nano - _S.start_time_unix_nano) / 1_000_000
            value = _S.span_id if q.metric == "span_count" else latency
            cols = [_S.start_time_unix_nano / 1_000_000, *(dims[d] for d in q.dimensions), value]
            query = sa.select(*cols).select_from(spans.join(trace_info, _S.trace_id == _TI.request_id))
            if q.metric == "latency":
                conds.append(_S.end_time_unix_nano.is_not(None))
            return query.where(*conds)
        cols = [_TI.timestamp_ms, _A.name, _A.content]
        query = sa.select(*cols).select_from(assessments.join(trace_info, _A.trace_id == _TI.request_id))
        return query.where(*conds, _A.valid.is_(True))

    def _metric_rows(
        self, experiment_ids: Sequence[str], q: MetricQuery
    ) -> Iterator[tuple[tuple[Any, ...], Any]]:
        stmt = self._metric_select(experiment_ids, q)
        bucket = q.interval_seconds * 1000 if q.interval_seconds else None
        with self.db.read() as conn:
            rows = conn.execute(stmt.limit(MAX_METRIC_ROWS)).all()
        for row in rows:
            start = (int(row[0]) // bucket) * bucket if bucket else None
            if q.view == "ASSESSMENTS":
                name, content = row[1], row[2]
                if q.metric == "assessment_count":
                    dims = {"assessment_name": name, "assessment_value": _assessment_label(content)}
                    yield (start, *(dims[d] for d in q.dimensions)), name
                else:
                    yield (start, *(name for _ in q.dimensions)), _assessment_value(content)
                continue
            yield (start, *row[1:-1]), row[-1]

    def query_trace_metrics(self, experiment_ids: Sequence[str], query: MetricQuery) -> list[dict[str, Any]]:
        """MLflow's ``MetricDataPoint`` JSON for ``query`` over some experiments' traces."""
        return aggregate(query, self._metric_rows(experiment_ids, query))

    def _count(self, experiment_ids: Sequence[str], filter_string: str | None) -> int:
        stmt = sa.select(sa.func.count()).select_from(trace_info)
        with self.db.read() as conn:
            return int(
                conn.execute(stmt.where(*self._trace_conditions(experiment_ids, filter_string))).scalar() or 0
            )

    def trace_filter_correlation(
        self, experiment_ids: Sequence[str], filter1: str, filter2: str, base_filter: str | None = None
    ) -> dict[str, Any]:
        """NPMI between two trace filters (within ``base_filter``'s traces): MLflow's response fields."""

        def both(*parts: str | None) -> str | None:
            found = [f"({p})" for p in parts if p]
            return " AND ".join(found) or None

        total = self._count(experiment_ids, both(base_filter))
        count1 = self._count(experiment_ids, both(base_filter, filter1))
        count2 = self._count(experiment_ids, both(base_filter, filter2))
        joint = self._count(experiment_ids, both(base_filter, filter1, filter2))
        plain, smoothed = npmi(joint, count1, count2, total)
        return {"npmi": plain, "npmi_smoothed": smoothed, "filter1_count": count1, "filter2_count": count2,
                "joint_count": joint, "total_count": total}  # fmt: skip
