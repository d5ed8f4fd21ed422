"""Assessments of a trace: :class:`Feedback` (a judgement) and :class:`Expectation` (a ground truth).

An assessment is kept in its wire form, the protobuf JSON of MLflow 3's
``Assessment`` message (``assessment_name``, ``feedback.value``,
``create_time`` as RFC 3339 …), as a ``dict`` subclass. That way a
:class:`~mltrail.entities.trace.TraceInfo` carrying assessments serializes
unchanged (``json``/``msgspec``), and the typed properties give MLflow's
attribute API (``a.name``, ``a.value``, ``a.source.source_type``,
``a.rationale``, ``a.feedback.error`` …).

Example::

    from mltrail.entities.assessment import AssessmentSource, Feedback

    fb = Feedback(name="relevance", value=0.9, rationale="on topic",
                  source=AssessmentSource("LLM_JUDGE", "gpt-4o-mini"))
    fb.name, fb.value, fb.source.source_type   # ('relevance', 0.9, 'LLM_JUDGE')
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from mltrail.entities.timestamps import ms_to_rfc3339 as _ms_to_rfc3339
from mltrail.entities.timestamps import rfc3339_to_ms as _rfc3339_to_ms
from mltrail.exceptions import invalid

DEFAULT_FEEDBACK_NAME = "feedback"
_id_lock = threading.Lock()
_id_sequence = itertools.count()


def new_assessment_id() -> str:
    """A fresh ``a-<32 hex>`` id (MLflow's shape) that sorts in creation order within a process.

    The store lists a trace's assessments by creation time, then by id; ids that begin
    with the millisecond and a per-process sequence keep assessments logged within the
    same millisecond in the order they were logged.
    """
    with _id_lock:
        seq = next(_id_sequence) & 0xFFFF
    return f"a-{int(time.time() * 1000) & 0xFFFFFFFFFFFF:012x}{seq:04x}{os.urandom(8).hex()}"


JSON_FORMAT = "JSON_FORMAT"
_STACK_TRACE_MAX_CHARS = 1000


class AssessmentSourceType:
    """Who made an assessment."""

    SOURCE_TYPE_UNSPECIFIED = "SOURCE_TYPE_UNSPECIFIED"
    LLM_JUDGE = "LLM_JUDGE"
    AI_JUDGE = "AI_JUDGE"  # MLflow's old name for LLM_JUDGE
    HUMAN = "HUMAN"
    CODE = "CODE"
    ALL = (SOURCE_TYPE_UNSPECIFIED, LLM_JUDGE, HUMAN, CODE)


def _source_type(value: Any) -> str:
    text = str(value or AssessmentSourceType.SOURCE_TYPE_UNSPECIFIED).upper()
    if text == AssessmentSourceType.AI_JUDGE:
        text = AssessmentSourceType.LLM_JUDGE
    if text not in AssessmentSourceType.ALL:
        raise invalid(
            f"Invalid assessment source type {value!r}: use one of {', '.join(AssessmentSourceType.ALL)}"
        )
    return text


@dataclass
class AssessmentSource:
    """The source of an assessment: its type (``HUMAN``, ``LLM_JUDGE``, ``CODE``) and an id (a user, a model …)."""

    source_type: str
    source_id: str | None = "default"

    def __post_init__(self) -> None:
        self.source_type = _source_type(self.source_type)

    def to_proto_json(self) -> dict[str, Any]:
        d = {"source_type": self.source_type}
        if self.source_id is not None:
            d["source_id"] = self.source_id
        return d

    to_dictionary = to_proto_json

    @classmethod
    def from_proto_json(cls, d: dict[str, Any] | None) -> AssessmentSource:
        d = d or {}
        return cls(d.get("source_type") or AssessmentSourceType.SOURCE_TYPE_UNSPECIFIED, d.get("source_id"))

    from_dictionary = from_proto_json


@dataclass
class AssessmentError:
    """Why a feedback has no value (e.g. the judge failed)."""

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None

    def to_proto_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"error_code": self.error_code}
        if self.error_message:
            d["error_message"] = self.error_message
        if self.stack_trace:
            d["stack_trace"] = self.stack_trace[:_STACK_TRACE_MAX_CHARS]
        return d

    to_dictionary = to_proto_json

    @classmethod
    def from_proto_json(cls, d: dict[str, Any]) -> AssessmentError:
        return cls(d.get("error_code") or "", d.get("error_message"), d.get("stack_trace"))

    from_dictionary = from_proto_json


@dataclass
class FeedbackValue:
    """A feedback's value, or the error that kept it from having one."""

    value: Any = None
    error: AssessmentError | None = None

    def to_proto_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value}
        if self.error is not None:
            d["error"] = self.error.to_proto_json()
        return d


