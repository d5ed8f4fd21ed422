"""``EvaluationResult``: the run id, the aggregated metrics and the per-row ``result_df``.

``result_df`` is laid out as MLflow 3.17 lays it out: ``trace_id``, then one
column per assessment of this run (``<name>/value``, plus ``<name>/rationale``
and ``<name>/error_message`` when present; expectations give ``<name>/value``
too), then the columns ``search_traces`` returns (``trace``,
``client_request_id``, ``state``, ``request_time``, ``execution_duration``,
``request``, ``response``, ``trace_metadata``, ``tags``, ``spans``,
``assessments``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mltrail.entities.trace import Trace

SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"


@dataclass
class EvaluationResult:
    """What ``mltrail.genai.evaluate`` returns (MLflow's ``EvaluationResult``)."""

    run_id: str
    metrics: dict[str, float]
    result_df: Any  # a pandas DataFrame, or None when no row has a trace

    def __repr__(self) -> str:
        metrics = "\n    ".join(f"{k}: {v}" for k, v in self.metrics.items())
        shape = "None" if self.result_df is None else f"{len(self.result_df)} rows x {len(self.result_df.columns)} cols"
        return f"EvaluationResult(\n  run_id: {self.run_id}\n  metrics:\n    {metrics}\n  result_df: {shape}\n)"

    @property
    def tables(self) -> dict[str, Any]:
        """``{"eval_results": result_df}`` (MLflow keeps this for backward compatibility)."""
        return {"eval_results": self.result_df} if self.result_df is not None else {}


def _assessment_values(assessments: list[Any], run_id: str) -> dict[str, Any]:
    """One row's assessment columns, leaving out feedback that other evaluation runs logged."""
    out: dict[str, Any] = {}
    for a in assessments:
        source_run = (a.get("metadata") or {}).get(SOURCE_RUN_ID_KEY)
        if source_run and source_run != run_id:
            continue
        name = a["assessment_name"]
        feedback = a.get("feedback")
        if feedback is not None:
            out[f"{name}/value"] = a.value
            if a.get("rationale") is not None:
                out[f"{name}/rationale"] = a["rationale"]
            error = feedback.get("error") or {}
            if error.get("error_message"):
                out[f"{name}/error_message"] = error["error_message"]
        elif a.get("expectation") is not None:
            out[f"{name}/value"] = a.value
    return out


def result_dataframe(run_id: str, traces: list[Trace]) -> Any:
    """The per-row DataFrame from the rows' traces (read back after their assessments were logged)."""
    import pandas as pd

    from mltrail.tracing._dataframe import traces_to_dataframe

    if not traces:
        return None
    df = traces_to_dataframe(traces)
    values = pd.DataFrame([_assessment_values(list(t.info.assessments or []), run_id) for t in traces],
                          index=df.index)
    trace_ids = df.pop("trace_id")
    return pd.concat([trace_ids, values, df], axis=1)
