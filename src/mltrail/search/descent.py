"""What the filter parsers share: a token cursor, errors with a caret, and ``AND``/``OR``/parentheses.

:mod:`mltrail.search.parser` (runs, experiments, models, …) and
:mod:`mltrail.store.trace_filter` (``search_traces``) parse different clauses
over the same lexer and the same boolean structure. A subclass gives
:meth:`comparison` and the two node builders, :meth:`all_of` and :meth:`any_of`.

Example::

    class _Parser(DescentParser):
        subject = "the filter"
        def comparison(self): ...
        def all_of(self, items): return And(items)
        def any_of(self, items): return Or(items)

    _Parser(source, "filter").parse_boolean()
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import MltrailException
from mltrail.search.lexer import EOF, LPAREN, RPAREN, Token, syntax_error, tokenize
from mltrail.search.limits import MAX_FILTER_NESTING, more_than


class DescentParser:
    """Recursive descent over :func:`~mltrail.search.lexer.tokenize`'s tokens.

    ``what`` names the input in error messages ("filter", "trace filter");
    ``subject`` names it in limit messages ("the filter"). ``clauses``,
    ``values`` and ``depth`` are counted against :mod:`mltrail.search.limits`.
    """

    subject = "the filter"

    def __init__(self, source: str, what: str) -> None:
        self.source = source
        self.what = what
        self.tokens = tokenize(source, what)
        self.i = 0
        self.clauses = 0
        self.values = 0
        self.depth = 0

    # ---------------------------------------------------------------- cursor
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def error(self, message: str, pos: int | None = None) -> MltrailException:
        return syntax_error(self.source, self.what, message, self.tok.start if pos is None else pos)

    def expected(self, what: str) -> MltrailException:
        tok = self.tok
        found = "the end" if tok.kind == EOF else repr(self.source[tok.start : tok.end])
        return self.error(f"expected {what}, found {found}")

    # ------------------------------------------------------- boolean structure
    def parse_boolean(self) -> Any:
        """The whole input as one tree (``AND`` binds tighter than ``OR``)."""
        node = self.or_expr()
        if self.tok.kind != EOF:
            raise self.expected("AND, OR or the end of the filter")
        return node

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.tok.is_keyword("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else self.any_of(tuple(items))

    def and_expr(self) -> Any:
        items = [self.primary()]
        while self.tok.is_keyword("AND"):
            self.advance()
            items.append(self.primary())
        return items[0] if len(items) == 1 else self.all_of(tuple(items))

    def primary(self) -> Any:
        if self.tok.kind != LPAREN:
            return self.comparison()
        self.depth += 1
        if self.depth > MAX_FILTER_NESTING:
            raise more_than(self.subject, MAX_FILTER_NESTING, "levels of nested parentheses")
        self.advance()
        node = self.or_expr()
        self.depth -= 1
        if self.tok.kind != RPAREN:
            raise self.expected("')'")
        self.advance()
        return node

    # ----------------------------------------------------------- subclasses
    def comparison(self) -> Any:
        raise NotImplementedError

    def all_of(self, items: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def any_of(self, items: tuple[Any, ...]) -> Any:
        raise NotImplementedError
