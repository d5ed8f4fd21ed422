"""``search_runs`` results as a pandas DataFrame in MLflow's layout.

Columns: ``run_id, experiment_id, status, artifact_uri, start_time, end_time``
(times as UTC pandas datetimes), then ``metrics.<key>`` (NaN where a run lacks
the metric), ``params.<key>`` and ``tags.<key>`` (``None`` where missing), each
group in first-seen order. pandas is imported only here.
"""

from __future__ import annotations

from typing import Any

from mltrail.entities import Run

INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def runs_to_dataframe(runs: list[Run]) -> Any:
    """One row per run, in the order given."""
    import numpy as np
    import pandas as pd

    n = len(runs)
    info: dict[str, list[Any]] = {c: [] for c in INFO_COLUMNS}
    groups: dict[str, dict[str, list[Any]]] = {"metrics": {}, "params": {}, "tags": {}}
    missing = {"metrics": np.nan, "params": None, "tags": None}
    for i, run in enumerate(runs):
        info["run_id"].append(run.info.run_id)
        info["experiment_id"].append(run.info.experiment_id)
        info["status"].append(run.info.status)
        info["artifact_uri"].append(run.info.artifact_uri)
        info["start_time"].append(run.info.start_time)
        info["end_time"].append(run.info.end_time)
        values = {"metrics": run.data.metrics, "params": run.data.params, "tags": run.data.tags}
        for group, mapping in values.items():
            columns = groups[group]
            for key, value in mapping.items():
                column = columns.get(key)
                if column is None:
                    # A key first seen in row i is missing from every earlier row.
                    column = columns[key] = [missing[group]] * i
                column.append(value)
            for column in columns.values():
                if len(column) == i:
                    column.append(missing[group])
    data: dict[str, Any] = {}
    for column in INFO_COLUMNS:
        if column in ("start_time", "end_time"):
            data[column] = pd.to_datetime(pd.Series(info[column], dtype="float64"), unit="ms", utc=True)
        else:
            data[column] = info[column]
    for group in ("metrics", "params", "tags"):
        for key, column in groups[group].items():
            # Metric columns are floats even when every value is missing; the rest pandas infers.
            data[f"{group}.{key}"] = np.asarray(column, dtype="float64") if group == "metrics" else column
    return pd.DataFrame(data, index=pd.RangeIndex(n))
