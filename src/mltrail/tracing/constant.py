"""``mlflow.tracing.constant``'s import path: the keys MLflow uses in spans, traces and assessments.

The span, trace-metadata and trace-tag keys are defined once in
:mod:`mltrail.entities.trace`, the token-usage and cost keys in
:mod:`mltrail.entities.trace_usage`; this module re-exports them under MLflow's
path and adds the assessment metadata keys.

Example::

    from mltrail.tracing.constant import SpanAttributeKey, TraceMetadataKey

    trace.info.trace_metadata.get(TraceMetadataKey.SOURCE_RUN)
"""

from __future__ import annotations

from mltrail.entities.trace import SpanAttributeKey, TraceMetadataKey, TraceTagKey
from mltrail.entities.trace_usage import CostKey, TokenUsageKey


class AssessmentMetadataKey:
    """Metadata keys of an assessment (``Assessment.metadata``) that MLflow's evaluation writes."""

    SOURCE_RUN_ID = "mlflow.assessment.sourceRunId"
    SCORER_TRACE_ID = "mlflow.assessment.scorerTraceId"
    SCORER_NAME = "mlflow.assessment.scorerName"
    SCORER_VERSION = "mlflow.assessment.scorerVersion"
    JUDGE_COST = "mlflow.assessment.judgeCost"
    JUDGE_INPUT_TOKENS = "mlflow.assessment.judgeInputTokens"
    JUDGE_OUTPUT_TOKENS = "mlflow.assessment.judgeOutputTokens"


__all__ = [
    "AssessmentMetadataKey",
    "CostKey",
    "SpanAttributeKey",
    "TokenUsageKey",
    "TraceMetadataKey",
    "TraceTagKey",
]
