"""Spark result types for ``spark_udf``: from a signature or a DDL string, and predictions shaped into them.

MLflow's rules: a scalar type takes the leftmost output column that fits, an
array type all of them (or one list per row), a struct its fields by name, a map
one dict per row. pyspark, pandas and numpy are imported inside the functions
(only Spark's workers and ``spark_udf`` call them).
"""

from __future__ import annotations

import logging
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.model import Model
from mltrail.models.schema_types import AnyType, Array, Map, Object
from mltrail.models.signature import ColSpec, Schema, TensorSpec

_logger = logging.getLogger("mltrail.pyfunc.spark")

# MLflow's column types as Spark type names (what a signature-derived result_type becomes).
_SIGNATURE_TO_SPARK = {
    "boolean": "BooleanType",
    "integer": "IntegerType",
    "long": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "string": "StringType",
    "binary": "BinaryType",
    "datetime": "TimestampType",
}
# numpy dtype names of the tensor outputs a signature may declare, as Spark type names.
_NUMPY_TO_SPARK = {
    "bool": "BooleanType",
    "int8": "IntegerType",
    "int16": "IntegerType",
    "int32": "IntegerType",
    "uint8": "IntegerType",
    "uint16": "IntegerType",
    "int64": "LongType",
    "uint32": "LongType",
    "float16": "FloatType",
    "float32": "FloatType",
    "float64": "DoubleType",
    "str": "StringType",
    "object": "StringType",
}
# The result types a caller may ask for (MLflow's list): these, arrays of them, structs and maps of them.
_PRIMITIVES = ("IntegerType", "LongType", "FloatType", "DoubleType", "StringType", "BooleanType")
_NUMPY_OF = {
    "IntegerType": "int32",
    "LongType": "int64",
    "FloatType": "float32",
    "DoubleType": "float64",
    "BooleanType": "bool",
}
_INT_RANGE = {"IntegerType": (-(2**31), 2**31 - 1), "LongType": (-(2**63), 2**63 - 1)}


# ---------------------------------------------------------------------------------------------- result types
def resolve_result_type(result_type: Any, meta: Model) -> Any:
    """The Spark ``DataType`` the UDF returns: the caller's (checked), else the signature's, else double."""
    from pyspark.sql import types as T

    if result_type is None:
        outputs = meta.get_output_schema()
        if outputs is None or not outputs.inputs:
            _logger.warning(
                "No 'result_type' provided for spark_udf and the model has no output schema: "
                "'result_type' is set to 'double'."
            )
            return T.DoubleType()
        return _schema_to_spark(outputs)
    if isinstance(result_type, str):
        result_type = _parse_type(result_type)
    if not isinstance(result_type, T.DataType):
        raise invalid(
            f"result_type must be a pyspark.sql.types.DataType or a DDL string, got {type(result_type).__name__}"
        )
    if not _allowed(result_type):
        raise invalid(
            f"Invalid 'spark_udf' result type: {result_type.simpleString()}. It must be one of: int, long, "
            "float, double, string, boolean; an array of those (or of arrays/structs of them); a struct whose "
            "fields are those; a map<string, those>."
        )
    return result_type


def _parse_type(text: str) -> Any:
    """A DDL type string (``"double"``, ``"array<int>"``, ``"a long, b string"``) as a Spark DataType."""
    from pyspark.sql import types as T

    cleaned = text.strip()
    if cleaned.lower() in ("bool", "boolean"):
        return T.BooleanType()
    from pyspark.sql.functions import udf

    try:
        # Spark's own parser (through the active session), the way pandas_udf itself reads the string.
        return udf(lambda x: x, returnType=cleaned).returnType
    except Exception as err:
        raise invalid(f"Invalid result_type {text!r}: {str(err).splitlines()[0]}") from None


def _allowed(dt: Any) -> bool:
    from pyspark.sql import types as T

    if type(dt).__name__ in _PRIMITIVES:
        return True
    if isinstance(dt, T.ArrayType):
        return _allowed(dt.elementType)
    if isinstance(dt, T.StructType):
        return bool(dt.fields) and all(_allowed(f.dataType) for f in dt.fields)
    if isinstance(dt, T.MapType):
        return isinstance(dt.keyType, T.StringType) and _allowed(dt.valueType)
    return False


def column_type_to_spark(dtype: Any) -> Any:
    """A signature column type as a Spark type: primitives by name, ``Array`` an array, ``Object`` a struct
    (every field nullable, as in MLflow), ``Map`` a ``map<string, …>``, ``AnyType`` a variant."""
    from pyspark.sql import types as T

    if isinstance(dtype, Array):
        return T.ArrayType(column_type_to_spark(dtype.dtype))
    if isinstance(dtype, Object):
        return T.StructType([T.StructField(p.name, column_type_to_spark(p.dtype)) for p in dtype.properties])
    if isinstance(dtype, Map):
        return T.MapType(T.StringType(), column_type_to_spark(dtype.value_type))
    if isinstance(dtype, AnyType):
        if not hasattr(T, "VariantType"):
            raise invalid("An AnyType output needs pyspark 4 (VariantType): pass result_type instead")
        return T.VariantType()
    return getattr(T, _SIGNATURE_TO_SPARK[str(dtype)])()


