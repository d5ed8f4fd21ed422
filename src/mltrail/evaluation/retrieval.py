"""Retriever metrics: ``precision_at_k``, ``recall_at_k`` and ``ndcg_at_k`` over lists of document ids (MLflow's).

Each row pairs the ids a retriever returned, best first (the predictions),
with the ids that are relevant (the targets). Only the first ``k`` retrieved
ids count. Per row, with ``top = retrieved[:k]``:

* ``precision_at_k``: relevant entries of ``top`` / ``len(top)``; 0 when
  nothing was retrieved. A relevant id retrieved twice counts twice.
* ``recall_at_k``: distinct relevant ids in ``top`` / distinct relevant ids;
  1 when both lists are empty, 0 when only the relevant list is.
* ``ndcg_at_k``: binary-relevance NDCG of ``top`` (what
  ``sklearn.metrics.ndcg_score(..., k=len(top), ignore_ties=True)`` gives).
  1 when both lists are empty, 0 when either one is. A relevant id retrieved
  again counts as one more relevant document, so ground truth ``[1, 2]`` and
  retrieved ``[1, 1, 1, 3]`` score like ``[10, 11, 12, 2]`` and ``[10, 11, 12, 3]``.

Each metric logs ``<name>_at_<k>/mean``, ``/variance`` and ``/p90`` and a
``<name>_at_<k>/score`` column. Ids are ``str`` or ``int``; a row of
anything else (a plain string, ``None`` ...) skips the metric with a warning
instead of failing the evaluation, and so does a ``k`` that is not a positive
integer, as in MLflow.

Example::

    import mltrail as mlflow

    result = mlflow.evaluate(data=df, predictions="retrieved_ids", targets="relevant_ids",
                             model_type="retriever", evaluator_config={"retriever_k": 5})
    result.metrics["ndcg_at_5/mean"]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from mltrail.evaluation.base import EvaluationMetric, MetricValue
from mltrail.evaluation.genai import aggregate

_log = logging.getLogger(__name__)

DEFAULT_K = 3  # MLflow's default ``retriever_k``
_AGGREGATIONS = ["mean", "variance", "p90"]
_PREDICTIONS = "the column specified by the `predictions` parameter or the model output column"
_TARGETS = "the column specified by the `targets` parameter"

RowScore = Callable[[Sequence[Any], Sequence[Any], int], float]


def precision_at_k(k: int) -> EvaluationMetric:
    """Share of the top ``k`` retrieved ids that are relevant, per row (``precision_at_<k>``)."""
    return _metric("precision", k, precision_row)


def recall_at_k(k: int) -> EvaluationMetric:
    """Share of the relevant ids found in the top ``k`` retrieved ids, per row (``recall_at_<k>``)."""
    return _metric("recall", k, recall_row)


def ndcg_at_k(k: int) -> EvaluationMetric:
    """Binary-relevance NDCG of the top ``k`` retrieved ids, per row (``ndcg_at_<k>``)."""
    return _metric("ndcg", k, ndcg_row)


def retriever_metrics(k: Any = DEFAULT_K) -> list[EvaluationMetric]:
    """The ``retriever`` model type's defaults: precision, recall and NDCG at ``k``."""
    return [precision_at_k(k), recall_at_k(k), ndcg_at_k(k)]


def valid_k(k: Any) -> bool:
    """Whether ``k`` is a positive integer (MLflow's test: ``isinstance(k, int) and k > 0``)."""
    return isinstance(k, int) and k > 0


# ---------------------------------------------------------------- row scores
def precision_row(retrieved: Sequence[Any], relevant: Sequence[Any], k: int) -> float:
    """Precision of one row: relevant entries of ``retrieved[:k]`` over its length (0 if it is empty)."""
    top = list(retrieved[:k])
    if not top:
        return 0.0
    wanted = set(relevant)
    return sum(1 for doc in top if doc in wanted) / len(top)


def recall_row(retrieved: Sequence[Any], relevant: Sequence[Any], k: int) -> float:
    """Recall of one row: distinct relevant ids in ``retrieved[:k]`` over distinct relevant ids."""
    wanted = set(relevant)
    top = set(retrieved[:k])
    if wanted:
        return len(wanted & top) / len(wanted)
    return 1.0 if not top else 0.0  # nothing to find: right only if nothing was returned


def ndcg_row(retrieved: Sequence[Any], relevant: Sequence[Any], k: int) -> float:
    """NDCG of one row with binary relevance, over the first ``min(k, len(retrieved))`` positions."""
    top = list(retrieved[:k])
    wanted = set(relevant)
    if not top and not wanted:
        return 1.0
    if not top or not wanted:
        return 0.0
    dcg = 0.0
    seen: set[Any] = set()
    repeats = 0  # a relevant id retrieved again is one more relevant document for the ideal ranking
    for position, doc in enumerate(top):
        if doc in wanted:
            dcg += _discount(position)
            if doc in seen:
                repeats += 1
            seen.add(doc)
    ideal = sum(_discount(position) for position in range(min(len(top), len(wanted) + repeats)))
    return dcg / ideal


def _discount(position: int) -> float:
    return 1.0 / math.log2(position + 2)


# -------------------------------------------------------------- the metrics
def _metric(kind: str, k: Any, row_score: RowScore) -> EvaluationMetric:
    name = f"{kind}_at_{k}"
    if not valid_k(k):
        _log.warning(
            "Cannot calculate '%s_at_k' for invalid parameter 'k'. 'k' should be a positive integer; "
            "found: %r. Skipping metric logging.",
            kind,
            k,
        )

        # Optional targets: a skipped metric must not make evaluate() demand a targets column.
        def skipped(predictions: Any, targets: Any = None) -> None:
            return None

        return EvaluationMetric(skipped, name, True)

    def eval_fn(predictions: Any, targets: Any) -> MetricValue | None:
        if not (
            _ids_ok(predictions, f"{kind}_at_k", _PREDICTIONS) and _ids_ok(targets, f"{kind}_at_k", _TARGETS)
        ):
            return None
        scores = [row_score(r, g, k) for r, g in zip(list(predictions), list(targets), strict=True)]
        return MetricValue(scores=scores, aggregate_results=_aggregate(scores))

    return EvaluationMetric(eval_fn, name, True)


def _aggregate(scores: list[float]) -> dict[str, float]:
    return aggregate(scores, _AGGREGATIONS)


def _ids_ok(column: Any, metric: str, where: str) -> bool:
    """Every row must be a list of str/int ids or an int/str numpy array; else warn (naming the row) and skip."""
    import numpy as np

    rows = column.items() if hasattr(column, "items") else enumerate(column)
    count = 0
    for label, value in rows:
        count += 1
        if isinstance(value, list):
            ok = all(isinstance(doc, (str, int)) for doc in value)
        elif isinstance(value, np.ndarray):  # MLflow's dtypes; one dimension, as a row of ids has
            ok = value.ndim == 1 and (
                np.issubdtype(value.dtype, np.str_) or np.issubdtype(value.dtype, np.int_)
            )
        else:
            ok = False
        if not ok:
            _log.warning(
                "Cannot calculate metric '%s' for non-arraylike of string or int inputs. Non-arraylike of "
                "strings/ints found for %s on row %s, value %s. Skipping metric logging.",
                metric,
                where,
                label,
                value,
            )
            return False
    return count > 0
