"""Comparison operators with the same semantics on SQLite, PostgreSQL and MySQL.

The statements are built before anyone knows which database will run them, so
the dialect differences are resolved at compile time by :class:`PerDialect`:

* ``=``, ``!=``, ``IN``, ``LIKE`` must be case-sensitive, as in MLflow. MySQL's
  default collations are case-insensitive, so MySQL also compares the bytes
  (``CAST(col AS BINARY)``), after the plain comparison that can use an index.
* SQLite's ``LIKE`` ignores ASCII case, so case-sensitive ``LIKE`` becomes
  ``GLOB`` with the pattern translated.
* ``ILIKE`` is native on PostgreSQL and ``lower(x) LIKE lower(y)`` elsewhere.

In every pattern ``%`` and ``_`` are wildcards and a backslash escapes the next
character, on all three databases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.visitors import InternalTraversal

from mltrail.search import nodes as n

_DBL_MAX = sys.float_info.max


class PerDialect(ColumnElement[bool]):
    """A boolean expression with per-dialect variants, chosen when compiled."""

    __visit_name__ = "mltrail_per_dialect"
    inherit_cache = True
    # Every variant is a comparison: without this, SQLite and MySQL would get a
    # redundant "= 1" appended, which also keeps SQLite from using indexes.
    _is_implicitly_boolean = True
    type = sa.Boolean()
    _traverse_internals = [
        ("default", InternalTraversal.dp_clauseelement),
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("mysql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, default: ColumnElement[Any], sqlite: ColumnElement[Any], mysql: ColumnElement[Any]):
        self.default = default
        self.sqlite = sqlite
        self.mysql = mysql


# Each variant is parenthesized: the MySQL ones are "a AND b" / "a OR b" and must
# stay one term under NOT, AND and OR.
@compiles(PerDialect)
def _compile_default(element: PerDialect, compiler: Any, **kw: Any) -> str:
    return compiler.process(Grouping(element.default), **kw)


@compiles(PerDialect, "sqlite")
def _compile_sqlite(element: PerDialect, compiler: Any, **kw: Any) -> str:
    return compiler.process(Grouping(element.sqlite), **kw)


@compiles(PerDialect, "mysql")
@compiles(PerDialect, "mariadb")
def _compile_mysql(element: PerDialect, compiler: Any, **kw: Any) -> str:
    return compiler.process(Grouping(element.mysql), **kw)


def _binary(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """MySQL: the column's bytes, so comparisons respect case.

    Typed as a string again so that LIKE and IN apply to it without warnings.
    """
    return sa.type_coerce(sa.cast(col, sa.LargeBinary), sa.String())


def like_to_glob(pattern: str) -> str:
    """Translate a LIKE pattern (``%``, ``_``, backslash escapes) to a SQLite GLOB."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            ch = pattern[i]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _safe_pattern(pattern: str) -> str:
    """A trailing lone backslash escapes nothing: PostgreSQL would reject it, so match it literally."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return pattern + "\\" if trailing % 2 else pattern


def eq(col: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """Case-sensitive string equality."""
    return PerDialect(col == value, col == value, sa.and_(col == value, _binary(col) == value))


def _ne(col: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    return PerDialect(col != value, col != value, sa.or_(col != value, _binary(col) != value))


def _like(col: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    pattern = _safe_pattern(pattern)
    return PerDialect(
        col.like(pattern),
        col.op("GLOB")(like_to_glob(pattern)),
        sa.and_(col.like(pattern), _binary(col).like(pattern)),
    )


def _ilike(col: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    pattern = _safe_pattern(pattern)
    lowered = sa.func.lower(col).like(sa.func.lower(pattern), escape="\\")
    return PerDialect(col.ilike(pattern), lowered, sa.func.lower(col).like(sa.func.lower(pattern)))


def _in(col: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    values = list(values)
    if not all(isinstance(v, str) for v in values):
        return col.in_(values)
    return PerDialect(col.in_(values), col.in_(values), sa.and_(col.in_(values), _binary(col).in_(values)))


def _number(value: Any) -> Any:
    """Numbers as the store keeps them: ±inf is stored as ±DBL_MAX."""
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return _DBL_MAX if value > 0 else -_DBL_MAX
    return value


def compare(col: ColumnElement[Any], op: str, value: Any, numeric: bool) -> ColumnElement[bool]:
    """``col <op> value`` for one parsed comparison (``IS NULL`` included)."""
    if op == n.IS_NULL:
        return col.is_(None)
    if op == n.IS_NOT_NULL:
        return col.is_not(None)
    if numeric:
        if op in n.LIST_OPS:
            clause = col.in_([_number(v) for v in value])
            return clause if op == n.IN else sa.not_(clause)
        value = _number(value)
        return {
            n.EQ: col == value,
            n.NE: col != value,
            n.LT: col < value,
            n.LE: col <= value,
            n.GT: col > value,
            n.GE: col >= value,
        }[op]
    if op == n.EQ:
        return eq(col, value)
    if op == n.NE:
        return _ne(col, value)
    if op == n.LIKE:
        return _like(col, value)
    if op == n.NOT_LIKE:
        return sa.not_(_like(col, value))
    if op == n.ILIKE:
        return _ilike(col, value)
    if op == n.NOT_ILIKE:
        return sa.not_(_ilike(col, value))
    if op == n.IN:
        return _in(col, value)
    if op == n.NOT_IN:
        return sa.not_(_in(col, value))
    raise AssertionError(f"comparator {op!r} reached SQL unchecked")  # the parser rejects it first


def nulls_last(col: ColumnElement[Any], ascending: bool) -> list[ColumnElement[Any]]:
    """Order by ``col`` with NULLs last in both directions (SQLite and MySQL lack NULLS LAST)."""
    return [sa.case((col.is_(None), 1), else_=0), col.asc() if ascending else col.desc()]


#: Terms per parenthesised group in a long AND/OR (see :func:`joined`).
_GROUP = 32
#: More ANDed terms than this are planned one by one on PostgreSQL (see :func:`joined`).
_PLAN_ALONE = 8


def joined(op: Callable[..., ColumnElement[bool]], parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """``op(*parts)`` as a balanced tree of parenthesised groups of at most 32 terms.

    Databases parse ``a AND b AND c ...`` into a chain as deep as it is long, and
    SQLite refuses expressions deeper than 1,000 ("Expression tree is too large"):
    grouping keeps the depth logarithmic in the number of clauses, so a filter at
    the clause limit runs like any other.
    """
    if op is sa.and_ and len(parts) > _PLAN_ALONE:
        # PostgreSQL turns every ANDed IN-subquery into a semi-join and plans them all as
        # one join problem: 100 of them took 6 s to plan, 200 took 30 s. Wrapped, each is
        # a hashed subplan run once (200: 0.3 s). Short filters keep the join plans.
        parts = [sa.func.coalesce(part, sa.false(), type_=sa.Boolean) for part in parts]
    while len(parts) > _GROUP:
        parts = [_Parens(op(*parts[i : i + _GROUP])) for i in range(0, len(parts), _GROUP)]
    return op(*parts)


class _Parens(ColumnElement[bool]):
    """A boolean term in parentheses that SQLAlchemy does not flatten into an enclosing AND/OR.

    (``Grouping`` of an ``and_`` inside an ``and_`` renders without its parentheses.)
    """

    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True  # no "= 1" appended on SQLite/MySQL (see PerDialect)
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, inner: ColumnElement[bool]) -> None:
        self.inner = inner


@compiles(_Parens)
def _compile_parens(element: _Parens, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.inner, **kw)})"