def _spec_to_spark(spec: ColSpec | TensorSpec) -> Any:
    from pyspark.sql import types as T

    if isinstance(spec, ColSpec):
        return column_type_to_spark(spec.type)
    name = _NUMPY_TO_SPARK.get(str(spec.type).lstrip("<>=|"))
    if name is None:
        raise invalid(f"Model output tensor spec type {spec.type} is not supported in spark_udf.")
    elem = getattr(T, name)()
    if len(spec.shape) == 1:
        return T.ArrayType(elem)
    if len(spec.shape) == 2:
        return T.ArrayType(T.ArrayType(elem))
    raise invalid(
        "Only 1D or 2D tensors are supported as spark_udf return value, but model output "
        f"'{spec.name}' has shape {tuple(spec.shape)}."
    )


def _schema_to_spark(schema: Schema) -> Any:
    from pyspark.sql import types as T

    if len(schema.inputs) == 1:
        return _spec_to_spark(schema.inputs[0])
    return T.StructType(
        [T.StructField(str(spec.name) if spec.name is not None else str(i), _spec_to_spark(spec))
         for i, spec in enumerate(schema.inputs)]
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- predictions
def to_spark_values(result: Any, spark_type: Any, rows: int) -> Any:
    """Shape ``predict``'s output into a pandas Series (or a DataFrame for a struct) of ``spark_type``."""
    import pandas as pd
    from pyspark.sql import types as T

    if isinstance(spark_type, T.StructType):
        return _struct_frame(result, spark_type)
    if isinstance(spark_type, T.MapType) or _is_variant(spark_type):
        return pd.Series([_value(v, spark_type) for v in _rows_of(result)], dtype=object)
    if isinstance(spark_type, T.ArrayType) and _per_row_sequences(result):
        return pd.Series([_value(v, spark_type) for v in _rows_of(result)], dtype=object)
    frame = _as_frame(result)
    elem = spark_type.elementType if isinstance(spark_type, T.ArrayType) else spark_type
    if isinstance(elem, T.ArrayType | T.StructType | T.MapType):
        return pd.Series([_value(v, spark_type) for v in _rows_of(result)], dtype=object)
    cols = [c for c in frame.columns if _fits(frame[c], elem)]
    if not cols:
        raise invalid(
            f"The model did not produce any values compatible with the requested type '{elem.simpleString()}' "
            f"(its output columns: {[str(frame[c].dtype) for c in frame.columns]}). "
            "Consider requesting udf with StringType or ArrayType(StringType)."
        )
    if isinstance(spark_type, T.ArrayType):
        converted = [_column(frame[c], elem) for c in cols]
        matrix = pd.concat(converted, axis=1).to_numpy() if len(converted) > 1 else None
        if matrix is None:
            return pd.Series([[v] for v in converted[0].tolist()], dtype=object)
        return pd.Series(list(matrix), dtype=object)
    return _column(frame[cols[0]], elem).reset_index(drop=True)


def _per_row_sequences(result: Any) -> bool:
    """True when ``result`` is one list-like value per row (e.g. a list of token lists)."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame) and len(result.columns) == 1:
        result = result.iloc[:, 0]  # one column holding a list per row
    if isinstance(result, pd.Series) or (isinstance(result, np.ndarray) and result.ndim == 1):
        first = result.iloc[0] if isinstance(result, pd.Series) and len(result) else None
        if isinstance(result, np.ndarray):
            first = result[0] if len(result) else None
        return isinstance(first, list | tuple | np.ndarray)
    if isinstance(result, list) and result:
        return isinstance(result[0], list | tuple | np.ndarray)
    return False


def _rows_of(result: Any) -> list[Any]:
    """One Python value per row, from any output form."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        if len(result.columns) == 1:
            return result.iloc[:, 0].tolist()
        return result.to_numpy().tolist()
    if isinstance(result, pd.Series | np.ndarray):
        return list(result)
    if isinstance(result, dict):
        return _as_frame(result).to_dict("records")
    if isinstance(result, list | tuple):
        return list(result)
    return [result]


def _as_frame(result: Any) -> Any:
    """Any predict output as a DataFrame whose columns are the candidate outputs."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, pd.Series):
        return result.to_frame()
    if isinstance(result, dict):
        return pd.DataFrame({k: [v] if np.isscalar(v) else list(v) for k, v in result.items()})
    if isinstance(result, np.ndarray):
        if result.ndim == 0:
            return pd.DataFrame({0: [result.item()]})
        if result.ndim == 1:
            return pd.DataFrame({0: result})
        return pd.DataFrame(result.reshape(len(result), -1))
    if isinstance(result, list | tuple):
        if result and all(isinstance(r, dict) for r in result):
            return pd.DataFrame.from_records(list(result))
        return pd.DataFrame(list(result))
    if np.isscalar(result) or result is None:
        return pd.DataFrame({0: [result]})
    # Anything else that pandas understands (pyarrow tables, Polars-like objects with __array__).
    return pd.DataFrame(result)


def _fits(col: Any, elem: Any) -> bool:
    """Whether a predictions column can become ``elem`` (MLflow's rule, and in-range integers)."""
    from pandas.api import types as pt

    name = type(elem).__name__
    if name == "StringType":
        return True
    is_bool = pt.is_bool_dtype(col.dtype)
    if name == "BooleanType":
        # bool dtype, or booleans with missing values (an object column of True/False/None)
        return is_bool or (col.dtype == object and all(isinstance(v, bool) for v in col.dropna().tolist()))
    if is_bool or not pt.is_numeric_dtype(col.dtype):
        return False
    if name in _INT_RANGE:
        if not pt.is_integer_dtype(col.dtype):
            return False
        low, high = _INT_RANGE[name]
        values = col.dropna()
        return values.empty or (int(values.min()) >= low and int(values.max()) <= high)
    return name in ("FloatType", "DoubleType")


def _column(col: Any, elem: Any) -> Any:
    """One predictions column as values of the primitive Spark type ``elem`` (nulls kept null)."""
    import numpy as np
    import pandas as pd

    name = type(elem).__name__
    if name == "StringType":
        values = [None if _is_null(v) else v if isinstance(v, str) else str(v) for v in col.tolist()]
        return pd.Series(values, index=col.index, dtype=object)
    if name == "BinaryType":
        return col.map(lambda v: None if _is_null(v) else bytes(v) if not isinstance(v, str) else v.encode())
    if name == "TimestampType":
        return pd.to_datetime(col)
    target = _NUMPY_OF[name]
    if col.isna().any() and name in ("IntegerType", "LongType", "BooleanType"):
        return col.astype({"IntegerType": "Int32", "LongType": "Int64", "BooleanType": "boolean"}[name])
    return col.astype(np.dtype(target))


def _is_variant(dt: Any) -> bool:
    return type(dt).__name__ == "VariantType"


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _struct_frame(result: Any, spark_type: Any) -> Any:
    import pandas as pd

    frame = _as_frame(result)
    names = [str(c) for c in frame.columns]
    out = {}
    for i, fld in enumerate(spark_type.fields):
        if fld.name in names:
            col = frame[frame.columns[names.index(fld.name)]]
        elif names == [str(n) for n in range(len(names))] and i < len(names):
            col = frame.iloc[:, i]  # unnamed outputs (a 2-D array): fields by position
        else:
            raise invalid(
                f"The model's output has no field '{fld.name}' for the struct result type "
                f"{spark_type.simpleString()} (output columns: {names})"
            )
        out[fld.name] = _field_values(col.reset_index(drop=True), fld.dataType)
    return pd.DataFrame(out)


def _field_values(col: Any, dt: Any) -> Any:
    import pandas as pd

    if type(dt).__name__ in (*_PRIMITIVES, "BinaryType", "TimestampType"):
        if not _fits(col, dt) and type(dt).__name__ not in ("BinaryType", "TimestampType"):
            raise invalid(f"Output column '{col.name}' of type {col.dtype} does not fit {dt.simpleString()}")
        return _column(col, dt)
    return pd.Series([_value(v, dt) for v in col.tolist()], dtype=object)


def _value(v: Any, dt: Any) -> Any:
    """One Python value as ``dt`` (nested arrays, structs, maps: the slow, general path)."""
    import numpy as np
    from pyspark.sql import types as T

    if _is_null(v) or v is None:
        return None
    if _is_variant(dt):  # an AnyType output: any JSON value
        import json

        return T.VariantVal.parseJson(
            json.dumps(v, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
        )
    if isinstance(dt, T.ArrayType):
        if isinstance(v, np.ndarray) and type(dt.elementType).__name__ in _NUMPY_OF:
            return v.astype(_NUMPY_OF[type(dt.elementType).__name__])
        if np.isscalar(v):
            v = [v]
        return [_value(x, dt.elementType) for x in v]
    if isinstance(dt, T.StructType):
        if hasattr(v, "model_dump"):  # pydantic outputs (MLflow's ChatModel responses)
            v = v.model_dump()
        if not isinstance(v, dict):
            raise invalid(f"A {dt.simpleString()} result needs a dict per row, got {type(v).__name__}")
        return {f.name: _value(v.get(f.name), f.dataType) for f in dt.fields}
    if isinstance(dt, T.MapType):
        if not isinstance(v, dict):
            raise invalid(f"A {dt.simpleString()} result needs a dict per row, got {type(v).__name__}")
        return {str(k): _value(x, dt.valueType) for k, x in v.items()}
    name = type(dt).__name__
    if isinstance(v, np.generic):
        v = v.item()
    if name == "StringType":
        return v if isinstance(v, str) else str(v)
    if name in ("IntegerType", "LongType"):
        return int(v)
    if name in ("FloatType", "DoubleType"):
        return float(v)
    if name == "BooleanType":
        return bool(v)
    return v
