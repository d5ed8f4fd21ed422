"""Regressions at a glance: two evaluation runs' rows matched on their inputs, per scorer, better or worse.

``compare_evaluation_runs(tracking_store, trace_store, baseline, candidate)``
reads each run's evaluation traces (the traces ``genai.evaluate`` linked to the
run), matches rows by a stable hash of their inputs (the root span's inputs,
as canonical JSON; the k-th duplicate of an input matches the k-th duplicate),
and says for every scorer whether the candidate got ``better``, ``worse`` or
stayed the ``same``, or whether the scorer's value is ``new`` (only the
candidate has one) or ``missing`` (only the baseline has one). Values that have
no order (free-text labels other than yes/no) that differ are ``changed``.

Direction: ``True``/``"yes"`` beat ``False``/``"no"``; numbers are better when
higher unless the caller names the scorer in ``lower_is_better``; a scorer
error is worse than any value. Both outputs and both rationales travel with
each row, and the aggregates give each scorer's mean on both sides, the delta,
and how many rows moved each way.

It runs on the store interfaces only, so the SDK (embedded or over REST) and
the server's UI route share it. Plain dicts out; the SDK makes the DataFrame.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

from mltrail.entities.trace import Trace
from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException

SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"
RUN_TYPE_TAG = "mlflow.runType"
GENAI_EVALUATE = "genai_evaluate"
#: How many evaluation rows one side may have (a comparison reads every row's trace).
MAX_ROWS = 5000
CHANGES = ("worse", "better", "changed", "new", "missing", "same")
_BATCH = 100


def input_key(inputs: Any) -> str:
    """A stable 16-hex hash of ``inputs`` (canonical JSON: sorted keys, no whitespace)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _score(value: Any) -> float | None:
    """A value's rank on the "higher is better" scale, or None when it has no order."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false", "pass", "fail"):
        return 1.0 if value.strip().lower() in ("yes", "true", "pass") else 0.0
    return None


def change_of(
    baseline: dict[str, Any] | None, candidate: dict[str, Any] | None, lower_is_better: bool
) -> str:
    """``better``/``worse``/``same``/``changed``/``new``/``missing`` for one scorer on one row.

    ``baseline`` and ``candidate`` are ``{"value", "error"}`` (None when the
    side has no assessment of that scorer).
    """
    if baseline is None and candidate is None:
        return "same"
    if baseline is None:
        return "new"
    if candidate is None:
        return "missing"
    b_err, c_err = baseline.get("error") is not None, candidate.get("error") is not None
    if b_err or c_err:
        return "same" if b_err and c_err else ("worse" if c_err else "better")
    b, c = baseline.get("value"), candidate.get("value")
    bs, cs = _score(b), _score(c)
    if bs is not None and cs is not None:
        if bs == cs:
            return "same"
        return "better" if (cs > bs) != lower_is_better else "worse"
    return "same" if b == c else "changed"


def _feedback(trace: Trace, run_id: str) -> dict[str, dict[str, Any]]:
    """This run's feedback on one trace: scorer name -> value, rationale, error."""
    out: dict[str, dict[str, Any]] = {}
    for a in trace.info.assessments or []:
        feedback = a.get("feedback")
        if feedback is None:
            continue  # expectations are the data, not a score
        source_run = (a.get("metadata") or {}).get(SOURCE_RUN_ID_KEY)
        if source_run and source_run != run_id:
            continue  # feedback another evaluation run left on a shared trace
        error = feedback.get("error") or {}
        out[a["assessment_name"]] = {
            "value": a.value,
            "rationale": a.get("rationale"),
            "error": error.get("error_message") or error.get("error_code") if error else None,
        }
    return out


def _root(trace: Trace) -> Any:
    spans = trace.data.spans
    roots = [s for s in spans if s.parent_id is None]
    return (roots or spans or [None])[0]


