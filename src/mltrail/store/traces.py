"""The trace store interface, and MLflow's trace filter grammar (the subset mltrail serves).

Implemented on SQL (:class:`mltrail.store.sql.traces.SqlTraceStore`) and over
HTTP (:class:`mltrail.store.rest_traces.RestTraceStore`), so the tracing SDK
does not care where traces live.

Filter strings are clauses joined by ``AND``, each ``<field> <op> <value>``:

==========================================  =================================
field                                       ops
==========================================  =================================
``attributes.status`` / ``trace.status``    ``=  !=  IN  NOT IN``
(also ``status``, ``state``)
``attributes.timestamp_ms`` (``timestamp``) ``=  !=  <  <=  >  >=``
``attributes.execution_time_ms``            ``=  !=  <  <=  >  >=``
``attributes.run_id`` (``run_id``)          ``=  !=``
``attributes.name`` / ``trace.name``        ``=  !=  LIKE  ILIKE``
``attributes.client_request_id``            ``=  !=``
``tags.<key>``                              ``=  !=  LIKE  ILIKE``
``metadata.<key>`` / ``request_metadata.``  ``=  !=  LIKE  ILIKE``
==========================================  =================================

Keys with dots or spaces may be quoted with backticks: ``tags.`mlflow.traceName```.
Order by ``timestamp_ms`` (default ``DESC``), ``execution_time_ms``,
``status`` or ``name``, each optionally ``ASC``/``DESC``.

Example::

    store.search_traces(["1"], "attributes.status = 'OK' AND metadata.`mlflow.sourceRun` = 'abc'")
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from mltrail.entities.assessment import Assessment, ExpectationValue, FeedbackValue
from mltrail.entities.trace import Span, Trace, TraceInfo, TraceMetadataKey, TraceTagKey
from mltrail.exceptions import invalid
from mltrail.search.limits import MAX_FILTER_CLAUSES, check_filter_length, check_order_by_count, over_limit
from mltrail.search.parser import to_number
from mltrail.store.validation import MAX_TRACE_TAG_KEY_LENGTH, MAX_TRACE_TAG_VAL_LENGTH, too_long

SEARCH_TRACES_DEFAULT_MAX_RESULTS = 100
SEARCH_TRACES_MAX_RESULTS = 50000  # MLflow's SEARCH_MAX_RESULTS_THRESHOLD


@dataclass(frozen=True)
class TraceClause:
    """One parsed filter clause: ``kind`` is ``attr``, ``tag`` or ``metadata``."""

    kind: str
    key: str
    op: str
    value: Any


_ATTR_ALIASES = {
    "status": "status", "state": "status", "timestamp_ms": "timestamp_ms", "timestamp": "timestamp_ms",
    "request_time": "timestamp_ms", "execution_time_ms": "execution_time_ms",
    "execution_duration": "execution_time_ms", "run_id": "run_id", "name": "name",
    "client_request_id": "client_request_id", "trace_id": "trace_id", "request_id": "trace_id",
}
_NUMERIC = {"timestamp_ms", "execution_time_ms"}
_FIELD = r"(?:(?P<prefix>[A-Za-z_]+)\.)?(?P<key>`[^`]+`|\"[^\"]+\"|[\w.\-/:]+?)"
_VALUE = r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+(?:\.\d+)?|\([^)]*\))"
_CLAUSE = re.compile(
    rf"\s*{_FIELD}\s*(?P<op>!=|>=|<=|=|<|>|\bNOT\s+IN\b|\bIN\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b)\s*{_VALUE}\s*",
    re.IGNORECASE,
)
_PREFIXES = {"attributes": "attr", "attribute": "attr", "attr": "attr", "trace": "attr", "tags": "tag", "tag": "tag",
             "metadata": "metadata", "request_metadata": "metadata"}


def _literal(raw: str) -> Any:
    if raw[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    if raw.startswith("("):
        items = [x.strip() for x in raw[1:-1].split(",") if x.strip()]
        return [_literal(x) for x in items]
    number = to_number(raw)  # None: left as text, which the clause checks then refuse
    return raw if number is None else number


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")


def _split_and(text: str) -> list[str]:
    """Split on AND outside quotes (quoted parts are masked while splitting)."""
    saved: list[str] = []

    def mask(m: re.Match[str]) -> str:
        saved.append(m.group(0))
        return f"\x00{len(saved) - 1}\x00"

    masked = _QUOTED.sub(mask, text)
    parts = re.split(r"\s+AND\s+", masked, flags=re.IGNORECASE)
    return [re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], part) for part in parts]


def parse_trace_filter(filter_string: str | None) -> list[TraceClause]:
    """Parse a trace filter; ``INVALID_PARAMETER_VALUE`` naming the clause that does not parse."""
    if filter_string is None or not str(filter_string).strip():
        return []
    if not isinstance(filter_string, str):
        raise invalid(f"Invalid trace filter {filter_string!r}: it must be a string")
    check_filter_length(filter_string, "trace filter")
    clauses = []
    parts = _split_and(filter_string.strip())
    if len(parts) > MAX_FILTER_CLAUSES:
        raise over_limit("the trace filter", len(parts), MAX_FILTER_CLAUSES, "clauses")
    for part in parts:
        m = _CLAUSE.fullmatch(part)
        if m is None:
            raise invalid(f"Invalid trace filter '{filter_string}': could not parse '{part.strip()}' "
                          "(expected <field> <op> <value>, e.g. attributes.status = 'OK')")
        prefix = (m.group("prefix") or "attributes").lower()
        key = m.group("key").strip("`\"")
        op = " ".join(m.group("op").upper().split())
        value = _literal(m.group("value"))
        kind = _PREFIXES.get(prefix)
        if kind is None:  # an unprefixed dotted key such as `mlflow.sourceRun` is not an attribute
            raise invalid(f"Invalid trace filter '{filter_string}': unknown entity '{prefix}' "
                          "(use attributes., trace., tags. or metadata.)")
        if kind == "attr":
            name = _ATTR_ALIASES.get(key.lower())
            if name is None:
                raise invalid(f"Invalid trace filter '{filter_string}': unknown attribute '{key}' "
                              f"(use {', '.join(sorted(set(_ATTR_ALIASES.values())))})")
            if name in _NUMERIC:
                if op not in ("=", "!=", "<", "<=", ">", ">=") or not isinstance(value, (int, float)):
                    raise invalid(f"Invalid trace filter '{filter_string}': '{key}' compares numbers with "
                                  "=, !=, <, <=, >, >=")
            elif op in ("IN", "NOT IN"):
                if not isinstance(value, list):
                    raise invalid(f"Invalid trace filter '{filter_string}': {op} takes a list like ('OK', 'ERROR')")
            elif op in ("<", "<=", ">", ">=") or not isinstance(value, str):
                raise invalid(f"Invalid trace filter '{filter_string}': '{key}' compares strings with =, !=, "
                              "LIKE, ILIKE, IN")
            if name == "run_id":  # MLflow: the run a trace was created in is metadata mlflow.sourceRun
                clauses.append(TraceClause("metadata", TraceMetadataKey.SOURCE_RUN, op, value))
            elif name == "name":
                clauses.append(TraceClause("tag", TraceTagKey.TRACE_NAME, op, value))
            else:
                clauses.append(TraceClause("attr", name, op, value))
            continue
        if op not in ("=", "!=", "LIKE", "ILIKE", "NOT LIKE") or not isinstance(value, str):
            raise invalid(f"Invalid trace filter '{filter_string}': {prefix}.{key} compares strings with "
                          "=, !=, LIKE, ILIKE")
        clauses.append(TraceClause(kind, key, op, value))
    return clauses


_ORDER_FIELDS = {"timestamp_ms": "timestamp_ms", "timestamp": "timestamp_ms", "request_time": "timestamp_ms",
                 "execution_time_ms": "execution_time_ms", "execution_duration": "execution_time_ms",
                 "status": "status", "state": "status", "name": "name", "trace_id": "trace_id",
                 "request_id": "trace_id"}


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

    def flush(self) -> None:  # noqa: B027 - optional hook, most stores buffer nothing
        """Send anything buffered (nothing, by default)."""


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
