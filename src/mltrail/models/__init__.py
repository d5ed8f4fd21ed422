"""``mltrail.models``: the model format (MLmodel), signatures, input examples and registration.

Imports nothing heavy: numpy/pandas load only when a signature is inferred or
an example is read.
"""

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

# MLflow also exposes evaluation under ``mlflow.models``; those names load on first
# use so that loading or saving a model does not import the evaluation stack.
_LAZY = {
    "EvaluationArtifact": "mltrail.evaluation.base",
    "EvaluationMetric": "mltrail.evaluation.base",
    "EvaluationResult": "mltrail.evaluation.base",
    "make_metric": "mltrail.evaluation.base",
    "evaluate": "mltrail.evaluation.evaluator",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mltrail.models' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
