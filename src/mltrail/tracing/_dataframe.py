"""Traces as the pandas DataFrame ``search_traces`` returns (MLflow 3's columns)."""

from __future__ import annotations

from typing import Any

from mltrail.entities.trace import Trace, load_json

COLUMNS = ["trace_id", "trace", "client_request_id", "state", "request_time", "execution_duration", "request",
           "response", "trace_metadata", "tags", "spans", "assessments"]


def traces_to_dataframe(traces: list[Trace], extract_fields: list[str] | None = None) -> Any:
    """One row per trace; ``request``/``response`` are the root span's decoded inputs/outputs."""
    import pandas as pd

    rows = []
    for t in traces:
        rows.append({
            "trace_id": t.info.trace_id,
            "trace": t.to_json(),
            "client_request_id": t.info.client_request_id,
            "state": t.info.state,
            "request_time": t.info.request_time,
            "execution_duration": t.info.execution_duration,
            "request": load_json(t.data.request),
            "response": load_json(t.data.response),
            "trace_metadata": dict(t.info.trace_metadata),
            "tags": dict(t.info.tags),
            "spans": [s.to_dict() for s in t.data.spans],
            "assessments": list(t.info.assessments),
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    for field in extract_fields or []:
        # "<span name>.inputs.<key>" / "<span name>.outputs" as extra columns.
        span_name, _, rest = field.partition(".")
        kind, _, key = rest.partition(".")
        values = []
        for t in traces:
            value = None
            for span in t.data.spans:
                if span.name == span_name:
                    value = span.inputs if kind == "inputs" else span.outputs if kind == "outputs" else None
                    if key and isinstance(value, dict):
                        value = value.get(key)
                    break
            values.append(value)
        df[field] = values
    return df
