"""MLflow 3's built-in scorers that need no judge: ``RegexMatch``, ``ResponseLength``, ``PIIDetection``.

They read the output (or the trace's root-span output) as text and answer
``"yes"``/``"no"`` with a rationale, exactly as MLflow's do.

Example::

    from mltrail.genai.scorers import PIIDetection

    PIIDetection(pii_types=["email"])(outputs="write to ann@example.com").value   # "no"
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from mltrail.entities.assessment import Feedback
from mltrail.exceptions import invalid
from mltrail.genai.judges import _trace
from mltrail.genai.judges._call import CategoricalRating
from mltrail.genai.scorers.builtin import BuiltInScorer

# What each PII type looks like (the types are MLflow's).
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    # North American numbers with optional +1 and separators, or E.164 international numbers.
    "phone": re.compile(r"(?:(?:\+?1[-.\s]?)?\(?\d{3}\)?[-.\s]?\d{3}[-.\s]?\d{4}|\+[1-9]\d{1,14})"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    # Visa, Mastercard, Discover (4-4-4-4) and American Express (4-6-5), spaces or dashes allowed.
    "credit_card": re.compile(
        r"\b(?:(?:4\d{3}|5[1-5]\d{2}|6(?:011|5\d{2}))(?:[-\s]?\d{4}){3}|3[47]\d{2}[-\s]?\d{6}[-\s]?\d{5})\b"
    ),
    "ip_address": re.compile(
        r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
    ),
}


def _output_text(outputs: Any, trace: Any) -> str | None:
    if outputs is None and trace is not None:
        outputs = _trace.root_outputs(trace)
    return None if outputs is None else _trace.outputs_as_text(outputs)


class RegexMatch(BuiltInScorer):
    """Whether the output matches ``pattern`` (``match_type`` ``"search"`` or ``"fullmatch"``); no judge."""

    _fields: ClassVar[tuple[str, ...]] = ("pattern", "match_type", "case_insensitive")
    name = "regex_match"
    required_columns = frozenset({"outputs"})
    match_type: str = "search"
    case_insensitive: bool = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.match_type not in ("search", "fullmatch"):
            raise invalid(f"match_type must be 'search' or 'fullmatch', got {self.match_type!r}")
        try:
            self._compiled = re.compile(self.pattern, re.IGNORECASE if self.case_insensitive else 0)
        except re.error as err:
            raise invalid(f"Invalid regular expression {self.pattern!r}: {err}") from None

    def __call__(self, *, outputs: Any = None, trace: Any = None) -> Feedback:
        text = _output_text(outputs, trace)
        if text is None:
            return Feedback(
                name=self.name, value=CategoricalRating.NO, rationale="No outputs provided to evaluate."
            )
        find = self._compiled.fullmatch if self.match_type == "fullmatch" else self._compiled.search
        matched = find(text) is not None
        return Feedback(
            name=self.name,
            value=CategoricalRating.YES if matched else CategoricalRating.NO,
            rationale=f"Output {'matches' if matched else 'does not match'} pattern {self.pattern!r}",
        )


class ResponseLength(BuiltInScorer):
    """Whether the output's length (``unit`` ``"chars"`` or ``"words"``) is within ``min_length``..``max_length``."""

    _fields: ClassVar[tuple[str, ...]] = ("min_length", "max_length", "unit")
    name = "response_length"
    required_columns = frozenset({"outputs"})
    min_length: int | None = None
    max_length: int | None = None
    unit: str = "chars"

    def __call__(self, *, outputs: Any = None, trace: Any = None) -> Feedback:
        text = _output_text(outputs, trace)
        if text is None:
            return Feedback(
                name=self.name, value=CategoricalRating.NO, rationale="No outputs provided to evaluate."
            )
        length = len(text.split()) if self.unit == "words" else len(text)
        unit = self.unit
        if self.min_length is not None and length < self.min_length:
            why, ok = (
                f"Output length ({length} {unit}) is below the minimum ({self.min_length} {unit})",
                False,
            )
        elif self.max_length is not None and length > self.max_length:
            why, ok = f"Output length ({length} {unit}) exceeds the maximum ({self.max_length} {unit})", False
        else:
            why, ok = f"Output length ({length} {unit}) is within bounds", True
        return Feedback(
            name=self.name, value=CategoricalRating.YES if ok else CategoricalRating.NO, rationale=why
        )


class PIIDetection(BuiltInScorer):
    """Whether the output is free of personal data ("yes" = none found) of ``pii_types`` (default: all)."""

    _fields: ClassVar[tuple[str, ...]] = ("pii_types",)
    name = "pii_detection"
    required_columns = frozenset({"outputs"})
    pii_types: list[str] | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        unknown = [t for t in self.pii_types or [] if t not in PII_PATTERNS]
        if unknown:
            raise invalid(f"Unknown PII type(s) {unknown}: use {', '.join(PII_PATTERNS)}")

    def __call__(self, *, outputs: Any = None, trace: Any = None) -> Feedback:
        text = _output_text(outputs, trace)
        if text is None:
            return Feedback(
                name=self.name, value=CategoricalRating.NO, rationale="No outputs provided to evaluate."
            )
        kinds = self.pii_types if self.pii_types is not None else list(PII_PATTERNS)
        found = [k for k in kinds if PII_PATTERNS[k].search(text)]
        if found:
            return Feedback(
                name=self.name, value=CategoricalRating.NO, rationale=f"Detected PII: {', '.join(found)}"
            )
        return Feedback(name=self.name, value=CategoricalRating.YES, rationale="No PII detected")