@dataclass
class ExpectationValue:
    """An expectation's value (dicts and lists travel JSON-serialized, as in MLflow)."""

    value: Any = None

    def to_proto_json(self) -> dict[str, Any]:
        if isinstance(self.value, (str, bool, int, float)) or self.value is None:
            return {"value": self.value}
        return {"serialized_value": {"serialization_format": JSON_FORMAT, "value": json.dumps(self.value)}}


def decode_expectation_value(d: dict[str, Any]) -> Any:
    """The value of an ``expectation`` JSON object (``value``, or JSON text in ``serialized_value``)."""
    serialized = d.get("serialized_value")
    if isinstance(serialized, dict) and "value" in serialized:
        try:
            return json.loads(serialized["value"])
        except (TypeError, ValueError):
            return serialized["value"]
    return d.get("value")


def _check_json(what: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise invalid(
            f"Invalid {what} {value!r}: it must be JSON-serializable (str, number, bool, list, dict)"
        ) from None


def _as_error(error: Any) -> AssessmentError | None:
    if error is None or isinstance(error, AssessmentError):
        return error
    if isinstance(error, BaseException):
        import traceback  # only when an exception becomes an error record

        stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return AssessmentError(type(error).__name__, str(error), stack)
    if isinstance(error, str):
        return AssessmentError("ASSESSMENT_ERROR", error)
    raise invalid(f"Invalid error {error!r}: use an Exception, an AssessmentError or a string")


class Assessment(dict):
    """One assessment of a trace (or of one of its spans), in MLflow's wire form.

    Build one with :class:`Feedback` or :class:`Expectation`; read stored ones
    with :meth:`from_proto_json` (which returns the right subclass).
    """

    _KIND = ""

    def _init(
        self,
        kind: str,
        body: dict[str, Any],
        name: str,
        source: AssessmentSource,
        trace_id: str | None,
        metadata: dict[str, Any] | None,
        span_id: str | None,
        create_time_ms: int | None,
        last_update_time_ms: int | None,
        rationale: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"Invalid assessment name {name!r}: it must be a non-empty string")
        if not isinstance(source, AssessmentSource):
            raise invalid(f"Invalid source {source!r}: it must be an AssessmentSource")
        now = int(time.time() * 1000)
        self["assessment_name"] = name
        if trace_id:
            self["trace_id"] = trace_id
        if span_id:
            self["span_id"] = span_id
        self["source"] = source.to_proto_json()
        self["create_time"] = _ms_to_rfc3339(create_time_ms if create_time_ms is not None else now)
        self["last_update_time"] = _ms_to_rfc3339(
            last_update_time_ms if last_update_time_ms is not None else now
        )
        self[kind] = body
        if rationale is not None:
            self["rationale"] = rationale
        if metadata:
            self["metadata"] = {str(k): str(v) for k, v in metadata.items()}

    # -- reading the wire form
    @staticmethod
    def from_proto_json(d: dict[str, Any]) -> Assessment:
        """An assessment from MLflow's ``Assessment`` JSON: a :class:`Feedback` or an :class:`Expectation`."""
        if not isinstance(d, dict):
            raise invalid(f"Invalid assessment {d!r}: it must be a JSON object")
        if "expectation" in d:
            cls: type[Assessment] = Expectation
        elif "feedback" in d:
            cls = Feedback
        else:
            raise invalid("Invalid assessment: exactly one of 'feedback' or 'expectation' must be given")
        if "feedback" in d and "expectation" in d:
            raise invalid("Invalid assessment: give 'feedback' or 'expectation', not both")
        out = dict.__new__(cls)
        dict.update(out, d)
        return out

    from_dictionary = from_proto_json

    def to_proto_json(self) -> dict[str, Any]:
        """A plain ``dict`` copy of the wire form."""
        return json.loads(json.dumps(self))

    to_dictionary = to_proto_json

    # -- MLflow's attributes
    @property
    def assessment_id(self) -> str | None:
        return self.get("assessment_id")

    @assessment_id.setter
    def assessment_id(self, value: str | None) -> None:
        self._put("assessment_id", value)

    @property
    def name(self) -> str:
        return self.get("assessment_name", "")

    @name.setter
    def name(self, value: str) -> None:
        self["assessment_name"] = value

    @property
    def trace_id(self) -> str | None:
        return self.get("trace_id")

    @trace_id.setter
    def trace_id(self, value: str | None) -> None:
        self._put("trace_id", value)

    @property
    def span_id(self) -> str | None:
        return self.get("span_id") or None

    @property
    def source(self) -> AssessmentSource:
        return AssessmentSource.from_proto_json(self.get("source"))

    @property
    def rationale(self) -> str | None:
        return self.get("rationale")

    @rationale.setter
    def rationale(self, value: str | None) -> None:
        self._put("rationale", value)

    @property
    def metadata(self) -> dict[str, str] | None:
        return self.get("metadata") or None

    @property
    def create_time_ms(self) -> int | None:
        raw = self.get("create_time")
        return None if raw in (None, "") else _rfc3339_to_ms(raw)

    @property
    def last_update_time_ms(self) -> int | None:
        raw = self.get("last_update_time")
        return None if raw in (None, "") else _rfc3339_to_ms(raw)

    @property
    def overrides(self) -> str | None:
        return self.get("overrides") or None

    @property
    def valid(self) -> bool | None:
        return self.get("valid")

    @property
    def run_id(self) -> str | None:
        return (self.get("metadata") or {}).get("mlflow.assessment.sourceRunId")

    @property
    def feedback(self) -> FeedbackValue | None:
        raw = self.get("feedback")
        if not isinstance(raw, dict):
            return None
        error = raw.get("error")
        return FeedbackValue(raw.get("value"), AssessmentError.from_proto_json(error) if error else None)

    @property
    def expectation(self) -> ExpectationValue | None:
        raw = self.get("expectation")
        return ExpectationValue(decode_expectation_value(raw)) if isinstance(raw, dict) else None

    @property
    def error(self) -> AssessmentError | None:
        fb = self.feedback
        return fb.error if fb is not None else None

    @property
    def value(self) -> Any:
        if isinstance(self.get("expectation"), dict):
            return decode_expectation_value(self["expectation"])
        return (self.get("feedback") or {}).get("value")

    def _put(self, key: str, value: Any) -> None:
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, value={self.value!r}, "
            f"assessment_id={self.assessment_id!r}, trace_id={self.trace_id!r})"
        )


