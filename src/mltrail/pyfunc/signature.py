"""The signature a ``PythonModel`` is saved with, as MLflow 3.17 decides it.

1. A type-hinted ``predict`` (``list[str]``, ``list[MyPydanticModel]`` …) gives the
   signature; a ``signature=`` that disagrees is replaced (with a warning), as in MLflow.
2. ``predict(self, model_input: TypeFromExample)``: the input example gives it, and
   the model receives input in the example's form (``type_hint_from_example``).
3. Otherwise the given ``signature``, else the one inferred from the input example
   (the model is run on it to find the output schema).

A models-from-code file is run once to find its model, as MLflow does.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from mltrail.models.signature import ModelSignature, infer_signature_by_scoring
from mltrail.pyfunc.model import (
    PythonModel,
    PythonModelContext,
    _FunctionModel,
    _looks_like_python_model,
    add_code_folder,
    load_model_from_code,
)
from mltrail.types.type_hints import (
    TypeHints,
    context_in_predict,
    is_type_from_example,
    signature_from_type_hints,
)

_log = logging.getLogger(__name__)


def _model_object(python_model: Any, model_config: dict[str, Any] | None, code_dir: Path | None) -> Any:
    if isinstance(python_model, str | Path):
        if code_dir is not None:
            add_code_folder(code_dir)
        python_model = load_model_from_code(Path(python_model), model_config)
    if not isinstance(python_model, PythonModel) and not _looks_like_python_model(python_model):
        if callable(python_model):
            return _FunctionModel(python_model)
        return None
    return python_model


def _caller(model: Any, artifacts: dict[str, str] | None, model_config: dict[str, Any] | None):
    """``predict(example)`` on a model whose context is loaded once, on first call."""
    context = PythonModelContext(dict(artifacts or {}), model_config)
    loaded: list[bool] = []

    def call(example: Any) -> Any:
        if not loaded:
            model.load_context(context)
            loaded.append(True)
        if context_in_predict(model.predict):
            return model.predict(context, example)
        return model.predict(example)

    return call


def _example_allows_type_from_example(example: Any) -> bool:
    pd = sys.modules.get("pandas")
    return isinstance(example, list) or (pd is not None and isinstance(example, pd.DataFrame | pd.Series))


def signature_for_python_model(
    python_model: Any,
    signature: ModelSignature | None,
    input_example: Any,
    artifacts: dict[str, str] | None,
    model_config: dict[str, Any] | None,
    code_dir: Path | None = None,
) -> ModelSignature | None:
    """The signature to save (``None`` leaves it to the input example, as before)."""
    model = _model_object(python_model, model_config, code_dir)
    if model is None:
        return signature
    hints = getattr(model, "predict_type_hints", None)
    if getattr(model, "_skip_type_hint_validation", False):
        return signature  # agents and chat models (their own signatures) are not hint-validated
    if not isinstance(hints, tuple):
        hints = TypeHints()
    example = input_example[0] if _is_example_with_params(input_example) else input_example
    call = _caller(model, artifacts, model_config)
    if is_type_from_example(hints.input):
        if signature is None and example is not None:
            signature = infer_signature_by_scoring(example, call)
        if signature is not None:
            if example is not None and _example_allows_type_from_example(example):
                signature._is_type_hint_from_example = True
            else:
                _log.warning(
                    "Input example must be one of pandas.DataFrame, pandas.Series or list when using "
                    "TypeFromExample as type hint; got %s.",
                    type(example).__name__,
                )
        return signature
    from_hints = signature_from_type_hints(model.predict, hints, example, call)
    if from_hints is None:
        if signature is None and example is not None:
            return infer_signature_by_scoring(example, call)
        return signature
    if signature is not None and signature != from_hints:
        _log.warning(
            "Provided signature does not match the signature inferred from the Python model's `predict` "
            "function type hint. Signature inferred from type hint will be used:\n%s",
            from_hints,
        )
    return from_hints


def _is_example_with_params(example: Any) -> bool:
    """MLflow's ``(input, params)`` input-example tuple."""
    return isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict)
