"""``PyFuncModel``: the loaded, callable model every flavor turns into."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException
from mltrail.models.model import Model
from mltrail.pyfunc.enforce import enforce_params, enforce_schema
from mltrail.types.type_hints import convert_to_example_format

_UNREAD = object()  # the input example is read from the model directory on first use


class PyFuncModel:
    """A loaded model: ``predict`` checks input against the signature, then calls the flavor.

    Example::

        model = mltrail.pyfunc.load_model("models:/MyLLMApp/1")
        model.predict({"prompt": ["Explain MLflow"]})
    """

    def __init__(self, model_meta: Model, model_impl: Any, model_path: str | None = None) -> None:
        self._model_meta = model_meta
        self._model_impl = model_impl
        self._model_path = model_path
        sig = model_meta.signature
        self._input_schema = sig.inputs if sig is not None else None
        self._params_schema = sig.params if sig is not None else None
        self._input_example: Any = _UNREAD

    @property
    def metadata(self) -> Model:
        """The model's MLmodel manifest."""
        return self._model_meta

    @property
    def model_id(self) -> str | None:
        return self._model_meta.model_id

    @property
    def loader_module(self) -> str | None:
        return self._model_meta.flavors.get("python_function", {}).get("loader_module")

    @property
    def input_example(self) -> Any:
        """The input example saved with the model (``None`` if there is none)."""
        if self._input_example is _UNREAD:
            self._input_example = None
            if self._model_path is not None and self._model_meta.saved_input_example_info:
                try:
                    self._input_example = self._model_meta.load_input_example(self._model_path)
                except Exception:  # an unreadable example only loses the TypeFromExample conversion
                    self._input_example = None
        return self._input_example

    @input_example.setter
    def input_example(self, value: Any) -> None:
        self._input_example = value

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Score ``data`` (DataFrame, dict, list or numpy array); ``params`` as the signature allows.

        A signature that came from ``predict``'s type hints is not enforced here: the
        model's own ``predict`` validates and converts its input against the hint, and
        lists and dicts reach it unchanged (MLflow 3's behaviour).
        """
        if self._model_meta._is_signature_from_type_hint():
            params = enforce_params(params, self._params_schema)
        else:
            data = enforce_schema(data, self._input_schema)
            params = enforce_params(params, self._params_schema)
            if self._model_meta._is_type_hint_from_example():
                data = convert_to_example_format(data, self.input_example)
        impl_predict = self._model_impl.predict
        if params is None:
            return impl_predict(data)
        try:
            return impl_predict(data, params=params)
        except TypeError as err:
            if "params" not in str(err):
                raise
            return impl_predict(data)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Stream predictions (an agent's events, a chat model's chunks) for one request.

        Example::

            for event in model.predict_stream({"input": [{"role": "user", "content": "Hi"}]}):
                print(event)
        """
        stream = getattr(self._model_impl, "predict_stream", None)
        if stream is None or not self._model_meta.flavors.get("python_function", {}).get("streamable", True):
            raise MltrailException(
                "This model does not support predict_stream method.", error_code=INVALID_PARAMETER_VALUE
            )
        data = enforce_schema(data, self._input_schema)
        params = enforce_params(params, self._params_schema)
        return iter(stream(data, params=params))

    def unwrap_python_model(self) -> Any:
        """The user's ``PythonModel`` instance behind this wrapper."""
        unwrap = getattr(self._model_impl, "unwrap_python_model", None)
        if unwrap is None:
            raise ValueError("This model is not a PythonModel-based pyfunc model")
        return unwrap()

    def get_raw_model(self) -> Any:
        raw = getattr(self._model_impl, "get_raw_model", None)
        return raw() if raw else getattr(self._model_impl, "python_model", self._model_impl)

    def __repr__(self) -> str:
        parts = [f"flavors={list(self._model_meta.flavors)}"]
        if self._model_meta.run_id:
            parts.append(f"run_id={self._model_meta.run_id}")
        return f"PyFuncModel({', '.join(parts)})"
