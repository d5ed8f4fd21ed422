"""Signature enforcement: turn a ``predict`` input into what the schema promises, or fail clearly.

DataFrames, dicts, lists of records, lists of scalars and numpy arrays are all
accepted; the result is a DataFrame for column schemas and a numpy array for
tensor schemas. Errors are ``INVALID_PARAMETER_VALUE`` naming the column and
the types involved, so a serving client gets a useful 400.
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.schema_types import matches
from mltrail.models.signature import ColSpec, ParamSchema, Schema, TensorSpec


def _to_frame(data: Any, schema: Schema):
    import pandas as pd

    names = [c.name for c in schema.inputs]
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=names[0] if len(names) == 1 and data.name is None else data.name)
    if isinstance(data, dict):
        if all(isinstance(v, list | tuple) or hasattr(v, "tolist") for v in data.values()):
            try:
                return pd.DataFrame(
                    {k: list(v) if not hasattr(v, "tolist") else v.tolist() for k, v in data.items()}
                )
            except ValueError as err:
                raise invalid(f"Model input columns have different lengths: {err}") from None
        return pd.DataFrame([data])
    if isinstance(data, list | tuple):
        if data and all(isinstance(r, dict) for r in data):
            return pd.DataFrame.from_records(list(data))
        if len(names) == 1:
            return pd.DataFrame({names[0]: list(data)})
        return pd.DataFrame(list(data), columns=names)
    if type(data).__module__ == "numpy":
        import numpy as np

        arr = np.asarray(data)
        if arr.ndim == 1 and len(names) == 1:
            return pd.DataFrame({names[0]: arr})
        if arr.ndim == 2 and arr.shape[1] == len(names):
            return pd.DataFrame(arr, columns=names)
        raise invalid(
            f"A numpy array of shape {arr.shape} does not match the model's {len(names)} input columns"
        )
    if isinstance(data, str | int | float | bool) and len(names) == 1:
        return pd.DataFrame({names[0]: [data]})
    raise invalid(
        f"Unsupported model input of type {type(data).__name__}: "
        "use a pandas DataFrame, dict, list or numpy array"
    )


def _values_ok(series: Any, spec: ColSpec) -> bool:
    import pandas as pd

    values = series.dropna()
    if spec.type == "string":
        return all(isinstance(v, str) for v in values)
    if spec.type == "binary":
        return all(isinstance(v, bytes | bytearray | str) for v in values)
    if spec.type == "boolean":
        return pd.api.types.is_bool_dtype(series) or all(isinstance(v, bool) for v in values)
    if spec.type in ("integer", "long"):
        return pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if spec.type in ("float", "double"):
        return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if spec.type == "datetime":
        return pd.api.types.is_datetime64_any_dtype(series) or all(isinstance(v, str) for v in values)
    return True


_CASTS = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64"}


def _enforce_columns(data: Any, schema: Schema):
    import pandas as pd

    df = _to_frame(data, schema)
    if not schema.has_input_names():
        # Unnamed columns: match by position.
        if len(df.columns) < len([c for c in schema.inputs if c.required]):
            raise invalid(
                f"Model is missing inputs: expected {len(schema.inputs)} columns, got {len(df.columns)}"
            )
        return df
    columns = [str(c) for c in df.columns]
    missing = [n for n in schema.required_input_names() if n not in columns]
    if missing:
        extra = [c for c in columns if c not in schema.input_names()]
        msg = f"Model is missing inputs {missing}."
        if extra:
            msg += f" Note that there were extra inputs: {extra}."
        raise invalid(msg)
    out = {}
    for spec in schema.inputs:
        if spec.name not in columns:
            continue
        col = df[df.columns[columns.index(spec.name)]]
        if not _values_ok(col, spec):
            raise invalid(
                f"Incompatible input types for column {spec.name}. "
                f"Can not safely convert {col.dtype} to {spec.type}."
            )
        if spec.type in _CASTS and str(col.dtype) != _CASTS[spec.type]:
            col = col.astype(_CASTS[spec.type])
        elif spec.type == "datetime" and not pd.api.types.is_datetime64_any_dtype(col):
            col = pd.to_datetime(col)
        out[spec.name] = col
    # Columns the schema does not know are kept, as MLflow does.
    for c, name in zip(df.columns, columns, strict=True):
        if name not in out:
            out[name] = df[c]
    return pd.DataFrame(out, index=df.index)


def _enforce_tensor(data: Any, schema: Schema):
    import numpy as np

    spec: TensorSpec = schema.inputs[0]
    if isinstance(data, dict) and len(schema.inputs) > 1:
        return {s.name: _enforce_tensor(data.get(s.name), Schema([s])) for s in schema.inputs}
    if type(data).__name__ == "DataFrame":
        data = data.to_numpy()
    try:
        arr = np.asarray(data)
        if arr.dtype != np.dtype(spec.type):
            if np.can_cast(arr.dtype, np.dtype(spec.type), casting="same_kind") or arr.dtype == object:
                arr = arr.astype(spec.type)
            else:
                raise TypeError(f"{arr.dtype} -> {spec.type}")
    except (TypeError, ValueError) as err:
        raise invalid(
            f"Incompatible input types: can not convert input to a tensor of {spec.type} ({err})"
        ) from None
    shape = spec.shape
    if len(shape) != arr.ndim or any(s != -1 and s != a for s, a in zip(shape, arr.shape, strict=False)):
        raise invalid(f"Shape of input {arr.shape} does not match expected shape {tuple(shape)}.")
    return arr


def enforce_schema(data: Any, schema: Schema | None) -> Any:
    """Return ``data`` converted to the schema's form, or raise a clear error."""
    if schema is None or not schema.inputs:
        return data
    if schema.is_tensor_spec():
        return _enforce_tensor(data, schema)
    if (
        isinstance(data, dict)
        and schema.has_input_names()
        and any(not isinstance(c.type, str) for c in schema.inputs)
    ):
        return _enforce_request(data, schema)
    return _enforce_columns(data, schema)


