"""Model signatures: what a model takes and returns, in MLflow's exact JSON shape.

A :class:`Schema` is a list of :class:`ColSpec` (named, typed columns) or of
:class:`TensorSpec` (numpy dtype + shape). A :class:`ModelSignature` holds an
input schema, an optional output schema and an optional :class:`ParamSchema`.
MLmodel files store each as a JSON string, exactly like MLflow, so models move
between mlflow and mltrail unchanged.

Example::

    sig = infer_signature(pd.DataFrame({"prompt": ["hi"]}), ["answer"])
    sig.to_dict()  # {"inputs": '[{"type": "string", "name": "prompt", "required": true}]', ...}
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any

from mltrail.exceptions import MltrailException, invalid
from mltrail.models.schema_types import (
    AnyType,
    Array,
    ColumnType,
    Map,
    Object,
    dtype_from_dict,
    dtype_to_dict,
)

# MLflow's DataType names, and the numpy dtype each maps to.
DATA_TYPES: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


class DataType:
    """MLflow's column types, spelled as in MLmodel files."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"


def _check_type(type_: str) -> str:
    name = getattr(type_, "name", type_)
    if name not in DATA_TYPES:
        raise invalid(f"Unsupported data type {type_!r}: use one of {', '.join(DATA_TYPES)}")
    return name


@dataclass
class ColSpec:
    """A named (or unnamed) column of one :class:`DataType`, or of a composite type.

    Composite types (:class:`~mltrail.models.schema_types.Array`, ``Map``, ``Object``,
    ``AnyType``) are what MLflow infers from type hints such as ``list[list[str]]``.
    """

    type: ColumnType
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.type, Array | Map | Object | AnyType):
            self.type = _check_type(self.type)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dtype_to_dict(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColSpec:
        return cls(type=dtype_from_dict(d), name=d.get("name"), required=d.get("required", True))


@dataclass
class TensorSpec:
    """A tensor input: a numpy dtype and a shape where -1 means any size."""

    type: Any  # numpy dtype or its name; kept as a string name for portability
    shape: tuple[int, ...] | list[int]
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        self.type = str(getattr(self.type, "name", self.type))
        self.shape = tuple(int(s) for s in self.shape)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "tensor", "tensor-spec": {"dtype": self.type, "shape": list(self.shape)}}
        if self.name is not None:
            d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        spec = d["tensor-spec"]
        return cls(type=spec["dtype"], shape=spec["shape"], name=d.get("name"))


