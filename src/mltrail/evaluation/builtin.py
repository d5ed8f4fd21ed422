"""Built-in metrics that need no judge model (MLflow's names and logged keys).

``exact_match`` logs ``exact_match/v1``; ``token_count`` and ``latency`` add
per-row columns (``latency`` also ``latency/mean`` ...). The readability
grades need the optional ``textstat`` package and ``toxicity`` needs
``transformers``, ``torch`` and a local copy of its Hugging Face classifier
(see :mod:`mltrail.evaluation.toxicity`): like MLflow, a metric whose package
or model is missing is skipped with a warning instead of failing the evaluation.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

from mltrail.evaluation.base import EvaluationMetric, MetricValue, standard_aggregations
from mltrail.evaluation.toxicity import evaluate_toxicity
from mltrail.exceptions import invalid

_log = logging.getLogger(__name__)


def exact_match() -> EvaluationMetric:
    """The share of rows whose prediction equals the target (as text)."""

    def eval_fn(predictions: Any, targets: Any) -> MetricValue:
        pairs = list(zip(list(predictions), list(targets), strict=True))
        hits = sum(1 for p, t in pairs if str(p) == str(t))
        return MetricValue(aggregate_results={"exact_match": hits / len(pairs) if pairs else 0.0})

    return EvaluationMetric(eval_fn, "exact_match", True, version="v1")


@functools.cache
def _tokenizer() -> Any:
    """tiktoken's cl100k_base when it is installed (as MLflow counts), else whitespace words."""
    if importlib.util.find_spec("tiktoken") is not None:
        try:
            import tiktoken

            enc = tiktoken.get_encoding("cl100k_base")
            return lambda text: len(enc.encode(text))
        except Exception:  # the encoding file may need a download we cannot do (cached: tried once)
            _log.warning("tiktoken's cl100k_base encoding is unavailable; token_count counts words instead.")
    return lambda text: len(text.split())


def token_count() -> EvaluationMetric:
    """Tokens per prediction (a per-row column).

    No aggregate, as in MLflow (``aggregate_results={}``): only with a ``metric_prefix``
    does MLflow's re-prefixed value compute ``<prefix>token_count/mean``, ``/variance``, ``/p90``.
    """

    def eval_fn(predictions: Any) -> MetricValue:
        count = _tokenizer()
        scores = [None if p is None else count(str(p)) for p in list(predictions)]
        return MetricValue(scores=scores, aggregate_results={})

    return EvaluationMetric(eval_fn, "token_count", True)


def latency() -> EvaluationMetric:
    """Seconds the model took per row; asking for it makes ``evaluate`` call the model row by row.

    Static predictions (no model) get 0 for every row, as in MLflow. The value computes its own
    ``latency/mean``, ``/variance`` and ``/p90`` (see :class:`MetricValue`).
    """

    def eval_fn(latencies: Any) -> MetricValue:
        return MetricValue(scores=[float(x) for x in latencies])

    return EvaluationMetric(eval_fn, "latency", False)


def _textstat_metric(name: str, fn_name: str) -> EvaluationMetric:
    def eval_fn(predictions: Any) -> MetricValue | None:
        if importlib.util.find_spec("textstat") is None:
            _log.warning("Metric %s needs the textstat package (pip install textstat); skipped.", name)
            return None
        import textstat

        fn = getattr(textstat, fn_name)
        scores = [fn(str(p)) for p in list(predictions)]
        return MetricValue(scores=scores, aggregate_results=standard_aggregations(scores))

    return EvaluationMetric(eval_fn, name, False, version="v1")


def ari_grade_level() -> EvaluationMetric:
    """Automated Readability Index grade of each prediction (needs ``textstat``)."""
    return _textstat_metric("ari_grade_level", "automated_readability_index")


