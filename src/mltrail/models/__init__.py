"""``mltrail.models``: the model format (MLmodel), signatures, input examples and registration.

Imports nothing heavy: numpy/pandas load only when a signature is inferred or
an example is read.
"""

from mltrail.models.evaluation_validation import MetricThreshold, validate_evaluation_results
from mltrail.models.model import Model
from mltrail.models.model_config import ModelConfig
from mltrail.models.model_info import ModelInfo
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
    "MetricThreshold",
    "Model",
    "ModelConfig",
    "ModelInfo",
    "ModelInputExample",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "convert_input_example_to_serving_input",
    "evaluate",
    "get_model_info",
    "infer_pip_requirements",
    "infer_signature",
    "make_metric",
    "register_model",
    "set_model",
    "set_signature",
    "update_model_requirements",
    "validate_evaluation_results",
    "validate_schema",
    "validate_serving_input",
]

# MLflow also exposes evaluation under ``mlflow.models``; those names load on first
# use so that loading or saving a model does not import the evaluation stack.
# ``mltrail.models.utils`` loads on first use too: it scores with ``mltrail.pyfunc``,
# whose modules import this package while ``mltrail.pyfunc`` is still initialising.
_LAZY = {
    **{
        name: "mltrail.models.utils"
        for name in (
            "ModelInputExample",
            "convert_input_example_to_serving_input",
            "get_model_info",
            "infer_pip_requirements",
            "set_signature",
            "update_model_requirements",
            "validate_schema",
            "validate_serving_input",
        )
    },
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
