"""Model validation against metric thresholds: MLflow's ``MetricThreshold`` and ``validate_evaluation_results``.

A candidate model's evaluation metrics are checked against fixed thresholds
and, optionally, against a baseline model's metrics (a minimum absolute or
relative improvement). A failed check raises :class:`ModelValidationFailedException`
(``BAD_REQUEST``) listing every failing metric, as MLflow does.

Example::

    from mltrail.models import MetricThreshold, validate_evaluation_results

    thresholds = {"accuracy_score": MetricThreshold(threshold=0.8, greater_is_better=True)}
    validate_evaluation_results(thresholds, candidate_result, baseline_result)
"""

from __future__ import annotations

import logging
import operator
import os
from decimal import Decimal
from typing import Any

from mltrail.exceptions import BAD_REQUEST, INVALID_PARAMETER_VALUE, MltrailException

_log = logging.getLogger(__name__)


class MetricThresholdClassException(MltrailException):
    """A ``MetricThreshold`` built with invalid arguments (``INVALID_PARAMETER_VALUE``)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(
            "Could not instantiate MetricThreshold class: " + message,
            error_code=INVALID_PARAMETER_VALUE,
            **kwargs,
        )


class ModelValidationFailedException(MltrailException):
    """The candidate model's metrics did not meet the thresholds (``BAD_REQUEST``)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, error_code=BAD_REQUEST, **kwargs)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


class MetricThreshold:
    """Thresholds for one metric: a fixed value and/or a minimum change against a baseline.

    * ``threshold``: the metric must be ``>=`` it (``<=`` when lower is better).
    * ``min_absolute_change``: a positive number; the candidate must beat the baseline by it.
    * ``min_relative_change``: a float in [0, 1]; the candidate must beat the baseline by this
      share of the baseline's magnitude (a zero baseline only needs to be beaten).
    * ``greater_is_better``: required, whether a greater value is better.

    Example::

        MetricThreshold(threshold=0.8, min_relative_change=0.05, greater_is_better=True)
    """

    def __init__(
        self,
        threshold: float | None = None,
        min_absolute_change: float | None = None,
        min_relative_change: float | None = None,
        greater_is_better: bool | None = None,
    ) -> None:
        if threshold is not None and not _is_number(threshold):
            raise MetricThresholdClassException("`threshold` parameter must be a number.")
        if min_absolute_change is not None and (
            not _is_number(min_absolute_change) or min_absolute_change <= 0
        ):
            raise MetricThresholdClassException("`min_absolute_change` parameter must be a positive number.")
        if min_relative_change is not None:
            if not isinstance(min_relative_change, float):
                raise MetricThresholdClassException(
                    "`min_relative_change` parameter must be a floating point number."
                )
            if not 0 <= min_relative_change <= 1:
                raise MetricThresholdClassException(
                    "`min_relative_change` parameter must be between 0 and 1."
                )
        if greater_is_better is None:
            raise MetricThresholdClassException("`greater_is_better` parameter must be defined.")
        if not isinstance(greater_is_better, bool):
            raise MetricThresholdClassException("`greater_is_better` parameter must be a boolean.")
        if threshold is None and min_absolute_change is None and min_relative_change is None:
            raise MetricThresholdClassException("no threshold was specified.")
        self._threshold = threshold
        self._min_absolute_change = min_absolute_change
        self._min_relative_change = min_relative_change
        self._greater_is_better = greater_is_better

    @property
    def threshold(self) -> float | None:
        """The value the metric must reach."""
        return self._threshold

    @property
    def min_absolute_change(self) -> float | None:
        """The improvement over the baseline the candidate must show, in the metric's units."""
        return self._min_absolute_change

    @property
    def min_relative_change(self) -> float | None:
        """The improvement over the baseline, as a share of the baseline's magnitude."""
        return self._min_relative_change

    @property
    def greater_is_better(self) -> bool:
        """Whether a greater metric value is better."""
        return self._greater_is_better

    def __str__(self) -> str:
        parts = []
        if self._threshold is not None:
            parts.append(f"Threshold: {self._threshold}.")
        if self._min_absolute_change is not None:
            parts.append(f"Minimum Absolute Change: {self._min_absolute_change}.")
        if self._min_relative_change is not None:
            parts.append(f"Minimum Relative Change: {self._min_relative_change}.")
        parts.append("Greater value is better." if self._greater_is_better else "Lower value is better.")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"MetricThreshold(threshold={self._threshold!r}, min_absolute_change={self._min_absolute_change!r}, "
            f"min_relative_change={self._min_relative_change!r}, greater_is_better={self._greater_is_better!r})"
        )