def evaluation_rows(tracking_store: Any, trace_store: Any, run_id: str) -> list[dict[str, Any]]:
    """One dict per evaluation row of ``run_id``: key, trace id, inputs, outputs, expectations, feedback."""
    run = tracking_store.get_run(run_id)
    infos: list[Any] = []
    token = None
    while True:
        page, token = trace_store.search_traces(
            [run.info.experiment_id],
            f"attributes.run_id = '{run_id}'",
            max_results=500,
            order_by=["timestamp_ms ASC"],
            page_token=token,
        )
        infos.extend(page)
        if len(infos) > MAX_ROWS:
            raise MltrailException(
                f"Run {run_id} has more than {MAX_ROWS} evaluation traces; compare smaller evaluations",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if not token:
            break
    traces: list[Trace] = []
    ids = [i.trace_id for i in infos]
    for start in range(0, len(ids), _BATCH):
        traces.extend(trace_store.batch_get_traces(ids[start : start + _BATCH]))
    order = {t: n for n, t in enumerate(ids)}
    traces.sort(key=lambda t: order.get(t.info.trace_id, 0))
    rows = []
    for trace in traces:
        root = _root(trace)
        inputs = root.inputs if root is not None else None
        expectations = {
            a["assessment_name"]: a.value
            for a in trace.info.assessments or []
            if a.get("expectation") is not None
        }
        rows.append(
            {
                "key": input_key(inputs),
                "trace_id": trace.info.trace_id,
                "inputs": inputs,
                "outputs": root.outputs if root is not None else None,
                "expectations": expectations,
                "feedback": _feedback(trace, run_id),
            }
        )
    return rows


def _match(baseline: list[dict[str, Any]], candidate: list[dict[str, Any]]) -> Iterable[tuple[Any, Any]]:
    """Pairs (baseline row or None, candidate row or None), baseline order first, then new candidate rows."""
    pending: dict[str, list[dict[str, Any]]] = {}
    for row in candidate:
        pending.setdefault(row["key"], []).append(row)
    for row in baseline:
        queue = pending.get(row["key"])
        yield row, (queue.pop(0) if queue else None)
    for row in candidate:
        if any(row is r for r in pending.get(row["key"], [])):
            yield None, row


def compare_rows(
    baseline: list[dict[str, Any]], candidate: list[dict[str, Any]], lower_is_better: Iterable[str] = ()
) -> dict[str, Any]:
    """Match two runs' rows on inputs and grade every scorer; ``{"scorers", "rows", "aggregates"}``."""
    lower = set(lower_is_better)
    scorers = sorted({n for r in [*baseline, *candidate] for n in r["feedback"]})
    rows = []
    for b, c in _match(baseline, candidate):
        entry: dict[str, Any] = {
            "key": (b or c)["key"],
            "inputs": (b or c)["inputs"],
            "baseline_trace_id": b and b["trace_id"],
            "candidate_trace_id": c and c["trace_id"],
            "baseline_outputs": b and b["outputs"],
            "candidate_outputs": c and c["outputs"],
            "expectations": (b or c)["expectations"],
            "status": "matched" if b and c else ("removed" if b else "added"),
            "scores": {},
        }
        for name in scorers:
            bf = b["feedback"].get(name) if b else None
            cf = c["feedback"].get(name) if c else None
            if bf is None and cf is None:
                continue
            entry["scores"][name] = {
                "baseline": bf and bf["value"],
                "candidate": cf and cf["value"],
                "baseline_rationale": bf and bf["rationale"],
                "candidate_rationale": cf and cf["rationale"],
                "baseline_error": bf and bf["error"],
                "candidate_error": cf and cf["error"],
                "change": change_of(bf, cf, name in lower),
            }
        rows.append(entry)
    return {"scorers": scorers, "rows": rows, "aggregates": aggregate(scorers, rows)}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(scorers: list[str], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scorer: both means (over values with an order), their delta, and how many rows moved each way."""
    out = {}
    for name in scorers:
        cells = [r["scores"][name] for r in rows if name in r["scores"]]
        base = [s for c in cells if c["baseline_error"] is None and (s := _score(c["baseline"])) is not None]
        cand = [
            s for c in cells if c["candidate_error"] is None and (s := _score(c["candidate"])) is not None
        ]
        b_mean, c_mean = _mean(base), _mean(cand)
        counts = {change: sum(1 for c in cells if c["change"] == change) for change in CHANGES}
        out[name] = {
            "baseline_mean": b_mean,
            "candidate_mean": c_mean,
            "delta": None if b_mean is None or c_mean is None else c_mean - b_mean,
            "rows": len(cells),
            **counts,
        }
    return out


def metric_deltas(tracking_store: Any, baseline: str, candidate: str) -> dict[str, dict[str, Any]]:
    """The two runs' logged metrics side by side (``<scorer>/mean`` and the rest) with their deltas."""
    bm = tracking_store.get_run(baseline).data.metrics
    cm = tracking_store.get_run(candidate).data.metrics
    out = {}
    for key in sorted(set(bm) | set(cm)):
        b, c = bm.get(key), cm.get(key)
        out[key] = {"baseline": b, "candidate": c, "delta": None if b is None or c is None else c - b}
    return out


def compare_evaluation_runs(
    tracking_store: Any,
    trace_store: Any,
    baseline_run_id: str,
    candidate_run_id: str,
    lower_is_better: Iterable[str] = (),
) -> dict[str, Any]:
    """The whole comparison of two evaluation runs: rows, per-scorer aggregates and logged-metric deltas.

    ``RESOURCE_DOES_NOT_EXIST`` for an unknown run; ``INVALID_PARAMETER_VALUE``
    when the two ids are the same or a side has more than ``MAX_ROWS`` rows.
    """
    for name, value in (("baseline_run_id", baseline_run_id), ("candidate_run_id", candidate_run_id)):
        if not isinstance(value, str) or not value.strip():
            raise MltrailException(f"{name} must be a run id", error_code=INVALID_PARAMETER_VALUE)
    if baseline_run_id == candidate_run_id:
        raise MltrailException(
            "Pick two different evaluation runs to compare", error_code=INVALID_PARAMETER_VALUE
        )
    result = compare_rows(
        evaluation_rows(tracking_store, trace_store, baseline_run_id),
        evaluation_rows(tracking_store, trace_store, candidate_run_id),
        lower_is_better,
    )
    result["baseline_run_id"], result["candidate_run_id"] = baseline_run_id, candidate_run_id
    result["metrics"] = metric_deltas(tracking_store, baseline_run_id, candidate_run_id)
    return result
