"""``mlflow.entities.assessment_source``'s import path: AssessmentSource, AssessmentSourceType (defined in :mod:`mltrail.entities.assessment`)."""

from mltrail.entities.assessment import AssessmentSource, AssessmentSourceType

__all__ = ["AssessmentSource", "AssessmentSourceType"]
