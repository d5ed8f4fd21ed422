"""Whatever a filter string holds, the answer is a parse tree or INVALID_PARAMETER_VALUE.

Deterministic pseudo-random inputs (a fixed seed), built from the grammar's own
pieces and from raw characters; every filter that parses must also compile to
SQL for all three dialects. No timing, no flakiness: the same inputs every run.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite

from mltrail.entities import ViewType
from mltrail.exceptions import MltrailException
from mltrail.search import EXPERIMENTS, MODEL_VERSIONS, REGISTERED_MODELS, RUNS, parse_filter, parse_order_by
from mltrail.store.sql.search_sql import (
    experiments_query,
    model_versions_query,
    registered_models_query,
    runs_query,
)
from support.sql_backends import SQL_BACKENDS, tables_in_own_schema

PIECES = [
    "metrics.acc",
    "params.p",
    "tags.t",
    "attributes.status",
    "datasets.name",
    "start_time",
    "run_id",
    "name",
    "creation_time",
    "version_number",
    "tags.`a b`",
    'metrics."x y"',
    "metrics.",
    "`run name`",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "<>",
    "LIKE",
    "ILIKE",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "AND",
    "OR",
    "(",
    ")",
    ",",
    "'a%'",
    '"b"',
    "'",
    '"',
    "`",
    "1",
    "-2.5",
    "1e3",
    "'1'",
    "\\",
    ".",
    "!",
    ";",
    "x",
]
RAW = "abc.`'\"()=!<>,%_\\ \t\n0123456789-+eE"
DIALECTS = [sqlite.dialect(), postgresql.dialect(), mysql.dialect()]


IDENTS = [
    "metrics.acc",
    "params.p",
    "tags.t",
    "tags.`a b`",
    "attributes.status",
    "run_id",
    "start_time",
    "end_time",
    "datasets.context",
    "name",
    "tags.g",
    "creation_time",
    "experiment_id",
    "version_number",
    "run_id",
    "source_path",
    "last_updated_timestamp",
]
OPS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "NOT LIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
VALUES = ["'a%'", '"b"', "1", "-2.5", "1e3", "'7'", "('x', 'y')", "(1, 2)", "'inf'", "'a\\%'"]


def _expression(rnd: random.Random, depth: int = 0) -> str:
    """A filter that is often valid: comparisons joined by AND/OR, sometimes parenthesized."""
    if depth < 2 and rnd.random() < 0.3:
        joined = f" {rnd.choice(['AND', 'OR', 'and', 'or'])} ".join(
            _expression(rnd, depth + 1) for _ in range(rnd.randint(2, 3))
        )
        return f"({joined})" if rnd.random() < 0.5 else joined
    op = rnd.choice(OPS)
    value = "" if op.startswith("IS") else " " + rnd.choice(VALUES)
    return f"{rnd.choice(IDENTS)} {op}{value}"


def _inputs(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        roll = rnd.random()
        if roll < 0.5:
            out.append(_expression(rnd))
        elif roll < 0.75:  # a valid-looking filter with one piece dropped or inserted
            words = _expression(rnd).split(" ")
            i = rnd.randrange(len(words))
            words[i : i + 1] = [] if rnd.random() < 0.5 else [rnd.choice(PIECES), words[i]]
            out.append(" ".join(words))
        elif roll < 0.9:
            out.append(" ".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 9))))
        else:
            out.append("".join(rnd.choice(RAW) for _ in range(rnd.randint(1, 20))))
    return out


def _compile_all(stmt) -> None:
    for dialect in DIALECTS:
        str(stmt.compile(dialect=dialect))


GRAMMAR_QUERIES = [
    (RUNS, 1, lambda f: runs_query(["1"], f, ViewType.ALL, None, 0, 10)),
    (EXPERIMENTS, 2, lambda f: experiments_query(f, ViewType.ALL, None, 0, 10)),
    (REGISTERED_MODELS, 3, lambda f: registered_models_query(f, None, 0, 10)),
    (MODEL_VERSIONS, 4, lambda f: model_versions_query(f, None, 0, 10)),
]


@pytest.mark.parametrize(
    ("grammar", "seed", "query"), GRAMMAR_QUERIES, ids=[g.name for g, _, _ in GRAMMAR_QUERIES]
)
def test_random_filters_parse_or_fail_cleanly(grammar, seed, query):
    parsed = 0
    for text in _inputs(1500, seed=seed):
        try:
            tree = parse_filter(text, grammar)
        except MltrailException as err:
            assert err.error_code == "INVALID_PARAMETER_VALUE", text
            assert "at position" in err.message, text
            continue
        if tree is not None:
            parsed += 1
            _compile_all(query(text))
    assert parsed > 50  # the generator does produce valid filters too


def test_random_order_by_clauses_parse_or_fail_cleanly():
    for text in _inputs(1500, seed=7):
        try:
            _entity, key, ascending = parse_order_by(text)
        except MltrailException as err:
            assert err.error_code == "INVALID_PARAMETER_VALUE", text
            continue
        assert isinstance(key, str) and isinstance(ascending, bool)
        _compile_all(runs_query(["1"], None, ViewType.ALL, [text], 0, 10))


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def empty_db(request, tmp_path_factory):
    """Empty tables on one backend, in a schema of their own (dropped afterwards)."""
    with tables_in_own_schema(request, tmp_path_factory, "fuzz") as engine:
        yield engine


def test_random_valid_filters_execute(empty_db):
    # The database itself type-checks every statement (PostgreSQL is strict about it).
    with empty_db.connect() as conn:
        for grammar, seed, query in GRAMMAR_QUERIES:
            for text in _inputs(400, seed=seed + 100):
                try:
                    tree = parse_filter(text, grammar)
                except MltrailException:
                    continue
                if tree is not None:
                    assert conn.execute(query(text)).all() == [], text
