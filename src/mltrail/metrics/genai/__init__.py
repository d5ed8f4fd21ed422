"""``mltrail.metrics.genai``: LLM-as-judge metrics (MLflow's ``mlflow.metrics.genai``)."""

from mltrail.evaluation.genai import (
    EvaluationExample,
    answer_correctness,
    answer_relevance,
    answer_similarity,
    faithfulness,
    make_genai_metric,
    relevance,
)

__all__ = [
    "EvaluationExample",
    "answer_correctness",
    "answer_relevance",
    "answer_similarity",
    "faithfulness",
    "make_genai_metric",
    "relevance",
]
