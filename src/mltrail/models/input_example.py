"""Input examples saved next to a model, in MLflow's file layout.

``input_example.json`` holds the example (a DataFrame in pandas "split" orient
without the index, a numpy array as nested lists, anything else as plain
JSON) and ``serving_input_example.json`` the same example as a ready-to-POST
``/invocations`` body. MLmodel's ``saved_input_example_info`` says which.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

EXAMPLE_FILE = "input_example.json"
SERVING_FILE = "serving_input_example.json"


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays become plain Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


def save_input_example(model_dir: Path, example: Any) -> dict[str, Any]:
    """Write ``example`` into ``model_dir``; return MLmodel's ``saved_input_example_info``."""
    mod = type(example).__module__
    if mod.startswith("pandas") and type(example).__name__ == "Series":
        example = example.to_frame()
    if mod.startswith("pandas") and type(example).__name__ == "DataFrame":
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        body = {"columns": split["columns"], "data": split["data"]}
        info = {"type": "dataframe", "pandas_orient": "split"}
        serving = {"dataframe_split": body}
    elif mod == "numpy" and type(example).__name__ == "ndarray":
        body = _jsonable(example)
        info = {"type": "ndarray"}
        serving = {"inputs": body}
    elif isinstance(example, dict | list | str | int | float | bool):
        body = _jsonable(example)
        info = {"type": "json_object"}
        serving = {"inputs": body}
    else:
        raise invalid(
            f"Unsupported input example of type {type(example).__name__}: "
            "use a pandas DataFrame, numpy array, dict, list or scalar"
        )
    (model_dir / EXAMPLE_FILE).write_text(json.dumps(body), encoding="utf-8")
    (model_dir / SERVING_FILE).write_text(json.dumps(serving, indent=2), encoding="utf-8")
    return {"artifact_path": EXAMPLE_FILE, "serving_input_path": SERVING_FILE, **info}


def read_input_example(model_dir: Path, info: dict[str, Any] | None) -> Any:
    """The example saved by :func:`save_input_example` (or by mlflow), or ``None``."""
    if not info:
        return None
    path = model_dir / info.get("artifact_path", EXAMPLE_FILE)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if isinstance(data, dict) and "columns" in data:
            return pd.DataFrame(data["data"], columns=data["columns"])
        return pd.DataFrame(data)
    if kind == "ndarray":
        import numpy as np

        if isinstance(data, dict) and "inputs" in data:
            data = data["inputs"]
        return np.array(data)
    return data
