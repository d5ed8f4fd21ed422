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

With class probabilities (``predict_proba`` of the raw model behind an
``mlflow.sklearn``/``mlflow.xgboost``/``mlflow.catboost`` pyfunc, one column per sorted
label), MLflow draws more, all ``<metric_prefix>``-named PNGs:

- two labels: ``roc_curve_plot``, ``precision_recall_curve_plot``, ``lift_curve_plot``
  and ``calibration_curve_plot`` (the last label is positive);
- more: ``calibration_curve_plot`` and, up to ``evaluator_config["max_classes_for_multiclass_roc_pr"]``
  (10) labels, one-vs-rest ``roc_curve_plot`` and ``precision_recall_curve_plot``, whose
  per-class AUC and average precision become the ``roc_auc`` and ``precision_recall_auc``
  columns of ``per_class_metrics.csv``.

``evaluator_config``'s ``calibration_classifier_name`` and ``calibration_n_bins`` tune the
calibration plot. SHAP plots need the ``shap`` package, without which MLflow skips them too.

``result.artifacts`` lists them by these names (without ``.png``) in MLflow's order, after
``eval_results_table``: a CSV's content is the DataFrame, a PNG's the PIL image.

Example::

    artifacts = log_classifier_artifacts(targets, predictions, None, "val_", {}, run_id, client, artifact_uri)
    artifacts["confusion_matrix"].uri  # .../val_confusion_matrix.png
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

from mltrail.evaluation._figures import confusion_matrix_plot, line_curves, save_figure
from mltrail.evaluation.base import EvaluationArtifact
from mltrail.evaluation.builtin import class_labels, classifier_scores, curve_auc

_log = logging.getLogger(__name__)

PER_CLASS_METRICS = "per_class_metrics"
CONFUSION_MATRIX = "confusion_matrix"
ROC_CURVE = "roc_curve_plot"
PR_CURVE = "precision_recall_curve_plot"
LIFT_CURVE = "lift_curve_plot"
CALIBRATION_CURVE = "calibration_curve_plot"
_COUNTS = ("true_negatives", "false_positives", "false_negatives", "true_positives", "example_count")


def per_class_metrics(y: Any, p: Any, labels: Any) -> Any:
    """One row per label: the binary classifier scores of that label against all the others."""
    import numpy as np
    import pandas as pd

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


class Curve(NamedTuple):
    """One curve per line (``(legend label, xs, ys)``), its axis labels and title, and the area(s) under it."""

    series: list[tuple[str, Any, Any]]
    xlabel: str
    ylabel: str
    title: str
    auc: Any  # a float for a binary curve, one float per label (in label order) for one-vs-rest curves


def _points(kind: str, y: Any, scores: Any, pos_label: Any) -> tuple[Any, Any]:
    from sklearn import metrics

    if kind == "roc":
        fpr, tpr, _ = metrics.roc_curve(y, scores, pos_label=pos_label)
        return fpr, tpr
    precision, recall, _ = metrics.precision_recall_curve(y, scores, pos_label=pos_label)
    return recall, precision


def classifier_curve(kind: str, y: Any, probabilities: Any, labels: Any) -> Curve:
    """MLflow's ROC (``kind="roc"``) or precision-recall (``"pr"``) curve of class probabilities.

    Two labels: one curve of the last (positive) label's column. More: one "label against the
    rest" curve per label (probability column ``i`` belongs to ``labels[i]``).
    """
    import numpy as np

    y, probabilities = np.asarray(y), np.asarray(probabilities)
    area = "AUC" if kind == "roc" else "AP"
    if len(labels) == 2:
        pos_label = labels[-1]
        x, ys = _points(kind, y, probabilities[:, 1], pos_label)
        auc = curve_auc(kind, y, probabilities[:, 1], pos_label)
        series = [(f"{area}={auc:.3f}", x, ys)]
    else:
        pos_label, series, auc = None, [], []
        for i, label in enumerate(labels):
            y_bin = np.where(y == label, 1, 0)
            x, ys = _points(kind, y_bin, probabilities[:, i], None)
            auc.append(curve_auc(kind, y_bin, probabilities[:, i], 1))
            series.append((f"label={label},{area}={auc[-1]:.3f}", x, ys))
    # MLflow names the positive label on the axes only when it is truthy (a 0 label goes unnamed).
    suffix = f" (Positive label: {pos_label})" if pos_label else ""
    if kind == "roc":
        return Curve(series, f"False Positive Rate{suffix}", f"True Positive Rate{suffix}", "ROC curve", auc)
    return Curve(series, f"Recall{suffix}", f"Precision{suffix}", "Precision recall curve", auc)


