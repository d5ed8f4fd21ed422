"""Scorers in an evaluation: checking them, calling them on a row, and the run-level aggregates.

A scorer is an object with a ``name`` and ``aggregations`` (``None``, or a list
of ``"min" "max" "mean" "median" "variance" "p90"`` and callables) whose
``run(inputs=, outputs=, expectations=, trace=)`` returns a number, bool, str,
a :class:`Feedback`, a list of them, or ``None`` (MLflow's ``Scorer.run``).
What it returns becomes a list of feedbacks here exactly as MLflow's harness
does it; an exception becomes one feedback with error code ``SCORER_ERROR``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mltrail.entities.assessment import (
    DEFAULT_FEEDBACK_NAME,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
)
from mltrail.exceptions import invalid
from mltrail.genai.scorers.aggregation import aggregate_feedbacks

MAX_SCORER_WORKERS_ENV = "MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS"
_USER_DEFINED_NAME_KEY = "_user_defined_assessment_name"


def validate_scorers(scorers: Any) -> list[Any]:
    """The scorers, or ``INVALID_PARAMETER_VALUE`` worded as MLflow's for anything else."""
    if not isinstance(scorers, list):
        raise invalid(
            "The `scorers` argument must be a list of scorers. If you are unsure about which "
            "scorer to use, you can specify `scorers=mlflow.genai.scorers.get_all_scorers()` "
            "to jump start with all available built-in scorers."
        )
    for scorer in scorers:
        if (
            isinstance(scorer, type)
            or not callable(getattr(scorer, "run", None))
            or not hasattr(scorer, "name")
        ):
            hint = ""
            if isinstance(scorer, type):
                hint = (
                    "\nHint: It looks like you passed a scorer class instead of an instance. "
                    f"Correct way to pass scorers is `scorers=[{scorer.__name__}()]`."
                )
            raise invalid(
                "The `scorers` argument must be a list of scorers. The specified list contains an "
                f"invalid item with type: {type(scorer).__name__}.{hint}"
            )
    return scorers


def _code_source(scorer_name: str) -> AssessmentSource:
    return AssessmentSource(AssessmentSourceType.CODE, scorer_name)


def _feedback_name(feedback: Feedback, scorer_name: str) -> str:
    meta = feedback.metadata or {}
    if feedback.name == DEFAULT_FEEDBACK_NAME or meta.get(_USER_DEFINED_NAME_KEY) == "false":
        return scorer_name
    return feedback.name


def standardize(scorer_name: str, value: Any) -> list[Feedback]:
    """A scorer's return value as feedbacks (MLflow's ``standardize_scorer_value``)."""
    if value is None:
        return []
    if isinstance(value, (int, float, bool, str)):
        return [Feedback(name=scorer_name, value=value, source=_code_source(scorer_name))]
    if isinstance(value, Feedback):
        value.name = _feedback_name(value, scorer_name)
        return [value]
    if isinstance(value, Collection) and not isinstance(value, dict):
        out = []
        for item in value:
            if isinstance(item, Feedback):
                item.name = _feedback_name(item, scorer_name)
                out.append(item)
            else:  # a list that is the value of one feedback
                out.append(Feedback(name=scorer_name, value=item, source=_code_source(scorer_name)))
        return out
    raise invalid(
        f"Got unsupported result from scorer '{scorer_name}'. Expected the metric value to be a "
        "number, or a boolean, or a string, or an Feedback, or a list of Feedbacks. "
        f"Got {value}."
    )


def _run_one(scorer: Any, kwargs: dict[str, Any]) -> list[Feedback]:
    try:
        return standardize(scorer.name, scorer.run(**kwargs))
    except Exception as exc:  # a failing scorer is a row's error feedback, never the evaluation's failure
        error = AssessmentError("SCORER_ERROR", str(exc), traceback.format_exc())
        return [Feedback(name=scorer.name, source=_code_source(scorer.name), error=error)]


def max_scorer_workers() -> int:
    """``MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS`` (MLflow's default: 10)."""
    return max(1, int(os.environ.get(MAX_SCORER_WORKERS_ENV) or 10))


def run_scorers(
    scorers: list[Any], inputs: Any, outputs: Any, expectations: Any, trace: Any
) -> list[Feedback]:
    """Every scorer on one row, in parallel as MLflow does (at most the scorer-worker limit at once)."""
    if not scorers:
        return []
    kwargs = {"inputs": inputs, "outputs": outputs, "expectations": expectations, "trace": trace}
    if len(scorers) == 1:
        return _run_one(scorers[0], kwargs)
    with ThreadPoolExecutor(
        min(len(scorers), max_scorer_workers()), thread_name_prefix="MltrailEvalScorer"
    ) as pool:
        results = list(pool.map(lambda s: _run_one(s, kwargs), scorers))
    return [fb for feedbacks in results for fb in feedbacks]


# ------------------------------------------------------------------ aggregates
def aggregate(feedbacks: list[Feedback], scorers: list[Any]) -> dict[str, float]:
    """``<assessment name>/<aggregation>`` over every row (MLflow's ``compute_aggregated_metrics``).

    A scorer without ``aggregations`` gets ``mean`` only; values that are not
    numbers, bools or yes/no (and errors) are left out.
    """
    return aggregate_feedbacks(feedbacks, {s.name: getattr(s, "aggregations", None) for s in scorers})
