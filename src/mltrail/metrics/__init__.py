"""``mltrail.metrics``: metric constructors for ``mltrail.evaluate`` (MLflow's ``mlflow.metrics``).

Retriever metrics (``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``) score
lists of document ids; LLM-as-judge metrics live in :mod:`mltrail.metrics.genai`.

Example::

    import mltrail as mlflow

    result = mlflow.evaluate(data=df, predictions="answer", targets="truth",
                             extra_metrics=[mlflow.metrics.exact_match(), mlflow.metrics.token_count()])
"""

from mltrail.evaluation.base import EvaluationMetric, MetricValue, make_metric
from mltrail.evaluation.builtin import (
    ari_grade_level,
    exact_match,
    flesch_kincaid_grade_level,
    latency,
    token_count,
    toxicity,
)
from mltrail.evaluation.retrieval import ndcg_at_k, precision_at_k, recall_at_k
from mltrail.metrics import genai

__all__ = [
    "EvaluationMetric",
    "MetricValue",
    "ari_grade_level",
    "exact_match",
    "flesch_kincaid_grade_level",
    "genai",
    "latency",
    "make_metric",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "token_count",
    "toxicity",
]
