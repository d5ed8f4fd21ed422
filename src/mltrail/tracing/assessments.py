"""MLflow's assessment functions: ``log_feedback``, ``log_expectation``, ``get_assessment`` …

An assessment judges a trace (or one of its spans): :class:`Feedback` is a
judgement (a score, a yes/no, text, or an error), :class:`Expectation` a
ground truth. They are stored with the trace, in the tracking store of the
tracking URI in effect, and read back on ``get_trace(...).info.assessments``.

Example::

    import mltrail as mlflow
    from mltrail.entities.assessment import AssessmentSource

    @mlflow.trace
    def answer(q):
        return "Paris"

    answer("capital of France?")
    trace_id = mlflow.get_last_active_trace_id()
    fb = mlflow.log_feedback(trace_id=trace_id, name="correct", value=True, rationale="matches",
                             source=AssessmentSource("HUMAN", "ann"))
    mlflow.log_expectation(trace_id=trace_id, name="expected", value="Paris")
    mlflow.update_assessment(trace_id, fb.assessment_id, Feedback(name="correct", value=False))
"""

from __future__ import annotations

from typing import Any

from mltrail import _exported_by
from mltrail.entities.assessment import (
    DEFAULT_FEEDBACK_NAME,
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
    new_assessment_id,
)
from mltrail.exceptions import invalid
from mltrail.tracing import _manual

# The public names are listed once, in mltrail/__init__.py's lazy table.
__all__ = _exported_by(__name__)


def _store() -> Any:
    from mltrail.tracking._client_traces import trace_store

    return trace_store(None)


def log_assessment(trace_id: str, assessment: Assessment) -> Assessment:
    """Attach an assessment to a trace and return it with its ``assessment_id``.

    A trace that is still running keeps the assessment and stores it when it
    ends; a finished trace gets it stored now.
    """

    if not isinstance(assessment, Assessment):
        raise invalid(f"Invalid assessment {assessment!r}: use Feedback or Expectation")
    if not trace_id:  # a NoOpSpan's trace (tracing disabled): nothing to attach to, as in MLflow
        return assessment
    assessment.trace_id = trace_id
    if _manual.add_in_flight_assessment(trace_id, assessment):
        assessment.assessment_id = assessment.assessment_id or new_assessment_id()
        return assessment
    return _store().create_assessment(assessment)


def log_feedback(
    *,
    trace_id: str,
    name: str = DEFAULT_FEEDBACK_NAME,
    value: Any = None,
    source: AssessmentSource | None = None,
    error: BaseException | AssessmentError | str | None = None,
    rationale: str | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Assessment:
    """Log a feedback (a value or an error, with a rationale) on a trace; the source defaults to ``CODE``."""
    return log_assessment(
        trace_id,
        Feedback(
            name=name,
            value=value,
            error=error,
            source=source,
            rationale=rationale,
            metadata=metadata,
            span_id=span_id,
        ),
    )


def log_expectation(
    *,
    trace_id: str,
    name: str,
    value: Any,
    source: AssessmentSource | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Assessment:
    """Log an expectation (the expected value) on a trace; the source defaults to ``HUMAN``."""
    return log_assessment(
        trace_id, Expectation(name=name, value=value, source=source, metadata=metadata, span_id=span_id)
    )


def get_assessment(trace_id: str, assessment_id: str) -> Assessment:
    """One assessment of a stored trace (``RESOURCE_DOES_NOT_EXIST`` if unknown)."""
    return _store().get_assessment(trace_id, assessment_id)


def update_assessment(trace_id: str, assessment_id: str, assessment: Assessment) -> Assessment:
    """Change an assessment in place: its name, value and rationale from ``assessment``; metadata is merged.

    Example::

        mlflow.update_assessment(trace_id, fb.assessment_id, Feedback(name="correct", value=False))
    """
    if not isinstance(assessment, Assessment):
        raise invalid(f"Invalid assessment {assessment!r}: use Feedback or Expectation")
    return _store().update_assessment(
        trace_id,
        assessment_id,
        name=assessment.name,
        expectation=assessment.expectation,
        feedback=assessment.feedback,
        rationale=assessment.rationale,
        metadata=assessment.metadata,
    )


def delete_assessment(trace_id: str, assessment_id: str) -> None:
    """Delete an assessment (an overridden one it replaced becomes valid again)."""
    _store().delete_assessment(trace_id, assessment_id)


def override_feedback(
    *,
    trace_id: str,
    assessment_id: str,
    value: Any,
    rationale: str | None = None,
    source: AssessmentSource | None = None,
    metadata: dict[str, Any] | None = None,
) -> Assessment:
    """Log a new feedback that replaces an existing one, which is kept but marked invalid."""
    old = get_assessment(trace_id, assessment_id)
    if not isinstance(old, Feedback):
        raise invalid(f"The assessment with ID {assessment_id} is not a feedback assessment.")
    return log_assessment(
        trace_id,
        Feedback(
            name=old.name,
            span_id=old.span_id,
            value=value,
            rationale=rationale,
            source=source,
            metadata=metadata,
            overrides=old.assessment_id,
        ),
    )
