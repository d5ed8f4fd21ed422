"""Turn every data form ``genai.evaluate`` accepts into one pandas DataFrame, then into rows.

Accepted, as in MLflow 3.17: a list of dicts, a list of :class:`Trace`, a pandas
DataFrame (including the one ``search_traces`` returns, whose ``trace`` column
holds trace JSON), or an evaluation dataset (anything with ``to_df()``, or a
``records`` attribute holding dicts). Columns: ``inputs`` (a dict of keyword
arguments), ``outputs``, ``expectations`` (a dict of name -> ground truth),
``trace``, ``tags`` and ``request_id``. From a trace, missing ``inputs`` /
``outputs`` come from its root span and missing ``expectations`` from its
expectation assessments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.trace import Trace
from mltrail.exceptions import invalid

_log = logging.getLogger(__name__)
#: ``DataFrame.attrs`` key naming the evaluation dataset a frame came from (its name and digest).
DATASET_IDENTITY = "mltrail.dataset_identity"


def is_none_or_nan(value: Any) -> bool:
    """``None`` or a float NaN (what pandas puts in a missing cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _to_df(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, list):
        if data and all(isinstance(item, Trace) for item in data):
            from mltrail.tracing._dataframe import traces_to_dataframe

            return traces_to_dataframe(data)
        for item in data:
            if not isinstance(item, dict):
                raise invalid("Every item in the list must be a dictionary.")
        return pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        return data.copy()
    # mltrail.genai.datasets.EvaluationDataset
    if callable(getattr(data, "to_df", None)) and hasattr(data, "dataset_id"):
        df = data.to_df()  # its record columns; ids, sources and times are not evaluation data
        keep = [c for c in ("outputs", "expectations", "tags") if c in df.columns and df[c].notna().any()]
        out = df[["inputs", *keep]].copy()
        out.attrs[DATASET_IDENTITY] = {"name": data.name, "digest": data.digest}  # the run's input dataset
        return out
    if callable(getattr(data, "to_df", None)):  # an evaluation dataset (MLflow's managed datasets)
        return data.to_df()
    records = getattr(data, "records", None)
    if isinstance(records, list):
        return pd.DataFrame([r if isinstance(r, dict) else r.to_dict() for r in records])
    raise invalid("Invalid type for parameter `data`. Expected a list of dictionaries, "
                  f"a pandas DataFrame, or a Spark DataFrame. Got: {type(data)}")


def _trace_of(value: Any) -> Any:
    if isinstance(value, str):
        return Trace.from_json(value)
    if isinstance(value, dict):
        return Trace.from_dict(value)
    return value


def _root_field(trace: Trace, name: str) -> Any:
    root = trace.data.root
    return getattr(root, name, None) if root is not None else None


def to_eval_df(data: Any) -> Any:
    """``data`` as MLflow's standard evaluation DataFrame (``INVALID_PARAMETER_VALUE`` for bad data)."""
    df = _to_df(data)
    if len(df) == 0:
        raise invalid("The dataset is empty. Please provide a non-empty dataset.")
    if not any(col in df.columns for col in ("trace", "inputs")):
        raise invalid("Either `inputs` or `trace` column is required in the dataset. Please provide inputs "
                      "for every datapoint or provide a trace.")
    if "trace" in df.columns:
        df["trace"] = df["trace"].apply(_trace_of)
        if "inputs" not in df.columns:
            df["inputs"] = df["trace"].apply(lambda t: _root_field(t, "inputs"))
        if "outputs" not in df.columns:
            df["outputs"] = df["trace"].apply(lambda t: _root_field(t, "outputs"))
        if "expectations" not in df.columns:
            found = [{a.name: a.value for a in (t.info.assessments or []) if a.expectation is not None}
                     for t in df["trace"]]
            if any(found):
                df["expectations"] = found
    return df


@dataclass
class EvalItem:
    """One row to evaluate (MLflow's ``EvalItem``)."""

    request_id: str
    inputs: Any
    outputs: Any
    expectations: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    trace: Trace | None = None
    error_message: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EvalItem:
        inputs = row.get("inputs")
        if isinstance(inputs, str):  # a JSON-serialised dict is accepted as in MLflow
            try:
                inputs = json.loads(inputs)
            except ValueError:
                pass
        outputs = row.get("outputs")
        if is_none_or_nan(outputs):
            outputs = None
        trace = row.get("trace")
        trace = None if is_none_or_nan(trace) else trace
        expectations = row.get("expectations")
        expectations = {} if is_none_or_nan(expectations) else expectations
        tags = row.get("tags")
        tags = {} if is_none_or_nan(tags) else tags
        if not isinstance(tags, dict):
            raise invalid(f"Tags must be a dictionary, got {type(tags).__name__}. ")
        bad = [f"Key {k!r} has type {type(k).__name__}; expected str." for k in tags if not isinstance(k, str)]
        if bad:
            raise invalid("Invalid tags:\n  - " + "\n  - ".join(bad))
        request_id = row.get("request_id")
        if is_none_or_nan(request_id):
            first = next((x for x in (inputs, outputs, trace, expectations) if x is not None), None)
            if first is None:
                raise invalid("Dataset row must contain at least one non-None value")
            request_id = hashlib.sha256(str(first).encode()).hexdigest()
        return cls(str(request_id), inputs, outputs, expectations, tags, trace)


def eval_items(df: Any) -> list[EvalItem]:
    """The rows of a standard evaluation DataFrame as :class:`EvalItem` (inputs checked to be dicts)."""
    if "trace" not in df.columns and not isinstance(df.iloc[0]["inputs"], dict):
        raise invalid("The 'inputs' column must be a dictionary of field names and values. "
                      "For example: {'query': 'What is MLflow?'}")
    return [EvalItem.from_row(row) for row in df.to_dict(orient="records")]