def log_classifier_artifacts(
    y: Any,
    p: Any,
    probabilities: Any,
    prefix: str,
    config: dict[str, Any],
    run_id: str,
    client: Any,
    artifact_uri: str,
) -> dict[str, EvaluationArtifact]:
    """Log the artifacts that apply to these labels to the run; returns them by MLflow's names, in its order.

    ``probabilities`` is ``predict_proba``'s output (or None); ``config`` the evaluator config.
    """
    import numpy as np

    labels = class_labels(y, p)
    y = np.asarray(y)
    artifacts: dict[str, EvaluationArtifact] = {}
    with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:

        def plot(name: str, draw: Callable[[Any], Any], font_size: float = 8.0) -> None:
            file_name = f"{prefix}{name}.png"
            path = os.path.join(tmp, file_name)
            if _draw(name, draw, path, font_size):
                client.log_artifact(run_id, path)
                artifacts[name] = EvaluationArtifact(uri=f"{artifact_uri}/{file_name}", content=_image(path))

        calibration = {k: v for k, v in config.items() if k.startswith("calibration_")}
        if len(labels) == 2 and probabilities is not None:
            for kind, name in (("roc", ROC_CURVE), ("pr", PR_CURVE)):
                curve = classifier_curve(kind, y, probabilities, labels)
                plot(name, functools.partial(_draw_curve, kind, curve, False))
            plot(LIFT_CURVE, lambda fig: _draw_lift(fig, y, probabilities, labels[-1]))
            plot(CALIBRATION_CURVE, lambda fig: _draw_calibration(fig, y, probabilities, labels, calibration))
        elif len(labels) > 2:
            table = per_class_metrics(y, p, labels)
            if probabilities is not None:
                plot(
                    CALIBRATION_CURVE,
                    lambda fig: _draw_calibration(fig, y, probabilities, labels, calibration),
                )
                limit = config.get("max_classes_for_multiclass_roc_pr", 10)
                if len(labels) <= limit:
                    for kind, name, column in (
                        ("roc", ROC_CURVE, "roc_auc"),
                        ("pr", PR_CURVE, "precision_recall_auc"),
                    ):
                        curve = classifier_curve(kind, y, probabilities, labels)
                        plot(name, functools.partial(_draw_curve, kind, curve, True))
                        table[column] = curve.auc
                else:
                    _log.warning(
                        "The classifier has %d classes (more than max_classes_for_multiclass_roc_pr=%s): "
                        "no ROC and precision-recall curves. Raise it in evaluator_config to draw them.",
                        len(labels),
                        limit,
                    )
            file_name = f"{PER_CLASS_METRICS}.csv"
            path = os.path.join(tmp, file_name)
            table.to_csv(path, index=False)
            client.log_artifact(run_id, path)
            artifacts[PER_CLASS_METRICS] = EvaluationArtifact(
                uri=f"{artifact_uri}/{file_name}", content=_csv(path)
            )
        matrix = normalized_confusion_matrix(y, p, labels)
        # MLflow's evaluator rounds the size up, where its sklearn autologging does not.
        font_size = min(8, math.ceil(50.0 / len(labels)))
        plot(
            CONFUSION_MATRIX,
            lambda fig: _confusion_matrix_plot(matrix, np.asarray(labels), font_size).draw_on(fig),
            font_size,
        )
    return artifacts


def _draw(name: str, draw: Callable[[Any], Any], path: str, font_size: float) -> bool:
    """Draw one plot on a bare 6 x 4 inch figure; False (with MLflow's warning) if it cannot be drawn."""
    try:
        save_figure(draw, path, figsize=(6.0, 4.0), font_size=font_size, tight_bbox=True)
    except Exception as err:  # ImportError included: the metrics are what matters, as in MLflow
        _log.warning("Failed to log image artifact %r: %r", name, err)
        if os.path.exists(path):
            os.remove(path)
        return False
    return True


