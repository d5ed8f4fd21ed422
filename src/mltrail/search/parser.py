"""Recursive-descent parser for filter strings and ``order_by`` clauses.

Grammar (keywords are case-insensitive)::

    filter      := or_expr END
    or_expr     := and_expr ("OR" and_expr)*
    and_expr    := primary ("AND" primary)*
    primary     := "(" or_expr ")" | comparison
    comparison  := identifier comparator
    comparator  := ("=" | "!=" | "<" | "<=" | ">" | ">=") value
                 | ["NOT"] ("LIKE" | "ILIKE") value
                 | ["NOT"] "IN" "(" value ("," value)* [","] ")"
                 | "IS" ["NOT"] "NULL"
    identifier  := [entity "."] key        e.g. metrics.acc, tags.`a b`, params."x y", status
    value       := 'string' | "string" | number

Every error is an ``INVALID_PARAMETER_VALUE`` naming what was expected and the
1-based position, with a caret line under the offending spot.
"""

from __future__ import annotations

from mltrail.exceptions import MltrailException
from mltrail.search import nodes as n
from mltrail.search.descent import DescentParser
from mltrail.search.grammar import ENTITY_ALIASES, GRAMMARS, RUNS, Grammar
from mltrail.search.lexer import (
    BACKTICK,
    COMMA,
    DQUOTE,
    EOF,
    LPAREN,
    NUMBER,
    OP,
    RPAREN,
    SQUOTE,
    WORD,
    Token,
)
from mltrail.search.limits import (
    MAX_FILTER_CLAUSES,
    MAX_FILTER_VALUES,
    check_filter_length,
    more_than,
)

_COMPARATORS = "=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL or IS NOT NULL"


def _grammar(grammar: Grammar | str) -> Grammar:
    if isinstance(grammar, Grammar):
        return grammar
    try:
        return GRAMMARS[grammar]
    except KeyError:
        raise ValueError(f"unknown search grammar {grammar!r}; use one of {sorted(GRAMMARS)}") from None


def parse_filter(filter_string: str | None, grammar: Grammar | str = RUNS) -> n.Node | None:
    """Parse a filter string into an AST; ``None`` for an empty filter.

    Example::

        parse_filter("metrics.acc > 0.9 AND tags.`mlflow.user` = 'ana'")
    """
    if filter_string is None:
        return None
    if not isinstance(filter_string, str):
        raise MltrailException.invalid_parameter_value(
            f"Invalid filter {filter_string!r}: expected a string, got {type(filter_string).__name__}"
        )
    check_filter_length(filter_string)
    if not filter_string.strip():
        return None
    return _Parser(filter_string, _grammar(grammar), "filter").parse_filter()


def parse_order_by(clause: str, grammar: Grammar | str = RUNS) -> tuple[str, str, bool]:
    """Parse one ``order_by`` clause into ``(entity_type, key, ascending)``.

    Example::

        parse_order_by("metrics.acc DESC")  # ("metric", "acc", False)
        parse_order_by("start_time")        # ("attribute", "start_time", True)
    """
    if clause is None or not str(clause).strip():
        raise MltrailException.invalid_parameter_value(f"Invalid order_by clause {clause!r}: it is empty")
    return _Parser(str(clause), _grammar(grammar), "order_by clause").parse_order_by()


