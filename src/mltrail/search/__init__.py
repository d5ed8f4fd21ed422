"""MLflow's search filter grammar (plus ``OR`` and parentheses), parsed to a small AST.

Pure Python: no SQL here. The SQL store compiles the AST
(:mod:`mltrail.store.sql.search_sql`).

Everything MLflow's ``SearchUtils`` accepts parses to the same comparisons
(checked side by side in the tests). On top of it, on purpose:

* ``OR`` and parentheses, ``AND`` binding tighter than ``OR``;
* ``IN`` / ``NOT IN`` on every field, ``NOT LIKE`` / ``NOT ILIKE``,
  ``IS [NOT] NULL`` on every field (a missing metric/param/tag is NULL);
* unquoted keys with hyphens or a leading digit (``metrics.cross-entropy``);
* a number against a string field means its text (``params.batch = 32``), a
  quoted number against a numeric field means the number;
* ``''`` and ``\'`` inside strings, doubled backticks in keys; ``<>`` and ``==``;
* errors name what was expected and where, with a caret under the spot.

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
