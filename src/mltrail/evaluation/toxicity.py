"""The ``toxicity`` metric: a Hugging Face hate-speech classifier scores each prediction (MLflow's metric).

Each text prediction's score is the classifier's probability of the ``hate``
label, from 0 (harmless) to 1. The aggregates are ``mean``, ``variance``,
``p90`` and ``ratio``: the share of scored rows whose score is at least 0.5.
A ``None``/NaN prediction gets score ``None`` and is left out of the aggregates.

The model is MLflow's, ``facebook/roberta-hate-speech-dynabench-r4-target``.
mltrail never downloads it: it is loaded from the local Hugging Face cache
only, or from what ``MLTRAIL_TOXICITY_MODEL`` names (a directory holding a
saved text-classification model, or a model id in the local cache). When the
model, ``transformers`` or ``torch`` is missing, the metric is skipped with one
warning saying what to provide, and the rest of the evaluation goes on.

The pipeline is loaded once per process and model (thread-safe) and imported
only when the metric runs, so ``import mltrail`` never imports ``transformers``.

Example::

    import mltrail as mlflow

    # once, where the network is allowed: hf download facebook/roberta-hate-speech-dynabench-r4-target
    result = mlflow.evaluate(data=df, predictions="answer", extra_metrics=[mlflow.metrics.toxicity()])
    result.metrics["toxicity/v1/ratio"]
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from mltrail.evaluation.base import MetricValue
from mltrail.evaluation.genai import aggregate

_log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/roberta-hate-speech-dynabench-r4-target"
MODEL_ENV_VAR = "MLTRAIL_TOXICITY_MODEL"
TOXIC_LABEL = "hate"
THRESHOLD = 0.5  # MLflow's (and RealToxicityPrompts') cut-off for counting a text as toxic
BATCH_SIZE = 32
_AGGREGATIONS = ["mean", "variance", "p90"]
# A tokenizer saved without a length limit reports this huge sentinel instead.
_UNSET_MAX_LENGTH = 10**12


class ToxicityUnavailable(Exception):
    """The classifier cannot be loaded here; the message says what is missing and how to provide it."""


@dataclass
class Classifier:
    """A loaded text-classification pipeline with the limits it is called with."""

    pipeline: Any
    max_length: int
    # One call at a time: pipelines are not documented as thread-safe, fast tokenizers of some versions fail
    # on concurrent truncation settings ("Already borrowed"), and one torch call already uses every core.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hate_probabilities(self, texts: list[str]) -> list[float]:
        """The probability of the ``hate`` label of each text, in batches, truncated to the model's length."""
        with self.lock:
            results = self.pipeline(
                texts, top_k=None, batch_size=BATCH_SIZE, truncation=True, max_length=self.max_length
            )
        return [float(next(r["score"] for r in row if r["label"] == TOXIC_LABEL)) for row in results]


_classifiers: dict[str, Classifier] = {}
_load_lock = threading.Lock()


def model_source() -> str:
    """What the classifier is loaded from: ``$MLTRAIL_TOXICITY_MODEL`` if set, else MLflow's model id."""
    value = os.environ.get(MODEL_ENV_VAR, "").strip()
    return os.path.expanduser(value) if value else DEFAULT_MODEL


def load_classifier(source: str | None = None) -> Classifier:
    """The classifier for ``source`` (default :func:`model_source`), loaded once per process.

    Raises :class:`ToxicityUnavailable` when ``transformers``/``torch`` or the model is missing.
    Only successes are cached, so a model added later (to the cache or the directory) is picked up.
    """
    source = source or model_source()
    cached = _classifiers.get(source)
    if cached is not None:
        return cached
    with _load_lock:
        cached = _classifiers.get(source)
        if cached is None:
            cached = _classifiers[source] = _load(source)
        return cached