def _confusion_matrix_plot(matrix: Any, labels: Any, font_size: float) -> Any:
    from sklearn.metrics import ConfusionMatrixDisplay

    return confusion_matrix_plot(
        CONFUSION_MATRIX,
        lambda ax: ConfusionMatrixDisplay(confusion_matrix=matrix, display_labels=labels).plot(
            cmap="Blues", ax=ax
        ),
        font_size=font_size,
    )


def _draw_curve(kind: str, curve: Curve, one_vs_rest: bool, figure: Any) -> None:
    diagonal = ([0, 1], [0, 1]) if kind == "roc" else ([0, 1], [1, 0])
    line_curves(
        figure.subplots(), curve.series, curve.xlabel, curve.ylabel, curve.title, diagonal, one_vs_rest
    )
    if one_vs_rest:
        figure.subplots_adjust(right=0.6, bottom=0.25)  # room for the legend, as MLflow leaves


def _cumulative_gains(y: Any, scores: Any, label: Any) -> Any:
    """The share of ``label``'s rows among the top-scored first k rows, for each k (the lift curve's numerator)."""
    import numpy as np

    hits = (y == label)[np.argsort(scores)[::-1]]
    return np.cumsum(hits) / float(np.sum(hits))


def _draw_lift(figure: Any, y: Any, probabilities: Any, pos_label: Any) -> None:
    """MLflow's lift curve (scikit-plot's): each class's cumulative gain over the share of rows ranked."""
    import numpy as np

    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"Cannot calculate Lift Curve for data with {len(classes)} category/ies")
    probabilities = np.asarray(probabilities)
    shares = np.arange(1, len(y) + 1) / float(len(y))
    ax = figure.subplots()
    ax.set_title("Lift Curve", fontsize="large")
    for i, label in enumerate(classes):
        name = f"Class {label} (positive)" if pos_label and pos_label == label else f"Class {label}"
        ax.plot(shares, _cumulative_gains(y, probabilities[:, i], label) / shares, lw=3, label=name)
    ax.plot([0, 1], [1, 1], "k--", lw=2, label="Baseline")
    ax.set_xlabel("Percentage of sample", fontsize="medium")
    ax.set_ylabel("Lift", fontsize="medium")
    ax.tick_params(labelsize="medium")
    ax.grid(True)
    ax.legend(loc="best", fontsize="medium")


def _draw_calibration(figure: Any, y: Any, probabilities: Any, labels: Any, config: dict[str, Any]) -> None:
    """MLflow's calibration plot: sklearn's display for two labels, one line per class for more."""
    import numpy as np
    from sklearn.calibration import CalibrationDisplay, calibration_curve

    name = config.get("calibration_classifier_name")
    n_bins = config.get("calibration_n_bins", 10)
    if not isinstance(config.get("calibration_classifier_name", ""), str):
        raise TypeError("calibration_classifier_name should be of type string")
    if not isinstance(n_bins, int):
        raise TypeError("calibration_n_bins should be of type int")
    probabilities = np.asarray(probabilities)
    ax = figure.subplots()
    n_classes = probabilities.shape[-1]
    if n_classes == 2:
        CalibrationDisplay.from_predictions(
            y, probabilities[:, 1], pos_label=labels[-1], name=name, n_bins=n_bins, ax=ax
        )
        return
    for i in range(n_classes):
        # As MLflow does, a row is "in class i" when its label equals the index i: labels 0..n-1 work,
        # other labels are never "in" a class, as in MLflow's plot.
        truth, predicted = calibration_curve([v == i for v in y], probabilities[:, i], n_bins=n_bins)
        ax.plot(truth, predicted, marker="o", markersize=3, label=f"Class {labels[i]}")
    ax.plot([0, 1], [0, 1], linestyle="dotted", label="Perfect Calibration", color="black")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=n_classes // 3)
    ax.set_title(f"{name or 'Classifier'} Calibration", fontsize=12)
    ax.set_xlabel("Mean Predicted Probability", fontsize=10)
    ax.set_ylabel("Fraction of True Positives", fontsize=10)


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
