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
from typing import Any

from mltrail.evaluation.base import EvaluationMetric, MetricValue, standard_aggregations
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
    from mltrail.evaluation.toxicity import evaluate_toxicity

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


def model_type_metric(model_type: str) -> EvaluationMetric:
    """The bundle of classic metrics of ``classifier``/``regressor`` as one metric (logged without prefix)."""
    import numpy as np

    def eval_fn(predictions: Any, targets: Any) -> MetricValue:
        y, p = np.asarray(list(targets)), np.asarray(list(predictions))
        if model_type == "regressor":
            results = _regressor_metrics(y.astype(float), p.astype(float))
        else:
            results = classifier_scores(y, p, class_labels(y, p))
        return MetricValue(aggregate_results=results)

    metric = EvaluationMetric(eval_fn, f"_{model_type}", True)
    metric.flat_aggregates = True  # keys like "accuracy_score", not "_classifier/accuracy_score"
    return metric