def _enforce_request(data: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """A request dict against a schema with composite columns (an agent's, a chat model's): kept a dict.

    As in MLflow, a dict is one request, not a table: required fields must be there,
    scalar fields must have their type, and the dict goes to the model unchanged (the
    model's request class validates nested objects, whose extra fields it may allow).
    """
    missing = [n for n in schema.required_input_names() if data.get(n) is None]
    if missing:
        raise invalid(f"Model is missing inputs {missing}.")
    for spec in schema.inputs:
        value = data.get(spec.name)
        if value is None:
            continue
        kind = spec.type if isinstance(spec.type, str) else type(spec.type).__name__.lower()
        ok = matches(value, spec.type) if isinstance(spec.type, str) else _same_shape(value, kind)
        if not ok:
            raise invalid(f"Model input '{spec.name}' must be of type {kind}, got {type(value).__name__}")
    return data


def _same_shape(value: Any, kind: str) -> bool:
    if kind == "array":
        return isinstance(value, list | tuple) or hasattr(value, "tolist")
    if kind in ("map", "object"):
        return isinstance(value, dict)
    return True


def _convert_param(name: str, value: Any, dtype: str) -> Any:
    try:
        if dtype in ("integer", "long"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if dtype in ("float", "double"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if dtype == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if dtype == "string":
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise invalid(f"Invalid value {value!r} for param '{name}': expected type {dtype}") from None
    return value


def enforce_params(params: dict[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Fill defaults and convert types of inference params; unknown params are dropped with a warning."""
    if schema is None:
        return params
    if params is not None and not isinstance(params, dict):
        raise invalid(f"params must be a dict, got {type(params).__name__}")
    given = params or {}
    out: dict[str, Any] = {}
    known = set()
    for spec in schema.params:
        known.add(spec.name)
        if spec.name in given:
            value = given[spec.name]
            if spec.shape is not None:
                if not isinstance(value, list):
                    raise invalid(f"Invalid value {value!r} for param '{spec.name}': expected a list")
                out[spec.name] = [_convert_param(spec.name, v, spec.dtype) for v in value]
            else:
                out[spec.name] = _convert_param(spec.name, value, spec.dtype)
        else:
            out[spec.name] = spec.default
    unknown = [k for k in given if k not in known]
    if unknown:
        import warnings

        warnings.warn(
            f"Unrecognized params {unknown} are ignored: they are not in the model signature", stacklevel=3
        )
    return out