class _Parser(DescentParser):
    def __init__(self, source: str, grammar: Grammar, what: str) -> None:
        super().__init__(source, what)
        self.grammar = grammar

    def parse_filter(self) -> n.Node:
        return self.parse_boolean()

    def all_of(self, items: tuple[n.Node, ...]) -> n.Node:
        return n.And(items)

    def any_of(self, items: tuple[n.Node, ...]) -> n.Node:
        return n.Or(items)

    def comparison(self) -> n.Comparison:
        self.clauses += 1
        if self.clauses > MAX_FILTER_CLAUSES:
            raise more_than("the filter", MAX_FILTER_CLAUSES, "clauses")
        start = self.tok.start
        entity, key, key_pos = self.identifier()
        op_tok = self.tok
        op = self.comparator()
        kind = self.field_kind(entity, key, key_pos)
        self.check_operator(entity, key, kind, op, op_tok)
        if op in n.NULL_OPS:
            value: n.Value = None
        elif op in n.LIST_OPS:
            value = self.value_list(kind)
        else:
            value = self.value(kind)
        return n.Comparison(entity, key, op, value, start + 1)

    # ------------------------------------------------------------- identifier
    def identifier(self) -> tuple[str, str, int]:
        """``(entity_type, key, key position)`` of the identifier at the cursor."""
        tok = self.tok
        if tok.kind in (BACKTICK, DQUOTE):
            self.advance()
            nxt = self.tok
            if not (nxt.kind == WORD and nxt.start == tok.end and nxt.text.startswith(".")):
                # `run name` or "run name" alone: an attribute, as in MLflow.
                return n.ATTRIBUTE, self.check_attribute(tok.text, tok.start), tok.start
            # `metrics`.acc: a quoted entity prefix, which MLflow also accepts.
            self.advance()
            prefix, rest, prefix_len = tok.text, nxt.text[1:], nxt.start + 1 - tok.start
            word_end = nxt.end
        elif tok.kind != WORD or tok.is_keyword("AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"):
            raise self.expected(
                "an identifier such as metrics.<key>, params.<key>, tags.<key> or an attribute"
            )
        else:
            self.advance()
            prefix, dot, rest = tok.text.partition(".")
            if not dot:
                return n.ATTRIBUTE, self.check_attribute(tok.text, tok.start), tok.start
            prefix_len, word_end = len(prefix) + 1, tok.end
        entity = ENTITY_ALIASES.get(prefix)
        if entity is None:
            raise self.error(
                f"unknown entity type '{prefix}', expected one of {self.entity_names()}", tok.start
            )
        if entity not in self.grammar.entities:
            raise self.error(
                f"{self.grammar.name} cannot be searched by '{prefix}', expected one of {self.entity_names()}",
                tok.start,
            )
        key_pos = tok.start + prefix_len
        if not rest:
            nxt = self.tok
            if nxt.kind in (BACKTICK, DQUOTE) and nxt.start == word_end:
                self.advance()
                rest, key_pos = nxt.text, nxt.start
            else:
                raise self.error(f"expected a key after '{prefix}.'", word_end)
        if not rest:
            raise self.error(f"expected a non-empty key after '{prefix}.'", key_pos)
        if entity == n.ATTRIBUTE:
            rest = self.check_attribute(rest, key_pos)
        elif entity == n.DATASET and rest not in self.grammar.dataset_keys:
            raise self.error(
                f"unknown dataset key '{rest}', expected one of {sorted(self.grammar.dataset_keys)}", key_pos
            )
        return entity, rest, key_pos

    def entity_names(self) -> str:
        names = {n.METRIC: "metrics", n.PARAM: "params", n.TAG: "tags", n.ATTRIBUTE: "attributes"}
        names[n.DATASET] = "datasets"
        return ", ".join(
            names[e] for e in (n.METRIC, n.PARAM, n.TAG, n.ATTRIBUTE, n.DATASET) if e in self.grammar.entities
        )

    def check_attribute(self, key: str, pos: int) -> str:
        canonical = self.grammar.canonical_attribute(key)
        allowed = (
            self.grammar.order_attributes
            if self.what != "filter"
            else (self.grammar.string_attributes | self.grammar.numeric_attributes)
        )
        if canonical not in allowed:
            raise self.error(
                f"unknown attribute '{key}' for {self.grammar.name}, expected one of {sorted(allowed)}", pos
            )
        return canonical

    def field_kind(self, entity: str, key: str, pos: int) -> str:
        if entity == n.METRIC:
            return "numeric"
        if entity == n.ATTRIBUTE:
            return self.grammar.attribute_kind(key) or "string"
        return "string"

    # ------------------------------------------------------------- comparator
    def comparator(self) -> str:
        tok = self.tok
        if tok.kind == OP:
            self.advance()
            return tok.text
        if tok.is_keyword("LIKE", "ILIKE", "IN"):
            self.advance()
            return tok.text.upper()
        if tok.is_keyword("NOT"):
            self.advance()
            nxt = self.tok
            if nxt.is_keyword("LIKE", "ILIKE", "IN"):
                self.advance()
                return "NOT " + nxt.text.upper()
            raise self.expected("LIKE, ILIKE or IN after NOT")
        if tok.is_keyword("IS"):
            self.advance()
            negated = False
            if self.tok.is_keyword("NOT"):
                self.advance()
                negated = True
            if not self.tok.is_keyword("NULL"):
                raise self.expected("NULL")
            self.advance()
            return n.IS_NOT_NULL if negated else n.IS_NULL
        raise self.expected(f"a comparator ({_COMPARATORS})")

    def check_operator(self, entity: str, key: str, kind: str, op: str, op_tok: Token) -> None:
        allowed = n.NUMERIC_OPS | n.LIST_OPS | n.NULL_OPS if kind == "numeric" else n.STRING_OPS
        if op not in allowed:
            what = "metrics" if entity == n.METRIC else f"{kind} field '{key}'"
            valid = (
                "=, !=, <, <=, >, >=, IN, NOT IN, IS NULL, IS NOT NULL"
                if kind == "numeric"
                else ("=, !=, LIKE, ILIKE, NOT LIKE, NOT ILIKE, IN, NOT IN, IS NULL, IS NOT NULL")
            )
            raise self.error(
                f"comparator '{op}' cannot be used with {what}, expected one of {valid}", op_tok.start
            )

    # ----------------------------------------------------------------- values
    def value(self, kind: str) -> str | int | float:
        tok = self.tok
        if tok.kind in (SQUOTE, DQUOTE):
            self.advance()
            if kind == "numeric":
                number = to_number(tok.text.strip())
                if number is None:
                    raise self.error(f"expected a number, found the string {tok.text!r}", tok.start)
                return number
            return tok.text
        if tok.kind == NUMBER:
            self.advance()
            number = to_number(tok.text)
            if number is None:
                raise self.error(f"malformed number {tok.text!r}", tok.start)
            # A number against a string field means its text: params.batch_size = 32.
            return number if kind == "numeric" else tok.text
        if tok.kind == BACKTICK:
            raise self.error(
                "expected a value in single or double quotes, backticks quote keys only", tok.start
            )
        if tok.kind == WORD and not tok.is_keyword("AND", "OR"):
            raise self.error(
                f"expected a value, found {tok.text!r}: put string values in single or double quotes",
                tok.start,
            )
        raise self.expected("a value") if tok.kind != EOF else self.error("expected a value")

    def value_list(self, kind: str) -> tuple:
        if self.tok.kind != LPAREN:
            raise self.expected("'(' starting a list of values")
        self.advance()
        values = []
        while True:
            if self.tok.kind == RPAREN and values:
                break
            values.append(self.value(kind))
            self.values += 1
            if self.values > MAX_FILTER_VALUES:
                raise more_than("the filter", MAX_FILTER_VALUES, "values in IN lists")
            if self.tok.kind == COMMA:
                self.advance()
                continue
            if self.tok.kind != RPAREN:
                raise self.expected("',' or ')'")
        self.advance()
        return tuple(values)

    # --------------------------------------------------------------- order by
    def parse_order_by(self) -> tuple[str, str, bool]:
        entity, key, _ = self.identifier()
        if entity not in self.grammar.order_entities:
            raise self.error(f"{self.grammar.name} cannot be ordered by {entity} values", 0)
        ascending = True
        if self.tok.is_keyword("ASC", "DESC"):
            ascending = self.advance().text.upper() == "ASC"
        if self.tok.kind != EOF:
            raise self.expected("ASC, DESC or the end of the clause")
        return entity, key, ascending


def to_number(text: str) -> int | float | None:
    """``text`` as a filter number: an int when it is one and fits 64 bits, else a float; None if neither."""
    try:
        if text.lstrip("+-").isdigit():
            number = int(text)
            # Past 64 bits no database binds an integer (a 500 before): compare as a float.
            return number if -(2**63) <= number < 2**63 else float(number)
        value = float(text)
    except ValueError:
        return None
    # NaN equals nothing, so a comparison with it could only ever be a mistake.
    return None if value != value else value
