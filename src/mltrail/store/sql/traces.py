"""Traces on SQL: trace_info, trace_tags, trace_request_metadata and spans.

One transaction stores a batch of finished traces (the exporter's call), so a
reader never sees a trace without its spans. Spans are kept whole as MLflow's
span JSON; a trace whose spans are here carries the tag
``mlflow.trace.spansLocation = TRACKING_STORE``, which tells the official
mlflow client to read spans from the server rather than from an artifact.

Example::

    store = SqlTraceStore("sqlite:///mltrail.db")
    infos, token = store.search_traces(["0"], "attributes.status = 'ERROR'")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.entities.assessment import Assessment, ExpectationValue, FeedbackValue
from mltrail.entities.trace import (
    Span,
    Trace,
    TraceData,
    TraceInfo,
    TraceMetadataKey,
    TraceState,
    TraceTagKey,
)
from mltrail.entities.trace_usage import OTEL_SESSION_KEY, OTEL_USER_KEY
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.search.limits import check_id_count
from mltrail.store.paging import decode_page_token
from mltrail.store.sql import assessments as _assessments
from mltrail.store.sql import trace_columns as _columns
from mltrail.store.sql import trace_paging as _paging
from mltrail.store.sql import trace_usage as _usage
from mltrail.store.sql._codec import chunks, upsert_statement
from mltrail.store.sql._workspace import by_experiment_scope, experiment_scope
from mltrail.store.sql.database import database_for
from mltrail.store.sql.schema import (
    experiments,
    review_queue_items,
    runs,
    spans,
    trace_info,
    trace_request_metadata,
    trace_tags,
)
from mltrail.store.sql.trace_metrics import TraceMetricsMixin
from mltrail.store.sql.trace_search import LINKED_RUN_PREFIX, compile_filter
from mltrail.store.sql.trace_ui_reads import TraceUiReadsMixin
from mltrail.store.traces import (
    SEARCH_TRACES_MAX_RESULTS,
    TraceStore,
    check_trace_links,
    check_trace_tag,
    parse_trace_filter,
    parse_trace_order_by,
)
from mltrail.store.validation import validate_key

_TI = trace_info.c
_TRACKING_STORE = "TRACKING_STORE"
_OTEL_IDS = (OTEL_SESSION_KEY, OTEL_USER_KEY)


def _not_found(trace_id: str) -> MltrailException:
    return MltrailException(f"Trace with ID '{trace_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST)


def _trace_key(trace_id: str) -> list[sa.ColumnElement[bool]]:
    """The trace ``trace_id`` if the bound workspace holds its experiment."""
    return [_TI.request_id == trace_id, *by_experiment_scope(_TI.experiment_id)]


def _exp_id(experiment_id: Any) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise invalid(f"Invalid experiment id {experiment_id!r}: it must be an integer string") from None


def _preview(text: str | None) -> str | None:
    return None if text is None else text[:1000]


class SqlTraceStore(TraceUiReadsMixin, TraceMetricsMixin, TraceStore):
    """Traces in the same database as the tracking store.

    A new trace gets the tag ``mlflow.artifactLocation`` =
    ``<experiment artifact location>/traces/<trace_id>/artifacts`` (MLflow's
    layout): where clients put the trace's ``traces.json`` and attachments.
    """

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.engine = self.db.engine  # for tools and tests; the store itself goes through self.db
        self.dialect = self.db.dialect
        self.db.ensure_schema()

    # ------------------------------------------------------------ writes
    def _experiment_location(self, conn: sa.Connection, exp_id: int) -> str:
        row = conn.execute(
            sa.select(experiments.c.artifact_location, experiments.c.lifecycle_stage).where(
                experiments.c.experiment_id == exp_id, *experiment_scope()
            )
        ).first()
        if row is None:
            raise MltrailException(
                f"No Experiment with id={exp_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return row.artifact_location or ""

    def _put_kv(self, conn: sa.Connection, table: sa.Table, trace_id: str, items: dict[str, str]) -> None:
        if not items:
            return
        stmt = upsert_statement(self.dialect, table, ("request_id", "key"), ("value",))
        conn.execute(stmt, [{"request_id": trace_id, "key": k, "value": v} for k, v in items.items()])

    def _ensure_trace_row(self, conn: sa.Connection, exp_id: int, trace_id: str, start_ms: int) -> None:
        exists = conn.execute(
            sa.select(_TI.request_id, _TI.experiment_id).where(_TI.request_id == trace_id)
        ).first()
        if exists is None:
            location = self._experiment_location(conn, exp_id)
            conn.execute(
                sa.insert(trace_info).values(
                    request_id=trace_id,
                    experiment_id=exp_id,
                    timestamp_ms=start_ms,
                    status=TraceState.IN_PROGRESS,
                )
            )
            self._put_kv(
                conn,
                trace_tags,
                trace_id,
                {TraceTagKey.ARTIFACT_LOCATION: f"{location.rstrip('/')}/traces/{trace_id}/artifacts"},
            )
        elif exists.experiment_id != exp_id:
            raise invalid(f"Trace {trace_id} belongs to experiment {exists.experiment_id}, not {exp_id}")

    def _log_spans(
        self, conn: sa.Connection, exp_id: int, span_list: Sequence[Span], totals: bool = True
    ) -> None:
        by_trace: dict[str, list[Span]] = {}
        priced: set[str] = set()
        for span in span_list:
            if not span.trace_id or not span.span_id:
                raise invalid("Every span needs a trace id and a span id")
            by_trace.setdefault(span.trace_id, []).append(span)
            if _usage.enrich(span):  # OTel GenAI usage, model and cost as MLflow's attributes
                priced.add(span.trace_id)
        stmt = upsert_statement(
            self.dialect,
            spans,
            ("trace_id", "span_id"),
            (
                "parent_span_id",
                "name",
                "type",
                "status",
                "start_time_unix_nano",
                "end_time_unix_nano",
                "content",
                "experiment_id",
            ),
        )
        for trace_id, group in by_trace.items():
            self._ensure_trace_row(conn, exp_id, trace_id, min(s.start_time_ns for s in group) // 1_000_000)
            conn.execute(
                stmt,
                [
                    {
                        "trace_id": trace_id,
                        "span_id": s.span_id,
                        "parent_span_id": s.parent_id,
                        "experiment_id": exp_id,
                        "name": (s.name or "")[:1000],
                        "type": (s.span_type or None),
                        "status": s.status_code,
                        "start_time_unix_nano": s.start_time_ns,
                        "end_time_unix_nano": s.end_time_ns,
                        "content": json.dumps(s.to_dict(), ensure_ascii=False),
                    }
                    for s in group
                ],
            )
            self._put_kv(conn, trace_tags, trace_id, {TraceTagKey.SPANS_LOCATION: _TRACKING_STORE})
            if totals and trace_id in priced:
                _usage.refresh_trace_totals(conn, trace_id)
            _usage.adopt_session_and_user(conn, self._put_kv, trace_id, group)
            if trace_id in priced or any(k in s.raw_attributes for s in group for k in _OTEL_IDS):
                _columns.sync(conn, [trace_id])  # the indexed copies follow the metadata just written

    def _start_trace(self, conn: sa.Connection, info: TraceInfo) -> None:
        if not info.trace_id:
            raise invalid("A trace needs a trace_id")
        if info.state not in TraceState.ALL:
            raise invalid(f"Invalid trace state {info.state!r}: use one of {', '.join(TraceState.ALL)}")
        exp_id = _exp_id(info.experiment_id)
        for key, value in info.tags.items():
            check_trace_tag(key, value)
        for key, value in info.trace_metadata.items():
            check_trace_tag(key, value)
        self._ensure_trace_row(conn, exp_id, info.trace_id, info.request_time)
        values = {
            "timestamp_ms": info.request_time,
            "execution_time_ms": info.execution_duration,
            "status": info.state,
            "client_request_id": info.client_request_id,
            "request_preview": _preview(info.request_preview),
            "response_preview": _preview(info.response_preview),
        }
        name = info.tags.get(TraceTagKey.TRACE_NAME)
        if name is not None:  # the sorted copy of the name tag (migration 0015)
            values["trace_name"] = name[: _columns.NAME_WIDTH]
        conn.execute(sa.update(trace_info).where(_TI.request_id == info.trace_id).values(**values))
        tags = dict(info.tags)
        # Where the spans are is the server's business, not the client's.
        tags.pop(TraceTagKey.SPANS_LOCATION, None)
        tags.pop(TraceTagKey.ARTIFACT_LOCATION, None)
        self._put_kv(conn, trace_tags, info.trace_id, tags)
        self._put_kv(conn, trace_request_metadata, info.trace_id, dict(info.trace_metadata))
        _columns.sync(conn, [info.trace_id])
        if info.assessments:  # logged while the trace was still running
            _assessments.store_missing(conn, info.trace_id, info.assessments)

    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        self.db.write(lambda conn: self._start_trace(conn, trace_info))
        return self.get_trace_info(trace_info.trace_id)

    def log_spans(self, experiment_id: str, spans: list[Span]) -> None:
        if spans:
            exp_id = _exp_id(experiment_id)
            self.db.write(lambda conn: self._log_spans(conn, exp_id, spans))

    def log_traces(self, traces: list[Trace]) -> None:
        """Every trace of the batch, spans and info, in one transaction."""

        def write(conn: sa.Connection) -> None:
            for trace in traces:
                if trace.data.spans:
                    # The SDK totals usage and cost over the whole trace it sends; re-read only without them.
                    totals = TraceMetadataKey.TOKEN_USAGE not in trace.info.trace_metadata
                    self._log_spans(conn, _exp_id(trace.info.experiment_id), trace.data.spans, totals)
                self._start_trace(conn, trace.info)

        if traces:
            self.db.write(write)

    # ------------------------------------------------------------ reads
    def _load_infos(self, conn: sa.Connection, ids: Sequence[str]) -> list[TraceInfo]:
        rows, tags, meta = {}, {}, {}
        judged = _assessments.load_for_traces(conn, ids)
        for part in chunks(list(ids)):
            for r in conn.execute(sa.select(trace_info).where(_TI.request_id.in_(part), *by_experiment_scope(_TI.experiment_id))):
                rows[r.request_id] = r
            for r in conn.execute(sa.select(trace_tags).where(trace_tags.c.request_id.in_(part))):
                tags.setdefault(r.request_id, {})[r.key] = r.value
            for r in conn.execute(
                sa.select(trace_request_metadata).where(trace_request_metadata.c.request_id.in_(part))
            ):
                if not r.key.startswith(LINKED_RUN_PREFIX):  # a run link is not the trace's own metadata
                    meta.setdefault(r.request_id, {})[r.key] = r.value
        return [
            TraceInfo(
                trace_id=r.request_id,
                experiment_id=str(r.experiment_id),
                request_time=r.timestamp_ms,
                execution_duration=r.execution_time_ms,
                state=r.status,
                trace_metadata=meta.get(r.request_id, {}),
                tags=tags.get(r.request_id, {}),
                client_request_id=r.client_request_id,
                request_preview=r.request_preview,
                response_preview=r.response_preview,
                assessments=list(judged.get(r.request_id, [])),
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    def _load_spans(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = {}
        for part in chunks(list(ids)):
            query = (
                sa.select(spans.c.trace_id, spans.c.content)
                .where(spans.c.trace_id.in_(part))
                .order_by(spans.c.trace_id, spans.c.start_time_unix_nano, spans.c.span_id)
            )
            for r in conn.execute(query):
                out.setdefault(r.trace_id, []).append(Span.from_dict(json.loads(r.content)))
        return out

    def get_trace_info(self, trace_id: str) -> TraceInfo:
        with self.db.read() as conn:
            infos = self._load_infos(conn, [trace_id])
        if not infos:
            raise _not_found(trace_id)
        return infos[0]

    def get_trace(self, trace_id: str) -> Trace:
        traces = self.batch_get_traces([trace_id])
        if not traces:
            raise _not_found(trace_id)
        return traces[0]

    def batch_get_traces(self, trace_ids: list[str]) -> list[Trace]:
        with self.db.read() as conn:
            infos = self._load_infos(conn, trace_ids)
            by_trace = self._load_spans(conn, [i.trace_id for i in infos])
        return [Trace(info, TraceData(_root_first(by_trace.get(info.trace_id, [])))) for info in infos]

    def search_traces(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[list[TraceInfo], str | None]:
        if not isinstance(max_results, int) or max_results < 1 or max_results > SEARCH_TRACES_MAX_RESULTS:
            raise invalid(
                f"Invalid value {max_results!r} for parameter 'max_results': it must be between 1 "
                f"and {SEARCH_TRACES_MAX_RESULTS}"
            )
        check_id_count(experiment_ids, "experiment_ids")
        exp_ids = [_exp_id(e) for e in experiment_ids or []]
        if not exp_ids:
            raise invalid("search_traces needs at least one experiment id")
        conds = [_TI.experiment_id.in_(exp_ids), *by_experiment_scope(_TI.experiment_id)]
        where = compile_filter(self.dialect, parse_trace_filter(filter_string))
        if where is not None:
            conds.append(where)
        sort = parse_trace_order_by(order_by)
        key, ascending = sort[0]
        keyset = len(sort) == 1  # one key: keyset pages; several: by offset (store/sql/trace_paging.py)
        offset, cursor = (
            _paging.read_cursor(page_token, key, ascending)
            if keyset
            else (decode_page_token(page_token), None)
        )
        with self.db.read() as conn:
            if keyset and (cursor is not None or offset == 0):
                rows = _paging.keyset_page(conn, conds, key, ascending, cursor, max_results + 1)
            else:
                order = [t for name, asc in sort for t in _paging.offset_order(name, asc, self.dialect)]
                order.append(_paging.tie_breaker(ascending))
                query = sa.select(_TI.request_id, _paging.column_for(key)).where(*conds).order_by(*order)
                rows = conn.execute(query.offset(offset).limit(max_results + 1)).all()
            infos = self._load_infos(conn, [r[0] for r in rows[:max_results]])
        token = None
        if len(rows) > max_results:
            last = rows[max_results - 1]
            token = _paging.make_token(offset + max_results, key if keyset else None, ascending, last)
        return infos, token

    # ------------------------------------------------------------ deletes and tags
    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: list[str] | None = None,
    ) -> int:
        exp_id = _exp_id(experiment_id)
        if trace_ids and (max_timestamp_millis is not None or max_traces is not None):
            raise invalid("Give either trace ids, or max_timestamp_millis / max_traces, not both")
        if not trace_ids and max_timestamp_millis is None:
            raise invalid("Give trace ids or max_timestamp_millis to delete traces")
        if max_traces is not None and (not isinstance(max_traces, int) or max_traces < 1):
            raise invalid(f"Invalid max_traces {max_traces!r}: it must be a positive integer")

        def delete(conn: sa.Connection) -> int:
            query = sa.select(_TI.request_id).where(_TI.experiment_id == exp_id, *by_experiment_scope(_TI.experiment_id))
            if trace_ids:
                check_id_count(list(trace_ids), "trace ids")
                query = query.where(_TI.request_id.in_(list(trace_ids)))
            else:
                query = query.where(_TI.timestamp_ms <= max_timestamp_millis).order_by(_TI.timestamp_ms.asc())
                if max_traces is not None:
                    query = query.limit(max_traces)
            ids = [r[0] for r in conn.execute(query)]
            _assessments.delete_for_traces(conn, ids)
            for part in chunks(ids):
                for table in (spans, trace_tags, trace_request_metadata):
                    key = table.c.trace_id if table is spans else table.c.request_id
                    conn.execute(sa.delete(table).where(key.in_(part)))
                # A deleted trace leaves the review queues it was in (as in MLflow).
                conn.execute(sa.delete(review_queue_items).where(review_queue_items.c.item_id.in_(part)))
                conn.execute(sa.delete(trace_info).where(_TI.request_id.in_(part)))
            return len(ids)

        return self.db.write(delete)

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        key, value = check_trace_tag(key, value)
        validate_key("Tag", key)  # MLflow's set_trace_tag applies the run-tag key rules

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_TI.request_id).where(*_trace_key(trace_id))).first() is None:
                raise _not_found(trace_id)
            self._put_kv(conn, trace_tags, trace_id, {key: value})
            if key == TraceTagKey.TRACE_NAME:
                _columns.set_name(conn, trace_id, value)

        self.db.write(write)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_TI.request_id).where(*_trace_key(trace_id))).first() is None:
                raise _not_found(trace_id)
            done = conn.execute(
                sa.delete(trace_tags).where(trace_tags.c.request_id == trace_id, trace_tags.c.key == key)
            )
            if not done.rowcount:
                raise MltrailException(
                    f"No tag with name: {key} in trace with ID {trace_id}", error_code=RESOURCE_DOES_NOT_EXIST
                )
            if key == TraceTagKey.TRACE_NAME:
                _columns.set_name(conn, trace_id, None)

        self.db.write(write)

    # ------------------------------------------------------------ assessments
    def create_assessment(self, assessment: Assessment) -> Assessment:
        return self.db.write(lambda conn: _assessments.create(conn, assessment))

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        with self.db.read() as conn:
            return _assessments.get(conn, trace_id, assessment_id)

    def update_assessment(
        self,
        trace_id: str,
        assessment_id: str,
        name: str | None = None,
        expectation: ExpectationValue | None = None,
        feedback: FeedbackValue | None = None,
        rationale: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Assessment:
        return self.db.write(
            lambda conn: _assessments.update(
                conn, trace_id, assessment_id, name, expectation, feedback, rationale, metadata
            )
        )

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        self.db.write(lambda conn: _assessments.delete(conn, trace_id, assessment_id))

    # ------------------------------------------------------------ run links
    def link_traces_to_run(self, trace_ids: list[str], run_id: str) -> None:
        """Link up to 100 traces to a run (``traces/link-to-run``), so ``search_traces(run_id=)`` finds them.

        Many-to-many, as in MLflow 3: a trace can be linked to any number of
        runs and a search by any of them finds it. A trace without a run gets
        the run as its ``mlflow.sourceRun`` metadata; every further run is a
        ``mltrail.linkedRun.<run_id>`` row, which trace reads leave out of
        ``trace_metadata``. Unknown trace ids are skipped as in MLflow; an
        unknown run is ``RESOURCE_DOES_NOT_EXIST``; linking twice is a no-op.
        """
        check_trace_links(trace_ids, run_id)
        if not trace_ids:
            return
        meta = trace_request_metadata.c
        link_key = f"{LINKED_RUN_PREFIX}{run_id}"

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(runs.c.run_uuid).where(runs.c.run_uuid == run_id)).first() is None:
                raise MltrailException(f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)
            known = set(
                conn.execute(sa.select(_TI.request_id).where(_TI.request_id.in_(trace_ids))).scalars()
            )
            present = {
                (r.request_id, r.key): r.value
                for r in conn.execute(
                    sa.select(meta.request_id, meta.key, meta.value).where(
                        meta.request_id.in_(trace_ids), meta.key.in_((TraceMetadataKey.SOURCE_RUN, link_key))
                    )
                )
            }
            rows = []
            for t in dict.fromkeys(trace_ids):
                source = present.get((t, TraceMetadataKey.SOURCE_RUN))
                if t not in known or source == run_id or (t, link_key) in present:
                    continue
                key = TraceMetadataKey.SOURCE_RUN if source is None else link_key
                rows.append({"request_id": t, "key": key, "value": run_id})
            if rows:
                conn.execute(sa.insert(trace_request_metadata), rows)

        self.db.write(write)


def _root_first(span_list: list[Span]) -> list[Span]:
    """Spans in start order with the root first (spans arrive ordered by start time)."""
    roots = [s for s in span_list if s.parent_id is None]
    return roots + [s for s in span_list if s.parent_id is not None]
