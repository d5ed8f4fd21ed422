"""One judge call: a prompt to a judge model, its JSON verdict read into a :class:`Feedback`.

The provider table, retries, timeouts and key masking are those of the
classic LLM-judge metrics (:mod:`mltrail.evaluation.judge`); this module only
adds MLflow 3's verdict format, ``{"result": ..., "rationale": ...}``, and its
error semantics. A judge that cannot be reached, refuses, or answers with
something that is not such an object gives a :class:`Feedback` carrying an
:class:`AssessmentError` and a ``warnings.warn`` naming the judge and the
error, never an exception and never a silent gap.
"""

from __future__ import annotations

import enum
import json
import os
import re
import warnings
from collections.abc import Callable
from typing import Any

from mltrail.entities.assessment import AssessmentError, AssessmentSource, AssessmentSourceType, Feedback
from mltrail.exceptions import BAD_REQUEST, MltrailException

# MLflow's default judge outside Databricks; both variables name an override.
FALLBACK_MODEL = "openai:/gpt-4.1-mini"
_DEFAULT_MODEL_VARS = ("MLTRAIL_GENAI_JUDGE_DEFAULT_MODEL", "MLFLOW_GENAI_JUDGE_DEFAULT_MODEL")
# What a judge is told to answer, in every prompt.
JSON_ANSWER = (
    "Answer with one JSON object and nothing else (no Markdown), with exactly these fields:\n"
    '  "rationale": your reasoning, step by step, in a few sentences,\n'
    '  "result": {result}\n'
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL | re.IGNORECASE)
_THINK_PREFIX = "Let's think step by step. "


class CategoricalRating(enum.StrEnum):
    """A yes/no verdict (MLflow's ``CategoricalRating``); compares equal to ``"yes"``/``"no"``."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> CategoricalRating:
        text = str(value).strip().lower()
        for member in cls:
            if member.value == text:
                return member
        return cls.UNKNOWN


# The words judges use for yes and no (MLflow's vocabulary), so "Pass" or "true" read as yes.
AFFIRMATIVE = frozenset(
    [
        "true",
        "pass",
        "passed",
        "correct",
        "success",
        "1",
        "1.0",
        "yes",
        "y",
        "yea",
        "yeah",
        "affirmative",
        "absolutely",
        "certainly",
        "indeed",
        "sure",
        "ok",
        "okay",
        "agree",
        "accepted",
        "right",
        "positive",
        "accurate",
        "valid",
        "validity",
        "confirmed",
        "approved",
        "complete",
        "completed",
        "good",
        "great",
        "excellent",
        "active",
        "enabled",
        "on",
        "present",
        "found",
        "match",
        "matched",
        "validated",
        "approve",
        "accept",
        "pos",
    ]
)
NEGATIVE = frozenset(
    [
        "false",
        "fail",
        "failed",
        "incorrect",
        "failure",
        "0",
        "0.0",
        "no",
        "n",
        "nah",
        "nope",
        "negative",
        "reject",
        "rejected",
        "disagree",
        "invalid",
        "inaccurate",
        "wrong",
        "declined",
        "denied",
        "incomplete",
        "bad",
        "poor",
        "inactive",
        "disabled",
        "off",
        "missing",
        "absent",
        "notfound",
        "mismatch",
        "mismatched",
        "none",
        "null",
        "nil",
        "deny",
        "disapprove",
        "disapproved",
        "neg",
    ]
) | {"not approved"}


def get_default_model() -> str:
    """The judge used when none is given: ``MLTRAIL_GENAI_JUDGE_DEFAULT_MODEL``, MLflow's variable, else ``openai:/gpt-4.1-mini``."""
    for name in _DEFAULT_MODEL_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return FALLBACK_MODEL


def as_rating(value: Any) -> Any:
    """A yes/no-like string as a :class:`CategoricalRating`; anything else unchanged."""
    if isinstance(value, CategoricalRating) or not isinstance(value, str) or not value:
        return value
    text = value.strip().lower()
    if text in AFFIRMATIVE:
        return CategoricalRating.YES
    if text in NEGATIVE:
        return CategoricalRating.NO
    return CategoricalRating(text)


def judge_source(model: str) -> AssessmentSource:
    return AssessmentSource(AssessmentSourceType.LLM_JUDGE, model)


def error_feedback(name: str, model: str, code: str, message: str) -> Feedback:
    """A feedback with no value, and the warning that says so (the message is already free of keys)."""
    warnings.warn(f"Judge {name!r} ({model}) gave no verdict: {code}: {message}", stacklevel=3)
    return Feedback(name=name, error=AssessmentError(code, message), source=judge_source(model))


def parse_verdict(text: str) -> dict[str, Any]:
    """The JSON object of a judge reply (alone, in a Markdown fence, or after some prose).

    Raises ``ValueError`` naming what was wrong when there is no object with a ``result``.
    """
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate, strict=False)
        except ValueError:
            continue
        if isinstance(data, dict) and "result" in data:
            return data
    snippet = text.strip()
    snippet = snippet if len(snippet) <= 300 else snippet[:300] + "..."
    raise ValueError(f"the judge's reply is not a JSON object with a 'result' field: {snippet!r}")


def invoke_judge(
    model: str,
    prompt: str,
    name: str,
    *,
    yes_no: bool = True,
    inference_params: dict[str, Any] | None = None,
    reraise: Callable[[MltrailException], bool] | None = None,
) -> Feedback:
    """Ask ``model`` to grade ``prompt`` and return its verdict as a feedback named ``name``.

    With ``yes_no`` the result is read as a :class:`CategoricalRating`. Failures
    give a feedback with an error (``error_code`` from the provider's answer, or
    ``BAD_REQUEST`` for an unreadable verdict) plus a warning, except a call error for which
    ``reraise`` says true: that one is raised (the gateway's "System One endpoint" refusal, on
    which a ``gateway:/`` judge switches API).
    """
    from mltrail.evaluation.judge import complete  # httpx/openai only when a judge is called

    try:
        text = complete(model, prompt, inference_params)
    except MltrailException as err:
        if reraise is not None and reraise(err):
            raise
        return error_feedback(name, model, err.error_code, err.message)
    try:
        data = parse_verdict(text)
    except ValueError as err:
        return error_feedback(name, model, BAD_REQUEST, str(err))
    value = data["result"]
    if yes_no:
        value = as_rating(value)
    rationale = data.get("rationale")
    rationale = None if rationale is None else str(rationale).replace(_THINK_PREFIX, "")
    try:
        return Feedback(name=name, value=value, rationale=rationale, source=judge_source(model))
    except MltrailException as err:  # a value that is not JSON (cannot come from json.loads, but be safe)
        return error_feedback(name, model, err.error_code, err.message)


def to_text(value: Any) -> str:
    """A value as prompt text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
