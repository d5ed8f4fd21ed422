"""MLflow 3.17's ``search_traces`` filter grammar, plus mltrail's ``OR`` and parentheses.

Pure (no SQL): the SQL store compiles the tree (:mod:`mltrail.store.sql.trace_search`).
``AND`` binds tighter than ``OR``; parentheses group. Each clause is
``<field> <op> <value>``:

=============================================  ====================================================
field                                          ops
=============================================  ====================================================
``trace.status`` / ``attributes.status``       ``= != IN NOT IN`` (also ``state``)
``trace.timestamp_ms`` (``timestamp``)         ``= != < <= > >=`` (also ``execution_time_ms``,
                                               ``end_time_ms``)
``trace.run_id`` / ``trace.name``              ``= != LIKE ILIKE IN NOT IN``
``trace.client_request_id`` / ``request_id``   ``= != LIKE ILIKE IN NOT IN``
``trace.text``                                 ``LIKE ILIKE``: full text over every span's name,
                                               inputs, outputs and attributes (MLflow's
                                               ``span.content``)
``span.name`` / ``span.type`` / ``span.status``  ``= != LIKE ILIKE IN NOT IN``: some span matches
``span.attributes.<key>``                      ``= != LIKE ILIKE IN NOT IN``
``span.content``                               ``LIKE ILIKE``
``tags.<key>`` / ``metadata.<key>``            ``= != LIKE ILIKE NOT LIKE IN NOT IN IS [NOT] NULL``
``trace.session`` / ``trace.user``             as metadata ``mlflow.trace.session`` / ``mlflow.trace.user``
``trace.input_tokens`` / ``output_tokens`` /   ``= != < <= > >=`` on the trace's
``total_tokens`` / ``trace.cost``              ``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost`` (USD)
=============================================  ====================================================

Example::

    parse_trace_filter("trace.text ILIKE '%refund%' AND (trace.session = 's1' OR trace.cost > 0.01)")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mltrail.entities.trace import TraceMetadataKey, TraceTagKey
from mltrail.exceptions import MltrailException
from mltrail.search.descent import DescentParser
from mltrail.search.lexer import (
    BACKTICK,
    COMMA,
    DQUOTE,
    LPAREN,
    NUMBER,
    OP,
    RPAREN,
    SQUOTE,
    WORD,
)
from mltrail.search.limits import (
    MAX_FILTER_CLAUSES,
    MAX_FILTER_VALUES,
    check_filter_length,
    more_than,
)
from mltrail.search.parser import to_number

# Clause kinds.
ATTR, TAG, METADATA, SPAN, SPAN_ATTR, CONTENT, USAGE = (
    "attr",
    "tag",
    "metadata",
    "span",
    "span_attr",
    "content",
    "usage",
)


@dataclass(frozen=True)
class TraceClause:
    """One comparison. ``kind`` says where ``key`` lives:

    ``attr`` (a trace_info column), ``tag``, ``metadata``, ``span`` (a span
    column: name/type/status), ``span_attr`` (a span attribute), ``content``
    (a span's whole JSON, for ``trace.text`` / ``span.content``) or ``usage``
    (a number inside ``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost``;
    ``key`` is ``"<metadata key>:<field>"``).
    """

    kind: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    """Every item holds."""

    items: tuple[TraceNode, ...]


@dataclass(frozen=True)
class AnyOf:
    """Some item holds."""

    items: tuple[TraceNode, ...]


TraceNode = TraceClause | AllOf | AnyOf

_STRING = ("=", "!=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "IN", "NOT IN")
_NUMERIC = ("=", "!=", "<", "<=", ">", ">=")
_KV = (*_STRING, "IS NULL", "IS NOT NULL")

_ATTRS: dict[str, tuple[str, str]] = {  # spelling -> (canonical, type)
    "status": ("status", "s"),
    "state": ("status", "s"),
    "timestamp_ms": ("timestamp_ms", "n"),
    "timestamp": ("timestamp_ms", "n"),
    "request_time": ("timestamp_ms", "n"),
    "execution_time_ms": ("execution_time_ms", "n"),
    "execution_time": ("execution_time_ms", "n"),
    "execution_duration": ("execution_time_ms", "n"),
    "end_time_ms": ("end_time_ms", "n"),
    "end_time": ("end_time_ms", "n"),
    "client_request_id": ("client_request_id", "s"),
    "trace_id": ("trace_id", "s"),
    "request_id": ("trace_id", "s"),
}
_ATTR_TO_META = {
    "run_id": TraceMetadataKey.SOURCE_RUN,
    "session": TraceMetadataKey.TRACE_SESSION,
    "session_id": TraceMetadataKey.TRACE_SESSION,
    "user": TraceMetadataKey.TRACE_USER,
    "user_id": TraceMetadataKey.TRACE_USER,
}
_ATTR_TO_TAG = {"name": TraceTagKey.TRACE_NAME}
_USAGE = {
    "input_tokens": f"{TraceMetadataKey.TOKEN_USAGE}:input_tokens",
    "output_tokens": f"{TraceMetadataKey.TOKEN_USAGE}:output_tokens",
    "total_tokens": f"{TraceMetadataKey.TOKEN_USAGE}:total_tokens",
    "tokens": f"{TraceMetadataKey.TOKEN_USAGE}:total_tokens",
    "cost": f"{TraceMetadataKey.COST}:total_cost",
    "total_cost": f"{TraceMetadataKey.COST}:total_cost",
    "input_cost": f"{TraceMetadataKey.COST}:input_cost",
    "output_cost": f"{TraceMetadataKey.COST}:output_cost",
}
_PREFIXES = {
    "attributes": ATTR,
    "attribute": ATTR,
    "attr": ATTR,
    "trace": ATTR,
    "tags": TAG,
    "tag": TAG,
    "metadata": METADATA,
    "request_metadata": METADATA,
    "span": SPAN,
    "spans": SPAN,
}
_SPAN_COLUMNS = ("name", "type", "status")
_KNOWN_ATTRS = sorted({*_ATTRS, *_ATTR_TO_META, *_ATTR_TO_TAG, *_USAGE, "text"})


def parse_trace_filter(filter_string: str | None) -> TraceNode | None:
    """Parse a trace filter into a tree; None for an empty one; ``INVALID_PARAMETER_VALUE`` saying where it fails."""
    if filter_string is None:
        return None
    if not isinstance(filter_string, str):
        raise MltrailException.invalid_parameter_value(
            f"Invalid trace filter {filter_string!r}: it must be a string"
        )
    check_filter_length(filter_string, "trace filter")
    if not filter_string.strip():
        return None
    return _Parser(filter_string).parse()


class _Parser(DescentParser):
    subject = "the trace filter"

    def __init__(self, source: str) -> None:
        super().__init__(source, "trace filter")

    def parse(self) -> TraceNode:
        return self.parse_boolean()

    def all_of(self, items: tuple[TraceNode, ...]) -> TraceNode:
        return AllOf(items)

    def any_of(self, items: tuple[TraceNode, ...]) -> TraceNode:
        return AnyOf(items)

    # ------------------------------------------------------------ one clause
    def identifier(self) -> tuple[str, str, int]:
        """``(prefix, key, position)``; prefix is '' for a bare attribute name."""
        tok = self.tok
        if tok.kind in (BACKTICK, DQUOTE):  # `name` alone
            self.advance()
            return "", tok.text, tok.start
        if tok.kind != WORD or tok.is_keyword("AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"):
            raise self.expected(
                "a field such as trace.status, trace.text, span.name, tags.<key> or metadata.<key>"
            )
        self.advance()
        prefix, dot, rest = tok.text.partition(".")
        if not dot:
            return "", tok.text, tok.start
        if rest.endswith(".") or not rest:  # span.attributes.`a.b` or tags.`a b`
            nxt = self.tok
            if nxt.kind in (BACKTICK, DQUOTE) and nxt.start == tok.end:
                self.advance()
                rest += nxt.text
            elif not rest:
                raise self.error(f"expected a key after '{prefix}.'", tok.end)
        return prefix.lower(), rest, tok.start

    def comparator(self) -> str:
        tok = self.tok
        if tok.kind == OP:
            self.advance()
            return tok.text
        if tok.is_keyword("LIKE", "ILIKE", "IN", "RLIKE"):
            self.advance()
            if tok.text.upper() == "RLIKE":
                raise self.error("RLIKE is not supported: use LIKE or ILIKE with % and _", tok.start)
            return tok.text.upper()
        if tok.is_keyword("NOT"):
            self.advance()
            if self.tok.is_keyword("LIKE", "ILIKE", "IN"):
                return "NOT " + self.advance().text.upper()
            raise self.expected("LIKE, ILIKE or IN after NOT")
        if tok.is_keyword("IS"):
            self.advance()
            negated = bool(self.tok.is_keyword("NOT") and self.advance())
            if not self.tok.is_keyword("NULL"):
                raise self.expected("NULL")
            self.advance()
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.expected("a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)")

    def comparison(self) -> TraceClause:
        self.clauses += 1
        if self.clauses > MAX_FILTER_CLAUSES:
            raise more_than("the trace filter", MAX_FILTER_CLAUSES, "clauses")
        prefix, key, pos = self.identifier()
        op_tok = self.tok
        op = self.comparator()
        kind, key, allowed, numeric = self.resolve(prefix, key, pos)
        if op not in allowed:
            raise self.error(
                f"comparator '{op}' cannot be used with {prefix + '.' if prefix else ''}{key}, "
                f"expected one of {', '.join(allowed)}",
                op_tok.start,
            )
        if op in ("IS NULL", "IS NOT NULL"):
            value: Any = None
        elif op in ("IN", "NOT IN"):
            value = self.value_list(numeric)
        else:
            value = self.value(numeric)
        return TraceClause(kind, key, op, value)

    def resolve(self, prefix: str, key: str, pos: int) -> tuple[str, str, tuple[str, ...], bool]:
        """``(kind, key, allowed ops, numeric)`` for a field, or an error naming the valid ones."""
        kind = _PREFIXES.get(prefix, ATTR if prefix == "" else None)
        if kind is None:
            raise self.error(
                f"unknown entity '{prefix}', expected trace., attributes., span., tags. or metadata.", pos
            )
        if kind in (TAG, METADATA):
            return kind, key, _KV, False
        if kind == SPAN:
            if key.lower() in _SPAN_COLUMNS:
                return SPAN, key.lower(), _STRING[:2] + _STRING[2:4] + _STRING[6:], False
            if key.lower() == "content":
                return CONTENT, "content", ("LIKE", "ILIKE"), False
            if key.startswith("attributes.") and len(key) > len("attributes."):
                return SPAN_ATTR, key[len("attributes.") :], _STRING[:4] + _STRING[6:], False
            raise self.error(
                f"unknown span field '{key}', expected span.name, span.type, span.status, span.content "
                "or span.attributes.<key>",
                pos,
            )
        name = key.lower()
        if name == "text":
            return CONTENT, "content", ("LIKE", "ILIKE"), False
        if name in _ATTR_TO_META:
            return METADATA, _ATTR_TO_META[name], _KV, False
        if name in _ATTR_TO_TAG:
            return TAG, _ATTR_TO_TAG[name], _KV, False
        if name in _USAGE:
            return USAGE, _USAGE[name], _NUMERIC, True
        if name in _ATTRS:
            canonical, typ = _ATTRS[name]
            return ATTR, canonical, (_NUMERIC if typ == "n" else _STRING), typ == "n"
        raise self.error(f"unknown trace attribute '{key}', expected one of {', '.join(_KNOWN_ATTRS)}", pos)

    def value(self, numeric: bool) -> Any:
        tok = self.tok
        if tok.kind in (SQUOTE, DQUOTE, NUMBER):
            self.advance()
            if not numeric:
                return tok.text
            number = to_number(tok.text.strip())
            if number is None:
                raise self.error(f"expected a number, found {tok.text!r}", tok.start)
            return number
        if tok.kind == WORD and not tok.is_keyword("AND", "OR"):
            raise self.error(
                f"expected a value, found {tok.text!r}: put string values in single quotes", tok.start
            )
        raise self.expected("a value")

    def value_list(self, numeric: bool) -> list[Any]:
        if self.tok.kind != LPAREN:
            raise self.expected("'(' starting a list of values")
        self.advance()
        values: list[Any] = []
        while not (self.tok.kind == RPAREN and values):
            values.append(self.value(numeric))
            self.values += 1
            if self.values > MAX_FILTER_VALUES:
                raise more_than("the trace filter", MAX_FILTER_VALUES, "values in IN lists")
            if self.tok.kind == COMMA:
                self.advance()
            elif self.tok.kind != RPAREN:
                raise self.expected("',' or ')'")
        self.advance()
        return values


def clauses(node: TraceNode | None) -> list[TraceClause]:
    """Every clause of a tree, left to right."""
    if node is None:
        return []
    if isinstance(node, TraceClause):
        return [node]
    return [c for item in node.items for c in clauses(item)]
