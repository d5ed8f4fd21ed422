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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.trace import Trace
from mltrail.genai.evaluation.data import is_none_or_nan

SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"


@dataclass
class EvaluationResult:
    """What ``mltrail.genai.evaluate`` returns (MLflow's ``EvaluationResult``)."""

    run_id: str
    metrics: dict[str, float]
    result_df: Any  # a pandas DataFrame, or None when no row has a trace
    #: Each scorer's ``pass_if`` predicate by scorer name (in-process only, as in MLflow).
    pass_criteria: dict[str, Callable[[Any], bool]] = field(default_factory=dict)

    def __repr__(self) -> str:
        metrics = "\n    ".join(f"{k}: {v}" for k, v in self.metrics.items())
        shape = (
            "None"
            if self.result_df is None
            else f"{len(self.result_df)} rows x {len(self.result_df.columns)} cols"
        )
        return (
            f"EvaluationResult(\n  run_id: {self.run_id}\n  metrics:\n    {metrics}\n  result_df: {shape}\n)"
        )

    @property
    def passed(self) -> bool:
        """True when every scorer passed on every row: ``yes``/``True``, or the scorer's ``pass_if``."""
        return not self._failures()

    @property
    def reason(self) -> str:
        """Which scorers failed and why ("" when all passed)."""
        failures = self._failures()
        if len(failures) <= 1:
            return failures[0] if failures else ""
        return f"{len(failures)} assertions failed:\n" + "\n".join(f"  - {f}" for f in failures)

    def _failures(self) -> list[str]:
        df = self.result_df
        if df is None:
            return []
        failures = []
        for _, row in df.iterrows():
            for col in [c for c in df.columns if c.endswith("/value")]:
                name = col.removesuffix("/value")
                error = row.get(f"{name}/error_message")
                error = None if is_none_or_nan(error) else error
                value = row.get(col)
                if error is None and is_none_or_nan(value):
                    continue  # the scorer gave nothing for this row
                rationale = row.get(f"{name}/rationale")
                ok, detail = _outcome(
                    value,
                    error,
                    None if is_none_or_nan(rationale) else rationale,
                    self.pass_criteria.get(name),
                )
                if not ok:
                    failures.append(f"{name}: {detail}" if detail else name)
        return failures

    @property
    def tables(self) -> dict[str, Any]:
        """``{"eval_results": result_df}`` (MLflow keeps this for backward compatibility)."""
        return {"eval_results": self.result_df} if self.result_df is not None else {}


def _outcome(
    value: Any, error: str | None, rationale: str | None, pass_if: Callable[[Any], bool] | None
) -> tuple[bool, str | None]:
    """Whether one value passes, and the detail shown when it does not (MLflow's rules)."""
    if error is not None:
        return False, error
    if pass_if is not None:
        try:
            return bool(pass_if(value)), rationale or f"value={value!r}"
        except Exception as exc:
            return False, f"pass_if raised {type(exc).__name__}: {exc}"
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower() == "yes", rationale or f"value={value!r}"
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool from the DataFrame too
        return bool(value), rationale or f"value={value!r}"
    hint = (
        f"returned {value!r}; assertions need a yes/no rating or a bool. "
        "Declare pass_if=... on the scorer to define what counts as passing."
    )
    return False, f"{rationale}; {hint}" if rationale else hint


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
    values = pd.DataFrame(
        [_assessment_values(list(t.info.assessments or []), run_id) for t in traces], index=df.index
    )
    trace_ids = df.pop("trace_id")
    return pd.concat([trace_ids, values, df], axis=1)