class Schema:
    """An ordered list of column or tensor specs (not both)."""

    def __init__(self, inputs: list[ColSpec | TensorSpec]) -> None:
        self.inputs = list(inputs)
        kinds = {isinstance(i, TensorSpec) for i in self.inputs}
        if len(kinds) > 1:
            raise invalid("A schema mixes column and tensor specs: use one kind")
        named = {i.name is not None for i in self.inputs}
        if len(named) > 1:
            raise invalid("A schema must name all of its inputs or none of them")

    def __iter__(self):
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Schema({self.to_dict()!r})"

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        return [i.name if i.name is not None else n for n, i in enumerate(self.inputs)]

    def required_input_names(self) -> list[str]:
        return [i.name for i in self.inputs if i.name is not None and i.required]

    def to_dict(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Schema:
        items = json.loads(text)
        return cls(
            [TensorSpec.from_dict(d) if d.get("type") == "tensor" else ColSpec.from_dict(d) for d in items]
        )


@dataclass
class ParamSpec:
    """An inference parameter with a type and a default (``params`` of ``predict``)."""

    name: str
    dtype: str
    default: Any
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.dtype = _check_type(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        default = self.default.isoformat() if isinstance(self.default, _dt.datetime) else self.default
        # Key order as mlflow writes it, so MLmodel files are byte-identical.
        return {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.dtype,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParamSpec:
        shape = d.get("shape")
        return cls(d["name"], d["type"], d.get("default"), tuple(shape) if shape is not None else None)


class ParamSchema:
    """The parameters a model's ``predict`` accepts."""

    def __init__(self, params: list[ParamSpec]) -> None:
        self.params = list(params)

    def __iter__(self):
        return iter(self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.to_dict() == other.to_dict()

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        return cls([ParamSpec.from_dict(d) for d in json.loads(text)])


class ModelSignature:
    """Inputs, outputs and params of a model, stored in MLmodel as JSON strings."""

    def __init__(
        self, inputs: Schema | None = None, outputs: Schema | None = None, params: ParamSchema | None = None
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.params = params
        # Written to MLmodel as is_signature_from_type_hint / type_hint_from_example (MLflow 3).
        self._is_signature_from_type_hint = False
        self._is_type_hint_from_example = False

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSignature:
        return cls(
            Schema.from_json(d["inputs"]) if d.get("inputs") else None,
            Schema.from_json(d["outputs"]) if d.get("outputs") else None,
            ParamSchema.from_json(d["params"]) if d.get("params") else None,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSignature) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ModelSignature({self.to_dict()!r})"


# ------------------------------------------------------------------ inference


def _python_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "binary"
    if isinstance(value, _dt.datetime):
        return "datetime"
    raise invalid(f"Cannot infer a signature type for a value of type {type(value).__name__}")


def _dtype_type(dtype: Any, sample: Any = None) -> str:
    kind = getattr(dtype, "kind", None)
    name = str(dtype)
    if kind == "b":
        return "boolean"
    if kind in ("i", "u"):
        return "long" if getattr(dtype, "itemsize", 8) >= 8 else "integer"
    if kind == "f":
        return "float" if getattr(dtype, "itemsize", 8) <= 4 else "double"
    if kind == "M":
        return "datetime"
    if kind == "S":
        return "binary"
    if kind in ("U", "O") or name in ("string", "str"):
        if sample is not None and not isinstance(sample, str):
            return _python_type(sample)
        return "string"
    raise invalid(f"Cannot infer a signature type for dtype {name}")


def _schema_of(data: Any) -> Schema:
    """The schema of one example (input or output)."""
    mod = type(data).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return Schema(
                [
                    ColSpec(_dtype_type(data[c].dtype, data[c].iloc[0] if len(data) else None), str(c))
                    for c in data.columns
                ]
            )
        if isinstance(data, pd.Series):
            return Schema(
                [
                    ColSpec(
                        _dtype_type(data.dtype, data.iloc[0] if len(data) else None),
                        str(data.name) if data.name is not None else None,
                    )
                ]
            )
    if mod == "numpy":
        import numpy as np

        if isinstance(data, np.ndarray):
            return Schema([TensorSpec(data.dtype, (-1, *data.shape[1:]))])
        return Schema([ColSpec(_python_type(data.item()))])
    if isinstance(data, dict):
        cols = []
        for key, value in data.items():
            if isinstance(value, list | tuple) and value:
                value = value[0]
            elif type(value).__module__ == "numpy" and hasattr(value, "dtype"):
                cols.append(
                    ColSpec(_dtype_type(value.dtype, value.flat[0] if value.size else None), str(key))
                )
                continue
            cols.append(ColSpec(_python_type(value), str(key)))
        return Schema(cols)
    if isinstance(data, list | tuple):
        if not data:
            raise invalid("Cannot infer a signature from an empty list")
        first = data[0]
        if isinstance(first, dict):
            names: dict[str, str] = {}
            for row in data:
                for key, value in row.items():
                    names.setdefault(str(key), _python_type(value))
            return Schema([ColSpec(t, k, all(k in r for r in data)) for k, t in names.items()])
        return Schema([ColSpec(_python_type(first))])
    return Schema([ColSpec(_python_type(data))])


def infer_signature(
    model_input: Any = None, model_output: Any = None, params: dict[str, Any] | None = None
) -> ModelSignature:
    """Infer a :class:`ModelSignature` from an example input, output and params.

    Example::

        infer_signature(pd.DataFrame({"x": [1.0]}), np.array([0]), {"temperature": 0.7})
    """
    inputs = _schema_of(model_input) if model_input is not None else None
    outputs = _schema_of(model_output) if model_output is not None else None
    param_schema = None
    if params:
        specs = []
        for name, value in params.items():
            if isinstance(value, list | tuple):
                specs.append(
                    ParamSpec(name, _python_type(value[0]) if value else "string", list(value), (-1,))
                )
            else:
                specs.append(ParamSpec(name, _python_type(value), value))
        param_schema = ParamSchema(specs)
    return ModelSignature(inputs, outputs, param_schema)


def infer_signature_by_scoring(model_input: Any, predict: Any) -> ModelSignature | None:
    """MLflow infers a saved model's output schema by scoring its input example; so do the flavors.

    ``predict`` is called on ``model_input``; a model that cannot score it (or an output
    with no schema) gives ``None``, and the model is saved without a signature.
    """
    try:
        return infer_signature(model_input, predict(model_input))
    except (MltrailException, ValueError, TypeError):
        return None