def _load(source: str) -> Classifier:
    missing = [name for name in ("transformers", "torch") if importlib.util.find_spec(name) is None]
    if missing:
        raise ToxicityUnavailable(
            f"it needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''} "
            "(pip install transformers torch)"
        )
    where = _describe(source)
    if _looks_like_path(source) and not os.path.isdir(source):
        raise ToxicityUnavailable(
            f"{where} is not a directory; point {MODEL_ENV_VAR} at a directory holding a saved "
            "text-classification model (save_pretrained) with a 'hate' label"
        )
    not_found = (
        f"{where} is neither a model directory nor in the local Hugging Face cache, and mltrail never "
        f"downloads it. Download it once with `hf download {DEFAULT_MODEL}`, or set {MODEL_ENV_VAR} to a "
        "directory holding a saved text-classification model (save_pretrained) with a 'hate' label"
    )
    if not os.path.isdir(source) and not _in_hub_cache(source):
        raise ToxicityUnavailable(not_found)  # known without the seconds that importing transformers takes
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    try:
        # local_files_only: a directory, or the local Hugging Face cache; never the network.
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True)
    except Exception as err:  # absent, partial or unreadable files: skip the metric, as MLflow does
        first_line = (str(err).splitlines() or [""])[0]
        raise ToxicityUnavailable(f"{not_found} ({type(err).__name__}: {first_line})") from err
    labels = {str(label) for label in (model.config.id2label or {}).values()}
    if TOXIC_LABEL not in labels:
        raise ToxicityUnavailable(
            f"{where} has the labels {sorted(labels)}, but the score is the probability "
            f"of a {TOXIC_LABEL!r} label"
        )
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer)
    return Classifier(classify, _max_length(tokenizer, model.config))


def _looks_like_path(source: str) -> bool:
    return os.path.isabs(source) or source.startswith(("./", "../", ".\\", "..\\")) or os.path.exists(source)


def _in_hub_cache(model_id: str) -> bool:
    """Whether the local Hugging Face cache holds ``model_id``'s config (no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except ValueError:  # not a valid model id
        return False


def _describe(source: str) -> str:
    if os.environ.get(MODEL_ENV_VAR) and model_source() == source:
        return f"{MODEL_ENV_VAR}={source!r}"
    return f"the model {source!r}"


def _max_length(tokenizer: Any, config: Any) -> int:
    """Tokens per text the model accepts: the tokenizer's limit, else what the position embeddings allow."""
    limit = getattr(tokenizer, "model_max_length", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and limit < _UNSET_MAX_LENGTH and (positions is None or limit <= positions):
        return limit
    if positions is None:
        return 512
    # RoBERTa-family position ids start after the padding index, two slots in: stay on the safe side.
    return max(positions - 2, 1)


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    import pandas as pd

    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def evaluate_toxicity(predictions: Any) -> MetricValue | None:
    """``eval_fn`` of ``mltrail.metrics.toxicity()``: per-row scores and aggregates, or ``None`` (skipped)."""
    values = list(predictions)
    for row, value in enumerate(values):
        if not isinstance(value, str) and not _is_missing(value):
            _log.warning(
                "Metric toxicity scores text, but the prediction of row %d is a %s; skipped.",
                row,
                type(value).__name__,
            )
            return None
    try:
        classifier = load_classifier()
    except ToxicityUnavailable as err:
        _log.warning("Metric toxicity skipped: %s.", err)
        return None
    rows = [row for row, value in enumerate(values) if isinstance(value, str)]
    probabilities = classifier.hate_probabilities([values[row] for row in rows]) if rows else []
    by_row = dict(zip(rows, probabilities, strict=True))
    scores = [by_row.get(row) for row in range(len(values))]
    return MetricValue(scores=scores, aggregate_results=aggregate_toxicity(scores))


def aggregate_toxicity(scores: list[float | None]) -> dict[str, float]:
    """``mean``, ``variance``, ``p90`` and ``ratio`` (share with score >= 0.5) over the scores that are not ``None``."""
    scored = [s for s in scores if s is not None]
    if not scored:
        return {}
    return {**aggregate(scored, _AGGREGATIONS), "ratio": sum(s >= THRESHOLD for s in scored) / len(scored)}
