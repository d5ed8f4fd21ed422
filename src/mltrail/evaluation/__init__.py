"""``mltrail.evaluation``: ``evaluate()`` with built-in and LLM-as-judge metrics (MLflow 2.x semantics).

Light at import: pandas, numpy and openai load when an evaluation runs.
"""

from mltrail.evaluation.base import (
    EvaluationArtifact,
    EvaluationMetric,
    EvaluationResult,
    MetricValue,
    make_metric,
)
from mltrail.evaluation.evaluator import evaluate

__all__ = ["EvaluationArtifact", "EvaluationMetric", "EvaluationResult", "MetricValue", "evaluate", "make_metric"]
