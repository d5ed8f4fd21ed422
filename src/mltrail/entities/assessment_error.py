"""``mlflow.entities.assessment_error``'s import path: AssessmentError (defined in :mod:`mltrail.entities.assessment`)."""

from mltrail.entities.assessment import AssessmentError

__all__ = ["AssessmentError"]
