"""MLflow's search filter grammar (plus ``OR`` and parentheses), parsed to a small AST.

Pure Python: no SQL here. The SQL store compiles the AST
(:mod:`mltrail.store.sql.search_sql`).

Example::

    from mltrail.search import parse_filter, parse_order_by

    tree = parse_filter("metrics.acc > 0.9 AND (params.model = 'a' OR params.model = 'b')")
    parse_order_by("metrics.acc DESC")  # ("metric", "acc", False)
"""

from mltrail.search.grammar import EXPERIMENTS, GRAMMARS, MODEL_VERSIONS, REGISTERED_MODELS, RUNS, Grammar
from mltrail.search.nodes import (
    ATTRIBUTE,
    DATASET,
    METRIC,
    PARAM,
    TAG,
    And,
    Comparison,
    Node,
    Or,
    comparisons,
)
from mltrail.search.parser import parse_filter, parse_order_by

__all__ = [
    "ATTRIBUTE",
    "DATASET",
    "EXPERIMENTS",
    "GRAMMARS",
    "METRIC",
    "MODEL_VERSIONS",
    "PARAM",
    "REGISTERED_MODELS",
    "RUNS",
    "TAG",
    "And",
    "Comparison",
    "Grammar",
    "Node",
    "Or",
    "comparisons",
    "parse_filter",
    "parse_order_by",
]