class Feedback(Assessment):
    """A judgement of a trace: a value (number, bool, text, list, dict) or an error, with a rationale.

    The source defaults to ``CODE``, like MLflow's.
    """

    def __init__(
        self,
        name: str = DEFAULT_FEEDBACK_NAME,
        value: Any = None,
        error: BaseException | AssessmentError | str | None = None,
        source: AssessmentSource | None = None,
        trace_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        create_time_ms: int | None = None,
        last_update_time_ms: int | None = None,
        rationale: str | None = None,
        overrides: str | None = None,
        valid: bool = True,
    ) -> None:
        super().__init__()
        _check_json("feedback value", value)
        body = FeedbackValue(value, _as_error(error)).to_proto_json()
        self._init(
            "feedback",
            body,
            name,
            source or AssessmentSource(AssessmentSourceType.CODE),
            trace_id,
            metadata,
            span_id,
            create_time_ms,
            last_update_time_ms,
            rationale,
        )
        if overrides:
            self["overrides"] = overrides
        self["valid"] = bool(valid)

    @property
    def error_code(self) -> str | None:
        return self.error.error_code if self.error else None

    @property
    def error_message(self) -> str | None:
        return self.error.error_message if self.error else None


class Expectation(Assessment):
    """The expected value (ground truth) for a trace or span; the source defaults to ``HUMAN``."""

    def __init__(
        self,
        name: str,
        value: Any,
        source: AssessmentSource | None = None,
        trace_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        span_id: str | None = None,
        create_time_ms: int | None = None,
        last_update_time_ms: int | None = None,
    ) -> None:
        super().__init__()
        if value is None:
            raise invalid("An expectation needs a value")
        _check_json("expectation value", value)
        self._init(
            "expectation",
            ExpectationValue(value).to_proto_json(),
            name,
            source or AssessmentSource(AssessmentSourceType.HUMAN),
            trace_id,
            metadata,
            span_id,
            create_time_ms,
            last_update_time_ms,
        )
