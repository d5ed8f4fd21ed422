"""``mlflow.genai.datasets.evaluation_dataset``'s import path: :class:`EvaluationDataset`."""

from mltrail.tracking.evaluation_dataset import EvaluationDataset

__all__ = ["EvaluationDataset"]