def flesch_kincaid_grade_level() -> EvaluationMetric:
    """Flesch-Kincaid grade of each prediction (needs ``textstat``)."""
    return _textstat_metric("flesch_kincaid_grade_level", "flesch_kincaid_grade")


def toxicity() -> EvaluationMetric:
    """Probability of the ``hate`` label per prediction (``toxicity/v1/score``) and its mean, variance, p90, ratio.

    Needs ``transformers``, ``torch`` and the classifier in the local Hugging Face
    cache or in ``$MLTRAIL_TOXICITY_MODEL``; skipped with a warning otherwise.
    """
    return EvaluationMetric(
        evaluate_toxicity,
        "toxicity",
        False,
        long_name="toxicity/roberta-hate-speech-dynabench-r4",
        version="v1",
    )


# ------------------------------------------------------- classic model types
def _regressor_metrics(y: Any, p: Any) -> dict[str, float]:
    import numpy as np

    err = p - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out = {
        "example_count": float(len(y)),
        "mean_absolute_error": float(np.mean(np.abs(err))),
        "mean_squared_error": float(np.mean(err**2)),
        "root_mean_squared_error": float(np.sqrt(np.mean(err**2))),
        "sum_on_target": float(np.sum(y)),
        "mean_on_target": float(np.mean(y)),
        "r2_score": _r2(float(np.sum(err**2)), ss_tot),
        "max_error": float(np.max(np.abs(err))),
    }
    # sklearn's definition, which MLflow logs: a zero target divides by machine epsilon instead (a huge value).
    out["mean_absolute_percentage_error"] = float(
        np.mean(np.abs(err) / np.maximum(np.abs(y), np.finfo(np.float64).eps))
    )
    return out


def _r2(ss_res: float, ss_tot: float) -> float:
    """sklearn's r2_score (as MLflow logs it): constant targets give 1.0 if predicted exactly, else 0.0."""
    if ss_tot:
        return 1 - ss_res / ss_tot
    return 1.0 if ss_res == 0 else 0.0


