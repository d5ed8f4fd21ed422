"""MLflow's training plots for scikit-learn classifiers, drawn on bare matplotlib figures.

After an autologged ``fit`` of a classifier (with labels), the run gets the PNGs MLflow's
sklearn autologging logs, under the same names:

- ``training_confusion_matrix.png``: normalized over the true labels, for every classifier;
- ``training_roc_curve.png`` and ``training_precision_recall_curve.png``: only when the
  training labels hold exactly two classes, scored with ``predict_proba`` or else
  ``decision_function`` (sklearn's ``response_method="auto"``).

Regressors, clusterers and transformers get none (MLflow draws none for them), and no
autolog option turns the plots off. Each plot gets its own ``matplotlib.figure.Figure``,
saved through the Agg canvas: nothing is added to pyplot's figure list and the user's
backend is left as it was. A plot that fails is warned about (debug-logged with
``silent``) and the others are still logged; without matplotlib no plot is drawn.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
from typing import Any

from mltrail.autologging import get_autolog_config, warn_failure
from mltrail.evaluation._figures import TrainingPlot, confusion_matrix_plot, render

_log = logging.getLogger(__name__)


def classifier_plots(
    estimator: Any, features: Any, targets: Any, weights: Any, prefix: str = "training_"
) -> list[TrainingPlot]:
    """The plots MLflow draws for a fitted estimator on this data (empty unless a classifier).

    Multi-output labels get none: sklearn's displays take one label column.
    """
    import numpy as np
    from sklearn.base import is_classifier
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    if targets is None or not is_classifier(estimator):
        return []
    labels = np.asarray(targets)
    if labels.ndim != 1:
        _log.debug("no training plots for %s: labels of shape %s", type(estimator).__name__, labels.shape)
        return []
    classes = getattr(estimator, "classes_", None)
    n_classes = len(classes) if classes is not None and np.ndim(classes) == 1 else len(np.unique(labels))
    data = {"X": features, "y": targets, "sample_weight": weights}
    plots = [
        confusion_matrix_plot(
            prefix + "confusion_matrix",
            lambda ax: ConfusionMatrixDisplay.from_estimator(
                estimator, **data, normalize="true", cmap="Blues", ax=ax
            ),
            # Smaller digits as the classes grow, so the cells stay readable (MLflow's rule).
            font_size=min(8.0, 50.0 / max(n_classes, 1)),
        )
    ]
    if len(np.unique(labels)) == 2:
        scores = functools.cache(lambda: binary_scores(estimator, features, labels))
        name = type(estimator).__name__
        plots.append(
            TrainingPlot(
                name=prefix + "roc_curve",
                title="ROC curve",
                draw=lambda ax: RocCurveDisplay.from_predictions(
                    targets, scores()[0], pos_label=scores()[1], sample_weight=weights, name=name, ax=ax
                ),
            )
        )
        plots.append(
            TrainingPlot(
                name=prefix + "precision_recall_curve",
                title="Precision recall curve",
                draw=lambda ax: PrecisionRecallDisplay.from_predictions(
                    targets, scores()[0], pos_label=scores()[1], sample_weight=weights, name=name, ax=ax
                ),
            )
        )
    return plots


def binary_scores(estimator: Any, features: Any, labels: Any) -> tuple[Any, Any]:
    """The scores of the positive class (the last of ``classes_``) and that class's label.

    ``predict_proba``'s last column, else ``decision_function``: what sklearn's
    ``from_estimator`` picks with ``response_method="auto"``. Computed here rather than by
    ``from_estimator``, which tells the two apart by the method's ``__name__``, so a renamed
    or wrapped method (an autologging patch, say) cannot turn the scores into a 2-D array.
    """
    import numpy as np

    classes = getattr(estimator, "classes_", None)
    positive = classes[-1] if classes is not None and len(classes) == 2 else np.unique(labels)[-1]
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(features))[:, -1], positive
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(features)), positive
    raise AttributeError(f"{type(estimator).__name__} has neither predict_proba nor decision_function")


def log_training_plots(
    estimator: Any,
    run_id: str,
    client: Any,
    features: Any,
    targets: Any,
    weights: Any = None,
    prefix: str = "training_",
    flavor: str = "sklearn",
) -> list[str]:
    """Draw the plots that apply and log them as run artifacts; returns the file names logged.

    ``flavor`` names the autologging integration whose ``silent`` option and warnings apply.
    """
    plots = classifier_plots(estimator, features, targets, weights, prefix)
    if not plots:
        return []
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        message = f"matplotlib is not installed ({err}); training plots skipped"
        if get_autolog_config(flavor).get("silent"):
            _log.debug(message)
        else:
            _log.warning(message)
        return []
    logged: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for plot in plots:
            file_name = f"{plot.name}.png"
            path = os.path.join(tmp, file_name)
            try:
                render(plot, path)
            except Exception as err:
                warn_failure(flavor, f"plot {file_name} not logged", err)
                with contextlib.suppress(OSError):  # a half-written file must not be uploaded
                    os.remove(path)
                continue
            logged.append(file_name)
        if logged:
            client.log_artifacts(run_id, tmp)
    return logged
