"""The artifacts of a ``model_type="classifier"`` evaluation, as MLflow 3.17.2's classifier evaluator logs them.

From the true and predicted labels (their sorted union is the label list):

- more than two labels: ``per_class_metrics.csv``, one row per label with the binary
  scores of "this label against the rest" (``positive_class``, the confusion counts,
  ``example_count``, ``accuracy_score``, ``recall_score``, ``precision_score``,
  ``f1_score``). Its file name never takes the ``metric_prefix`` (MLflow's doesn't);
- every classifier: ``<metric_prefix>confusion_matrix.png``, normalized over the true
  labels, drawn with sklearn's ``ConfusionMatrixDisplay`` on a bare matplotlib figure
  (the helper sklearn autologging draws its plot with). A plot that fails, or missing
  matplotlib/scikit-learn, is warned about and the evaluation goes on, as in MLflow.

``result.artifacts`` lists them as ``per_class_metrics`` (content: the DataFrame) and
``confusion_matrix`` (content: the PIL image), after ``eval_results_table``.

MLflow draws more only from class probabilities, which it reads from the raw model of
an ``mlflow.sklearn``/``xgboost``/``catboost`` model's ``predict_proba`` (ROC,
precision-recall, lift and calibration curves); mltrail does not read probabilities,
so those are not drawn. SHAP plots need the ``shap`` package, without which MLflow
skips them too.

Example::

    artifacts = log_classifier_artifacts(targets, predictions, "val_", run_id, client, artifact_uri)
    artifacts["confusion_matrix"].uri  # .../val_confusion_matrix.png
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from typing import Any

from mltrail.evaluation.base import EvaluationArtifact

_log = logging.getLogger(__name__)

PER_CLASS_METRICS = "per_class_metrics"
CONFUSION_MATRIX = "confusion_matrix"
_COUNTS = ("true_negatives", "false_positives", "false_negatives", "true_positives", "example_count")


def per_class_metrics(y: Any, p: Any, labels: Any) -> Any:
    """One row per label: the binary classifier scores of that label against all the others."""
    import numpy as np
    import pandas as pd

    from mltrail.evaluation.builtin import classifier_scores

    y, p = np.asarray(y), np.asarray(p)
    rows = []
    for label in labels:
        scores = classifier_scores((y == label).astype(int), (p == label).astype(int), np.array([0, 1]))
        rows.append(
            {"positive_class": label, **{k: int(v) if k in _COUNTS else v for k, v in scores.items()}}
        )
    return pd.DataFrame(rows)


def normalized_confusion_matrix(y: Any, p: Any, labels: Any) -> Any:
    """Counts of (true, predicted) label pairs, each row divided by its total (an empty row stays 0)."""
    import numpy as np

    y, p = np.asarray(y), np.asarray(p)
    counts = np.array([[np.sum((y == t) & (p == q)) for q in labels] for t in labels], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals != 0)


def log_classifier_artifacts(
    y: Any, p: Any, prefix: str, run_id: str, client: Any, artifact_uri: str
) -> dict[str, EvaluationArtifact]:
    """Log the artifacts that apply to these labels to the run; returns them by MLflow's names, in its order."""
    import numpy as np

    from mltrail.evaluation.builtin import class_labels

    labels = class_labels(y, p)
    artifacts: dict[str, EvaluationArtifact] = {}
    with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
        if len(labels) > 2:
            table = per_class_metrics(y, p, labels)
            file_name = f"{PER_CLASS_METRICS}.csv"
            path = os.path.join(tmp, file_name)
            table.to_csv(path, index=False)
            client.log_artifact(run_id, path)
            artifacts[PER_CLASS_METRICS] = EvaluationArtifact(
                uri=f"{artifact_uri}/{file_name}", content=_csv(path)
            )
        file_name = f"{prefix}{CONFUSION_MATRIX}.png"
        path = os.path.join(tmp, file_name)
        if _draw_confusion_matrix(normalized_confusion_matrix(y, p, labels), np.asarray(labels), path):
            client.log_artifact(run_id, path)
            artifacts[CONFUSION_MATRIX] = EvaluationArtifact(
                uri=f"{artifact_uri}/{file_name}", content=_image(path)
            )
    return artifacts


def _draw_confusion_matrix(matrix: Any, labels: Any, path: str) -> bool:
    """Draw the matrix as MLflow does; False (with a warning) if it cannot be drawn."""
    try:
        from sklearn.metrics import ConfusionMatrixDisplay

        from mltrail.sklearn._plots import confusion_matrix_plot, render

        plot = confusion_matrix_plot(
            CONFUSION_MATRIX,
            lambda ax: ConfusionMatrixDisplay(confusion_matrix=matrix, display_labels=labels).plot(
                cmap="Blues", ax=ax
            ),
            # MLflow's evaluator rounds the size up, where its sklearn autologging does not.
            font_size=min(8, math.ceil(50.0 / len(labels))),
        )
        render(plot, path)
    except Exception as err:  # ImportError included: the metrics are what matters, as in MLflow
        _log.warning("Failed to log image artifact %r: %r", CONFUSION_MATRIX, err)
        if os.path.exists(path):
            os.remove(path)
        return False
    return True


def _csv(path: str) -> Any:
    import pandas as pd

    return pd.read_csv(path)


def _image(path: str) -> Any:
    """The PNG as a loaded PIL image, as MLflow's ``ImageEvaluationArtifact`` holds it (the path without PIL)."""
    try:
        from PIL import Image
    except ImportError:
        return path
    with Image.open(path) as image:
        image.load()
        return image.copy()
