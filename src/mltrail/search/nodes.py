"""The small typed AST a filter string parses into.

A filter is a tree of :class:`And` / :class:`Or` nodes whose leaves are
:class:`Comparison` nodes. ``AND`` binds tighter than ``OR``; parentheses group.

Example::

    parse_filter("metrics.acc > 0.9 AND (params.model = 'a' OR tags.t = 'b')")
    # And((Comparison('metric', 'acc', '>', 0.9),
    #      Or((Comparison('parameter', 'model', '=', 'a'), Comparison('tag', 't', '=', 'b')))))
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Entity types, with MLflow's canonical names (what ``SearchUtils`` returns).
METRIC = "metric"
PARAM = "parameter"
TAG = "tag"
ATTRIBUTE = "attribute"
DATASET = "dataset"

# Comparators, in their canonical upper-case spelling.
EQ, NE, LT, LE, GT, GE = "=", "!=", "<", "<=", ">", ">="
LIKE, ILIKE, NOT_LIKE, NOT_ILIKE = "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"
IN, NOT_IN = "IN", "NOT IN"
IS_NULL, IS_NOT_NULL = "IS NULL", "IS NOT NULL"

NUMERIC_OPS = frozenset({EQ, NE, LT, LE, GT, GE})
PATTERN_OPS = frozenset({LIKE, ILIKE, NOT_LIKE, NOT_ILIKE})
LIST_OPS = frozenset({IN, NOT_IN})
NULL_OPS = frozenset({IS_NULL, IS_NOT_NULL})
STRING_OPS = frozenset({EQ, NE}) | PATTERN_OPS | LIST_OPS | NULL_OPS

Value = str | int | float | tuple | None


@dataclass(frozen=True)
class Comparison:
    """One ``<entity>.<key> <op> <value>`` clause.

    ``value`` is a ``str`` for string fields, an ``int``/``float`` for numeric
    ones, a ``tuple`` for ``IN``/``NOT IN`` and ``None`` for ``IS [NOT] NULL``.
    ``position`` is the 1-based offset of the clause in the filter string.
    """

    entity_type: str
    key: str
    op: str
    value: Value
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Node, ...]


Node = Comparison | And | Or


def comparisons(node: Node | None) -> list[Comparison]:
    """Every leaf of a tree, left to right (handy for tests and for key lookups)."""
    if node is None:
        return []
    if isinstance(node, Comparison):
        return [node]
    out: list[Comparison] = []
    for item in node.items:
        out.extend(comparisons(item))
    return out
