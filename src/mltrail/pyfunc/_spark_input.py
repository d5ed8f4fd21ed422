"""The model's input from a ``spark_udf`` batch: columns bound by the signature's names (MLflow's rules).

pandas and numpy are imported inside the functions: the Spark workers and the
scoring process in a model's environment (``spark_env``) are the only callers.
Spark hands a pandas UDF array columns as Series of numpy arrays, map columns as
Series of dicts and a struct argument as a DataFrame; a struct that is one of
several arguments becomes a column of dicts (an ``Object`` column of the signature).
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.signature import Schema, TensorSpec


def bind_columns(args: tuple[Any, ...], schema: Schema | None) -> Any:
    """The input DataFrame from the UDF's argument batches, named by the signature (MLflow's binding)."""
    import pandas as pd

    if len(args) == 1 and isinstance(args[0], pd.DataFrame):
        frame = args[0]  # udf(struct(...)): the struct's field names are the columns
    else:
        if schema is None:
            names: list[Any] = [str(i) for i in range(len(args))]
        else:
            names = schema.input_names()
            required = schema.required_input_names()
            args = args[: len(names)]
            if len(args) < len(required):
                raise invalid(
                    f"Model input is missing required columns. Expected {len(names)} required input columns "
                    f"{names}, but the model received only {len(args)} unnamed input columns (Since the "
                    "columns were passed unnamed they are expected to be in the order specified by the schema)."
                )
        data = {
            names[i]: arg
            if isinstance(arg, pd.Series)
            else pd.Series(arg.to_dict("records"), index=arg.index)
            for i, arg in enumerate(args)
        }
        frame = pd.DataFrame(data, columns=names[: len(args)])
    return frame


def model_input(frame: Any, schema: Schema | None) -> Any:
    """What ``predict`` gets: the frame, or its array columns stacked into tensors for a tensor signature."""
    if schema is not None and schema.is_tensor_spec():
        return _tensor_input(frame, schema)
    return frame


def input_frame(args: tuple[Any, ...], schema: Schema | None) -> Any:
    """The model's input from the UDF's argument batches: :func:`bind_columns`, then :func:`model_input`."""
    return model_input(bind_columns(args, schema), schema)


def _tensor_input(frame: Any, schema: Schema) -> Any:
    """Array columns stacked into the tensors a tensor signature expects (C order, the spec's dtype)."""
    import numpy as np

    def stack(col: Any, spec: TensorSpec) -> Any:
        values = col.to_numpy()
        if values.dtype == object:
            values = np.stack([np.asarray(v) for v in values])
        shape = [len(values), *[-1 if s == -1 else s for s in spec.shape[1:]]]
        return values.astype(spec.type).reshape(shape)

    specs = schema.inputs
    if len(specs) == 1:
        return stack(frame.iloc[:, 0], specs[0])
    return {str(s.name): stack(frame[frame.columns[i]], s) for i, s in enumerate(specs)}
