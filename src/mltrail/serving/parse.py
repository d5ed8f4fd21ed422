"""``/invocations`` request bodies -> model input, and predictions -> JSON.

MLflow's scoring protocol: a JSON object with exactly one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (plus
optional ``params``), or a CSV body (``Content-Type: text/csv``). Every
malformed body is a :class:`ServingError` with a message saying what was wrong.
"""

from __future__ import annotations

from typing import Any

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class ServingError(Exception):
    """A request the server refuses, with the HTTP status and MLflow error code to answer with."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


def _frame_split(value: Any):
    import pandas as pd

    if isinstance(value, str):
        raise ServingError("dataframe_split must be a JSON object with 'columns' and 'data', not a string")
    if not isinstance(value, dict) or "data" not in value:
        raise ServingError(
            "dataframe_split must be a JSON object with 'data' (and usually 'columns', 'index')"
        )
    unknown = set(value) - {"columns", "data", "index"}
    if unknown:
        raise ServingError(
            f"dataframe_split has unexpected keys {sorted(unknown)}: use columns, data and index"
        )
    try:
        return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
    except (ValueError, TypeError) as err:
        raise ServingError(f"Could not build a DataFrame from dataframe_split: {err}") from None


def _frame_records(value: Any):
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ServingError("dataframe_records must be a list of JSON objects (one per row)")
    return pd.DataFrame.from_records(value)


def _tensor_like(value: Any, key: str, column_schema: bool):
    """``instances``/``inputs``: lists become numpy arrays, objects dicts of arrays (or a DataFrame)."""
    import numpy as np

    if column_schema:
        import pandas as pd

        try:
            if isinstance(value, dict):
                return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
            if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
                return pd.DataFrame.from_records(value)
        except (ValueError, TypeError) as err:
            raise ServingError(f"Could not build a DataFrame from '{key}': {err}") from None
        return value
    if isinstance(value, dict):
        return {k: np.asarray(v) if isinstance(v, list) else v for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(r, dict) for r in value):
            # instances as a list of named rows -> dict of columns (TF-serving "row" format)
            cols: dict[str, list[Any]] = {}
            for row in value:
                for k, v in row.items():
                    cols.setdefault(k, []).append(v)
            return {k: np.asarray(v) for k, v in cols.items()}
        try:
            arr = np.asarray(value)
        except ValueError:
            return value  # ragged: let the model decide
        return arr if arr.dtype != object else value
    return value


def parse_json_body(body: Any, column_schema: bool) -> tuple[Any, dict[str, Any] | None]:
    """``(model_input, params)`` from a decoded JSON body."""
    if not isinstance(body, dict):
        raise ServingError(
            "Invalid input: the request body must be a JSON object with one of the keys "
            f"{', '.join(INPUT_KEYS)}"
        )
    present = [k for k in INPUT_KEYS if k in body]
    if len(present) != 1:
        unknown = sorted(set(body) - set(INPUT_KEYS) - {"params"})
        detail = f" (got {', '.join(present)})" if present else (f" (got keys {unknown})" if unknown else "")
        raise ServingError(
            "Invalid input. The input must contain exactly one of the following keys: "
            f"{', '.join(INPUT_KEYS)}{detail}"
        )
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise ServingError("'params' must be a JSON object")
    key = present[0]
    value = body[key]
    if key == "dataframe_split":
        return _frame_split(value), params
    if key == "dataframe_records":
        return _frame_records(value), params
    return _tensor_like(value, key, column_schema), params


def parse_csv_body(data: bytes):
    import io

    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as err:
        raise ServingError(f"Could not parse the CSV body: {err}") from None


def to_jsonable(result: Any) -> Any:
    """Predictions as plain JSON values (DataFrames become records, arrays lists)."""
    mod = type(result).__module__
    if mod.startswith("pandas"):
        name = type(result).__name__
        if name == "DataFrame":
            return result.to_dict(orient="records")
        if name == "Series":
            return result.tolist()
    if hasattr(result, "tolist") and mod == "numpy":
        return result.tolist()
    if isinstance(result, dict):
        return {str(k): to_jsonable(v) for k, v in result.items()}
    if isinstance(result, list | tuple):
        return (
            [to_jsonable(v) for v in result]
            if any(hasattr(v, "tolist") or isinstance(v, dict | list) for v in result)
            else list(result)
        )
    if hasattr(result, "item") and mod == "numpy":
        return result.item()
    return result