def classifier_scores(y: Any, p: Any, labels: Any) -> dict[str, float]:
    """MLflow's classifier scores of true labels ``y`` and predictions ``p``, in its order.

    ``labels`` is the sorted label list (see :func:`class_labels`). Two labels: the last one is
    positive, and the confusion counts come first. More: support-weighted averages (sklearn's
    ``average="weighted"``).
    """
    import numpy as np

    per_label = []
    for label in labels:
        tp = float(np.sum((p == label) & (y == label)))
        fp = float(np.sum((p == label) & (y != label)))
        fn = float(np.sum((p != label) & (y == label)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label.append((tp, fp, fn, precision, recall, f1, float(np.sum(y == label))))
    out: dict[str, float] = {}
    if len(labels) == 2:
        tp, fp, fn, precision, recall, f1, _ = per_label[-1]
        out.update(true_negatives=float(len(y)) - tp - fp - fn, false_positives=fp, false_negatives=fn)
        out["true_positives"] = tp
    else:  # multiclass: support-weighted averages
        total = float(len(y))
        precision, recall, f1 = (sum(row[i] * row[6] for row in per_label) / total for i in (3, 4, 5))
    out.update(example_count=float(len(y)), accuracy_score=float(np.mean(y == p)))
    out.update(recall_score=recall, precision_score=precision, f1_score=f1)
    return out


def class_labels(y: Any, p: Any) -> Any:
    """The sorted labels of targets and predictions (MLflow's ``label_list``); at least two are needed."""
    import numpy as np

    labels = np.unique(np.concatenate([np.asarray(y), np.asarray(p)]))
    if len(labels) < 2:
        raise invalid(
            "Evaluation dataset for classification must contain at least two unique labels, but only "
            f"{len(labels)} unique labels were found."
        )
    return labels


# The pyfunc flavors whose raw model MLflow scores itself (probabilities; sklearn's own `score`).
_RAW_MODEL_FLAVORS = ("mlflow.sklearn", "mlflow.xgboost", "mlflow.catboost")


@dataclass
class RawModelOutputs:
    """What MLflow reads from the raw model behind a pyfunc, besides its predictions.

    ``score``: a scikit-learn model's own ``score(features, targets)`` (``mlflow.sklearn`` only);
    ``probabilities``: a classifier's ``predict_proba(features)``, one column per sorted label.
    """

    score: float | None = None
    probabilities: Any = None

    def read(self, model: Any, features: Any, targets: Any, model_type: str) -> None:
        """Fill in what ``model`` offers, as MLflow does; a failing ``score`` is warned about and left out."""
        loader = getattr(model, "loader_module", None)
        if loader not in _RAW_MODEL_FLAVORS or not hasattr(model, "get_raw_model"):
            return
        raw = model.get_raw_model()
        if loader == "mlflow.sklearn" and hasattr(raw, "score"):
            try:
                self.score = float(raw.score(features, targets, sample_weight=None))
            except Exception as err:  # MLflow logs the other metrics all the same
                _log.warning("Computing sklearn model score failed: %r.", err)
        if model_type == "classifier" and hasattr(raw, "predict_proba"):
            import numpy as np

            self.probabilities = np.asarray(raw.predict_proba(features))


def curve_auc(kind: str, y: Any, scores: Any, pos_label: Any) -> float:
    """The area MLflow reports under one curve: ROC AUC (``kind="roc"``) or average precision (``"pr"``)."""
    import numpy as np
    from sklearn import metrics

    if kind == "roc":
        return float(metrics.roc_auc_score(y_true=np.asarray(y) == pos_label, y_score=scores))
    return float(metrics.average_precision_score(y_true=y, y_score=scores, pos_label=pos_label))


def _probability_scores(y: Any, labels: Any, probabilities: Any) -> dict[str, float]:
    """``log_loss``, ``roc_auc`` and (two labels) ``precision_recall_auc`` of class probabilities, as MLflow's."""
    from sklearn import metrics

    try:
        out = {"log_loss": float(metrics.log_loss(y, probabilities, labels=labels))}
        if len(labels) == 2:
            out["roc_auc"] = curve_auc("roc", y, probabilities[:, 1], labels[-1])
            out["precision_recall_auc"] = curve_auc("pr", y, probabilities[:, 1], labels[-1])
        else:
            out["roc_auc"] = float(
                metrics.roc_auc_score(y, probabilities, average="weighted", multi_class="ovr")
            )
    except (ValueError, IndexError) as err:
        raise invalid(
            f"The model's class probabilities ({probabilities.shape[1]} columns) do not fit the labels "
            f"{list(labels)}: {err}"
        ) from err
    return out


def model_type_metric(model_type: str, raw: RawModelOutputs | None = None) -> EvaluationMetric:
    """The bundle of classic metrics of ``classifier``/``regressor`` as one metric (logged without prefix).

    ``raw`` holds what the raw model gave once it ran (filled in by ``evaluate``): its ``score``
    comes first, a classifier's probability scores after the label scores (MLflow's order).
    """
    import numpy as np

    raw = raw or RawModelOutputs()

    def eval_fn(predictions: Any, targets: Any) -> MetricValue:
        y, p = np.asarray(list(targets)), np.asarray(list(predictions))
        results = {} if raw.score is None else {"score": raw.score}
        if model_type == "regressor":
            results.update(_regressor_metrics(y.astype(float), p.astype(float)))
        else:
            labels = class_labels(y, p)
            results.update(classifier_scores(y, p, labels))
            if raw.probabilities is not None:
                results.update(_probability_scores(y, labels, raw.probabilities))
        return MetricValue(aggregate_results=results)

    metric = EvaluationMetric(eval_fn, f"_{model_type}", True)
    metric.flat_aggregates = True  # keys like "accuracy_score", not "_classifier/accuracy_score"
    return metric