class _MetricResult:
    """The outcome of one metric's checks, and its message."""

    def __init__(self, name: str, candidate: Any, threshold: MetricThreshold, baseline: Any) -> None:
        self.name = name
        self.candidate = candidate
        self.baseline = baseline
        self.threshold = threshold
        self.missing_candidate = False
        self.missing_baseline = False
        self.threshold_failed = False
        self.min_absolute_change_failed = False
        self.min_relative_change_failed = False

    def is_success(self) -> bool:
        return not (
            self.missing_candidate
            or self.missing_baseline
            or self.threshold_failed
            or self.min_absolute_change_failed
            or self.min_relative_change_failed
        )

    def __str__(self) -> str:
        n = self.name
        if self.is_success():
            return f"Metric {n} passed the validation."
        if self.missing_candidate:
            return (
                f"Metric validation failed: metric {n} was missing from the "
                "evaluation result of the candidate model."
            )
        out = []
        if self.threshold_failed:
            out.append(
                f"Metric {n} value threshold check failed: candidate model {n} = {self.candidate}, "
                f"{n} threshold = {self.threshold.threshold}."
            )
        if self.missing_baseline:
            out.append(
                f"Model comparison failed: metric {n} was missing from the evaluation result of the baseline model."
            )
        else:
            if self.min_absolute_change_failed:
                out.append(
                    f"Metric {n} minimum absolute change check failed: candidate model {n} = {self.candidate}, "
                    f"baseline model {n} = {self.baseline}, "
                    f"{n} minimum absolute change threshold = {self.threshold.min_absolute_change}."
                )
            if self.min_relative_change_failed:
                out.append(
                    f"Metric {n} minimum relative change check failed: candidate model {n} = {self.candidate}, "
                    f"baseline model {n} = {self.baseline}, "
                    f"{n} minimum relative change threshold = {self.threshold.min_relative_change}."
                )
        return " ".join(out)


def _check(result: _MetricResult, candidate: dict[str, Any], baseline: dict[str, Any]) -> None:
    t = result.threshold
    if result.name not in candidate:
        result.missing_candidate = True
        return
    value = candidate[result.name]
    better = operator.ge if t.greater_is_better else operator.le
    step = operator.add if t.greater_is_better else operator.sub
    if t.threshold is not None:
        result.threshold_failed = not better(value, t.threshold)
    if (t.min_relative_change or t.min_absolute_change) and result.name not in baseline:
        result.missing_baseline = True
        return
    base = baseline.get(result.name)
    if t.min_absolute_change is not None:
        # Decimal: 0.8 + 0.05 must not fail 0.85 on a float rounding error.
        result.min_absolute_change_failed = not better(
            Decimal(str(value)),
            Decimal(str(base)) + (1 if t.greater_is_better else -1) * Decimal(str(t.min_absolute_change)),
        )
    if t.min_relative_change is not None:
        if base == 0:
            _log.warning(
                "Cannot perform relative model comparison for metric %s as baseline metric value is 0. "
                "Falling back to simple comparison: verifying that candidate metric value is better "
                "than the baseline metric value.",
                result.name,
            )
            result.min_relative_change_failed = not better(value, step(base, 1e-10))
            return
        change = (value - base) if t.greater_is_better else (base - value)
        result.min_relative_change_failed = change / abs(base) < t.min_relative_change


def _metrics_of(result: Any, what: str) -> dict[str, Any]:
    metrics = result if isinstance(result, dict) else getattr(result, "metrics", None)
    if not isinstance(metrics, dict):
        raise MltrailException(
            f"The {what} result must be an EvaluationResult (with a `metrics` dict), got {type(result).__name__}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return metrics


def validate_evaluation_results(
    validation_thresholds: dict[str, MetricThreshold],
    candidate_result: Any,
    baseline_result: Any = None,
) -> None:
    """Check a candidate's evaluation metrics against thresholds (and a baseline's metrics).

    ``candidate_result`` and ``baseline_result`` are what ``mltrail.evaluate`` returns
    (anything with a ``metrics`` dict). Raises :class:`ModelValidationFailedException`
    naming each failed check; returns ``None`` when every metric passes.

    Example::

        validate_evaluation_results(
            {"accuracy_score": MetricThreshold(threshold=0.8, min_absolute_change=0.05, greater_is_better=True)},
            candidate_result,
            baseline_result,
        )
    """
    if type(validation_thresholds) is not dict or not all(
        type(k) is str and isinstance(v, MetricThreshold) for k, v in validation_thresholds.items()
    ):
        raise MltrailException(
            "The validation thresholds argument must be a dictionary that maps strings to MetricThreshold objects.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    candidate = _metrics_of(candidate_result, "candidate")
    baseline = _metrics_of(baseline_result, "baseline") if baseline_result is not None else {}
    _log.info("Validating candidate model metrics against baseline")
    results = [
        _MetricResult(name, candidate.get(name), threshold, baseline.get(name))
        for name, threshold in validation_thresholds.items()
    ]
    for result in results:
        _check(result, candidate, baseline)
    failures = [str(r) for r in results if not r.is_success()]
    if failures:
        raise ModelValidationFailedException(os.linesep.join(failures))
    _log.info("Model validation passed!")
