"""The trace store interface, and MLflow's trace filter grammar (the subset mltrail serves).

Implemented on SQL (:class:`mltrail.store.sql.traces.SqlTraceStore`) and over
HTTP (:class:`mltrail.store.rest_traces.RestTraceStore`), so the tracing SDK
does not care where traces live.

Filters follow MLflow 3.17's ``search_traces`` grammar (``trace.status``,
``trace.text LIKE``, ``span.name``, ``span.attributes.<key>``, ``tags.<key>``,
``metadata.<key>`` ...) plus ``OR``, parentheses and the session, user, token
and cost fields: see :mod:`mltrail.store.trace_filter` for the table.
Order by ``timestamp_ms`` (default ``DESC``), ``execution_time_ms``,
``status``, ``name``, ``session``, ``user``, ``total_tokens``,
``input_tokens``, ``output_tokens`` or ``cost``, each optionally ``ASC``/``DESC``.

Example::

    store.search_traces(["1"], "attributes.status = 'OK' AND metadata.`mlflow.sourceRun` = 'abc'")
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mltrail.entities.assessment import Assessment, ExpectationValue, FeedbackValue
from mltrail.entities.trace import Span, Trace, TraceInfo, TraceMetadataKey
from mltrail.exceptions import invalid
from mltrail.search.limits import check_order_by_count
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.trace_filter import TraceClause, TraceNode, parse_trace_filter
from mltrail.store.validation import MAX_TRACE_TAG_KEY_LENGTH, MAX_TRACE_TAG_VAL_LENGTH, too_long

SEARCH_TRACES_DEFAULT_MAX_RESULTS = 100
SEARCH_TRACES_MAX_RESULTS = 50000  # MLflow's SEARCH_MAX_RESULTS_THRESHOLD

__all__ = ["MAX_TRACE_LINKS_PER_REQUEST", "SEARCH_TRACES_DEFAULT_MAX_RESULTS", "SEARCH_TRACES_MAX_RESULTS",
           "TraceClause", "TraceNode", "TraceStore", "check_trace_links", "check_trace_tag", "parse_trace_filter",
           "parse_trace_order_by", "usage_totals_row"]


_ORDER_FIELDS = {"timestamp_ms": "timestamp_ms", "timestamp": "timestamp_ms", "request_time": "timestamp_ms",
                 "execution_time_ms": "execution_time_ms", "execution_duration": "execution_time_ms",
                 "status": "status", "state": "status", "name": "name", "trace_id": "trace_id",
                 "request_id": "trace_id", "session": "session", "user": "user", "total_tokens": "total_tokens",
                 "tokens": "total_tokens", "input_tokens": "input_tokens", "output_tokens": "output_tokens",
                 "cost": "cost", "total_cost": "cost"}


def parse_trace_order_by(order_by: list[str] | None) -> list[tuple[str, bool]]:
    """``["timestamp_ms DESC"]`` -> ``[("timestamp_ms", False)]``; default newest first."""
    out = []
    check_order_by_count(order_by)
    for clause in order_by or []:
        words = str(clause).split()
        if not words or len(words) > 2:
            raise invalid(f"Invalid order_by clause '{clause}'")
        name = words[0].strip("`")
        for prefix in ("attributes.", "attribute.", "trace."):
            if name.lower().startswith(prefix):
                name = name[len(prefix):]
        field_name = _ORDER_FIELDS.get(name.lower())
        if field_name is None:
            raise invalid(f"Invalid order_by clause '{clause}': order by one of {', '.join(sorted(_ORDER_FIELDS))}")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise invalid(f"Invalid order_by clause '{clause}': direction must be ASC or DESC")
        out.append((field_name, direction == "ASC"))
    return out or [("timestamp_ms", False)]


class TraceStore(ABC):
    """Where traces live: MLflow's tracing store methods."""

    @abstractmethod
    def start_trace(self, trace_info: TraceInfo) -> TraceInfo:
        """Create or update a trace's info (MLflow 3's ``StartTraceV3``, sent when a trace ends)."""

    @abstractmethod
    def log_spans(self, experiment_id: str, spans: list[Span]) -> None:
        """Store spans (creating an IN_PROGRESS trace for spans of an unknown trace)."""

    def accepts_live_traces(self) -> bool:
        """Whether a trace may be sent while it still runs (``start_trace`` + ``log_spans`` early).

        True here; the REST store asks its server once, since a server other than mltrail
        shows such a trace as finished (OK, 0 s) until it ends.
        """
        return True

    def log_traces(self, traces: list[Trace]) -> None:
        """Store finished traces, spans and info (the exporter's batch call)."""
        for trace in traces:
            self.log_spans(trace.info.experiment_id, trace.data.spans)
            self.start_trace(trace.info)

    @abstractmethod
    def get_trace_info(self, trace_id: str) -> TraceInfo:
        """A trace's info; ``RESOURCE_DOES_NOT_EXIST`` if unknown."""

    @abstractmethod
    def get_trace(self, trace_id: str) -> Trace:
        """A trace with its spans; ``RESOURCE_DOES_NOT_EXIST`` if unknown."""

    @abstractmethod
    def batch_get_traces(self, trace_ids: list[str]) -> list[Trace]:
        """The known traces among ``trace_ids``, with spans, in the given order."""

    @abstractmethod
    def search_traces(self, experiment_ids: list[str], filter_string: str | None = None,
                      max_results: int = SEARCH_TRACES_DEFAULT_MAX_RESULTS, order_by: list[str] | None = None,
                      page_token: str | None = None) -> tuple[list[TraceInfo], str | None]:
        """Trace infos matching a filter, and the next page's token."""

    @abstractmethod
    def delete_traces(self, experiment_id: str, max_timestamp_millis: int | None = None,
                      max_traces: int | None = None, trace_ids: list[str] | None = None) -> int:
        """Delete traces by ids, or the oldest ones up to a time and/or count; returns how many."""

    @abstractmethod
    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set one tag on a trace."""

    @abstractmethod
    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove one tag from a trace (``RESOURCE_DOES_NOT_EXIST`` if it has no such tag)."""

    # -- assessments (feedback and expectations on a stored trace)
    @abstractmethod
    def create_assessment(self, assessment: Assessment) -> Assessment:
        """Store an assessment of ``assessment.trace_id`` and return it with its new ``assessment_id``."""

    @abstractmethod
    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        """One assessment; ``RESOURCE_DOES_NOT_EXIST`` if the trace or the assessment is unknown."""

    @abstractmethod
    def update_assessment(self, trace_id: str, assessment_id: str, name: str | None = None,
                          expectation: ExpectationValue | None = None, feedback: FeedbackValue | None = None,
                          rationale: str | None = None, metadata: dict[str, str] | None = None) -> Assessment:
        """Change an assessment's name, value or rationale (metadata is merged); returns it updated."""

    @abstractmethod
    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        """Delete an assessment (no error if it is already gone)."""

    # -- usage totals and sessions (generic: pages through search_traces; the SQL store asks SQL)
    def trace_totals(self, experiment_ids: list[str], filter_string: str | None = None) -> dict[str, Any]:
        """``{"trace_count", "input_tokens", "output_tokens", "total_tokens", "input_cost", "output_cost",
        "total_cost"}`` summed over the traces matching ``filter_string`` (per run: ``trace.run_id = '...'``)."""
        totals = usage_totals_row(None)
        for info in self._all_infos(experiment_ids, filter_string):
            _add_usage(totals, info)
        return totals

    def session_summaries(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Sessions of some experiments, most recent first: ``session_id``, ``trace_count``, tokens, cost,
        ``user``, ``first_timestamp_ms``, ``last_timestamp_ms``, ``error_count``; and the next page's token."""
        sessions: dict[str, dict[str, Any]] = {}
        for info in self._all_infos(experiment_ids, filter_string):
            sid = info.trace_metadata.get(TraceMetadataKey.TRACE_SESSION)
            if not sid:
                continue
            row = sessions.setdefault(sid, {**usage_totals_row(None), "session_id": sid, "user": None,
                                            "first_timestamp_ms": info.request_time, "error_count": 0,
                                            "last_timestamp_ms": info.request_time})
            _add_usage(row, info)
            row["user"] = row["user"] or info.trace_metadata.get(TraceMetadataKey.TRACE_USER)
            row["first_timestamp_ms"] = min(row["first_timestamp_ms"], info.request_time)
            row["last_timestamp_ms"] = max(row["last_timestamp_ms"], info.request_time)
            row["error_count"] += info.state == "ERROR"
        ordered = sorted(sessions.values(), key=lambda r: (-r["last_timestamp_ms"], r["session_id"]))
        offset = decode_page_token(page_token)
        page = ordered[offset : offset + max_results]
        return page, encode_page_token(offset + max_results) if len(ordered) > offset + max_results else None

    def _all_infos(self, experiment_ids: list[str], filter_string: str | None) -> Any:
        token = None
        while True:
            infos, token = self.search_traces(list(experiment_ids), filter_string, 500, None, token)
            yield from infos
            if not token:
                return

    def flush(self) -> None:  # noqa: B027 - optional hook, most stores buffer nothing
        """Send anything buffered (nothing, by default)."""


_TOTAL_KEYS = ("trace_count", "input_tokens", "output_tokens", "total_tokens", "input_cost", "output_cost",
               "total_cost")


def usage_totals_row(row: Any) -> dict[str, Any]:
    """``(count, input, output, total tokens, input, output, total cost)`` as a totals dict (None: zeros)."""
    values = list(row) if row is not None else [0] * len(_TOTAL_KEYS)
    out: dict[str, Any] = {}
    for key, value in zip(_TOTAL_KEYS, values, strict=True):
        if key.endswith("_cost"):
            out[key] = round(float(value or 0), 10)
        else:
            out[key] = int(value or 0)
    return out


def _add_usage(totals: dict[str, Any], info: TraceInfo) -> None:
    totals["trace_count"] += 1
    for key, value in (info.token_usage or {}).items():
        if key in totals and isinstance(value, (int, float)):
            totals[key] += int(value)
    for key, value in (info.cost or {}).items():
        if key in totals and isinstance(value, (int, float)):
            totals[key] = round(totals[key] + float(value), 10)


def check_trace_tag(key: Any, value: Any) -> tuple[str, str]:
    """A valid ``(key, value)`` for a trace tag, or ``INVALID_PARAMETER_VALUE``."""
    if not isinstance(key, str) or not key.strip():
        raise invalid(f"Invalid trace tag key {key!r}: it must be a non-empty string")
    if len(key) > MAX_TRACE_TAG_KEY_LENGTH:
        raise too_long(f"Trace tag key '{key[:40]}...'", len(key), MAX_TRACE_TAG_KEY_LENGTH)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TRACE_TAG_VAL_LENGTH:
        raise too_long(f"Trace tag value for key '{key[:40]}'", len(text), MAX_TRACE_TAG_VAL_LENGTH)
    return key, text


#: Trace ids per ``traces/link-to-run`` request (MLflow's MAX_TRACE_LINKS_PER_REQUEST).
MAX_TRACE_LINKS_PER_REQUEST = 100


def check_trace_links(trace_ids: Any, run_id: Any) -> None:
    """A valid link-to-run request (a run id, at most 100 string trace ids), or ``INVALID_PARAMETER_VALUE``."""
    if not isinstance(run_id, str) or not run_id:
        raise invalid("run_id cannot be empty")
    if not isinstance(trace_ids, list) or not all(isinstance(t, str) and t for t in trace_ids):
        raise invalid("trace_ids must be a list of non-empty trace id strings")
    if len(trace_ids) > MAX_TRACE_LINKS_PER_REQUEST:
        raise invalid(f"Cannot link more than {MAX_TRACE_LINKS_PER_REQUEST} traces to a run in a single request. "
                      f"Provided {len(trace_ids)} traces.")
