"""UI route of "Compare evaluations": two evaluation runs' rows matched on inputs, better or worse per scorer.

``GET /ajax-api/mltrail/evaluations/compare?run_ids=<baseline>,<candidate>&lower_is_better=latency``
    ``{"baseline_run_id", "candidate_run_id", "scorers", "rows", "aggregates", "metrics"}`` as
    :func:`mltrail.store.eval_compare.compare_evaluation_runs` builds it (the SDK's
    ``mltrail.genai.compare_evaluations`` reads the same). ``run_ids`` names the runs, so with
    logins on the UI's permission wrapper asks READ on both before this runs.
``GET /ajax-api/mltrail/evaluations/rows?run_id=<run>``
    ``{"run_id", "scorers", "rows"}``: one evaluation run's rows (inputs, outputs,
    expectations, and each scorer's value, rationale and error), for the run page's table.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mltrail.exceptions import MltrailException, invalid
from mltrail.store.eval_compare import compare_evaluation_runs
from mltrail.store.eval_compare import evaluation_rows as _evaluation_rows
from mltrail.ui.assets import SECURITY_HEADERS

_RUN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (the browser's JSON.parse rejects them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _run_pair(request: Request) -> tuple[str, str]:
    ids = [p for v in request.query_params.getlist("run_ids") for p in v.split(",") if p]
    if len(ids) != 2:
        raise invalid(f"run_ids must name exactly two evaluation runs (baseline,candidate), got {len(ids)}")
    for run_id in ids:
        if not _RUN_ID.match(run_id):
            raise invalid(f"Invalid run id {run_id!r}")
    return ids[0], ids[1]


def _error(exc: MltrailException) -> Response:
    return Response(
        json.dumps(exc.to_dict()),
        status_code=exc.get_http_status_code(),
        media_type="application/json",
        headers=SECURITY_HEADERS,
    )


def _answer(payload: Any, started: float) -> Response:
    took = (time.perf_counter() - started) * 1000
    body = json.dumps(_clean(payload), separators=(",", ":"), default=str, allow_nan=False)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Server-Timing": f"app;dur={took:.1f}"}
    return Response(body, media_type="application/json", headers=headers)


async def evaluation_rows(request: Request) -> Response:
    """``GET /ajax-api/mltrail/evaluations/rows?run_id=``: one evaluation run's rows and scorers."""
    started = time.perf_counter()
    try:
        run_id = request.query_params.get("run_id") or ""
        if not _RUN_ID.match(run_id):
            raise invalid(f"Invalid run id {run_id!r}")
        traces = await run_in_threadpool(request.app.state.trace_store.get)
        rows = await run_in_threadpool(_evaluation_rows, request.app.state.tracking_store, traces, run_id)
    except MltrailException as exc:
        return _error(exc)
    scorers = sorted({name for row in rows for name in row["feedback"]})
    return _answer({"run_id": run_id, "scorers": scorers, "rows": rows}, started)


async def compare_evaluations(request: Request) -> Response:
    """``GET /ajax-api/mltrail/evaluations/compare?run_ids=a,b``: the comparison as JSON."""
    started = time.perf_counter()
    try:
        baseline, candidate = _run_pair(request)
        lower = [p for v in request.query_params.getlist("lower_is_better") for p in v.split(",") if p]
        tracking = request.app.state.tracking_store
        traces = await run_in_threadpool(request.app.state.trace_store.get)
        result = await run_in_threadpool(
            compare_evaluation_runs, tracking, traces, baseline, candidate, lower
        )
    except MltrailException as exc:
        return _error(exc)
    return _answer(result, started)
