"""``mltrail.models``: the model format (MLmodel), signatures, input examples and registration.

Imports nothing heavy: numpy/pandas load only when a signature is inferred or
an example is read.
"""

from mltrail.evaluation.base import EvaluationArtifact, EvaluationMetric, EvaluationResult, make_metric
from mltrail.evaluation.evaluator import evaluate
from mltrail.models.logging import ModelInfo
from mltrail.models.model import Model
from mltrail.models.registration import register_model
from mltrail.models.signature import (
    ColSpec,
    DataType,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)
from mltrail.pyfunc.model import set_model

__all__ = [
    "ColSpec",
    "DataType",
    "EvaluationArtifact",
    "EvaluationMetric",
    "EvaluationResult",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "evaluate",
    "infer_signature",
    "make_metric",
    "register_model",
    "set_model",
]
