"""The UI's Starlette routes: the HTML shell, static assets and UI-only JSON.

``mltrail.server.app.create_app`` appends :func:`ui_routes` to its routes. Pages
use MLflow's own REST API for everything it offers; the endpoints here cover
what it does not: live run events, downsampled metric history, the keys of an
experiment's columns and CSV export.

Example::

    from starlette.applications import Starlette
    app = Starlette(routes=ui_routes())
    app.state.tracking_store = SqlTrackingStore("sqlite:///mltrail.db", "./mltrail-artifacts")
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mltrail.entities import ViewType
from mltrail.exceptions import MltrailException, invalid
from mltrail.protocol.ui import UI
from mltrail.server.auth.ui_rules import ui_route_rules
from mltrail.server.prefix import PREFIX_KEY
from mltrail.server.routing import Call, Endpoint, Handler, implement
from mltrail.ui import eval_compare_routes, events, export, history, trace_routes
from mltrail.ui.assets import (
    CONTENT_SECURITY_POLICY,
    CONTENT_TYPES,
    IMMUTABLE,
    SECURITY_HEADERS,
    Assets,
)
from mltrail.ui.sqlaccess import experiment_ids as _experiment_ids
from mltrail.ui.sqlaccess import experiment_ints

_RUN_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
BULK_HISTORY_RUNS = 200  # runs per history-bulk request; the charts view asks in slices of this size
COUNT_RUNS = 1000


def _error(exc: MltrailException) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.get_http_status_code(), headers=SECURITY_HEADERS)


def _json(payload: Any) -> Response:
    # allow_nan=False: a NaN would be invalid JSON for the browser's parser.
    body = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    return Response(body, media_type="application/json", headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})



def _run_id(request: Request) -> str:
    run_id = request.path_params.get("run_id") or request.query_params.get("run_id") or ""
    if not _RUN_ID.match(run_id):
        raise invalid(f"Invalid run id {run_id!r}")
    return run_id


def _run_ids(request: Request, limit: int) -> list[str]:
    """``run_ids=a,b`` (or repeated): each a valid run id, at least one and at most ``limit``."""
    ids = [p for v in request.query_params.getlist("run_ids") for p in v.split(",") if p]
    if not ids:
        raise invalid("run_ids is required")
    if len(ids) > limit:
        raise invalid(f"run_ids may list at most {limit} runs, got {len(ids)}")
    for run_id in ids:
        if not _RUN_ID.match(run_id):
            raise invalid(f"Invalid run id {run_id!r}")
    return list(dict.fromkeys(ids))


# ------------------------------------------------------------------- pages and assets


def _shell_endpoint(assets: Assets):
    async def shell(request: Request) -> Response:
        assets.warm()
        headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
        }
        # Under --static-prefix the asset URLs carry the prefix; the scripts find it from their own URL.
        page = assets.shell(request.scope.get(PREFIX_KEY, ""))
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    return shell


def _static_endpoint(assets: Assets):
    async def static(request: Request) -> Response:
        version = request.path_params["version"]
        rel = request.path_params["path"]
        path = assets.resolve(rel)
        if path is None:
            return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
        headers = dict(SECURITY_HEADERS)
        # An old version's URL still gets today's file, but must not be cached forever as that version.
        headers["Cache-Control"] = IMMUTABLE if version == assets.version else "no-cache"
        media_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        if "gzip" in request.headers.get("accept-encoding", "") and path.suffix in (".js", ".css"):
            body = await run_in_threadpool(assets.gzipped, path)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return Response(body, media_type=media_type, headers=headers)
        return FileResponse(path, media_type=media_type, headers=headers)

    return static


# ------------------------------------------------------------------- UI-only JSON
#
# Route-table rows (``ENDPOINTS``), dispatched like the REST API (server/dispatch.py): path,
# method and query types from mltrail.protocol.ui, control characters refused in path
# parameters, each route's permission rule (``AUTH_RULES``) applied with logins on. The
# handlers read their own query (``raw``: lists come comma-separated or repeated) and answer
# with the UI's headers. Plain handlers run in a worker thread (the database thread on SQLite).


def metric_history(call: Call) -> Response:
    """``GET /ajax-api/mltrail/metrics/history?run_id=&key=&axis=step|time&max_points=``."""
    request = call.request
    try:
        run_id = _run_id(request)
        key = request.query_params.get("key") or request.query_params.get("metric_key") or ""
        if not key:
            raise invalid("key is required")
        axis = history.parse_axis(request.query_params.get("axis"))
        max_points = history.parse_max_points(request.query_params.get("max_points"))
        store = call.tracking_store
        out = store.metric_history_sampled(run_id, key, axis, max_points)
        if out["total"] == 0:
            store.get_run(run_id)  # a missing run is RESOURCE_DOES_NOT_EXIST, not an empty chart
    except MltrailException as exc:
        return _error(exc)
    return _json({"run_id": run_id, "key": key, "axis": axis, **out})


def metric_history_bulk(call: Call) -> Response:
    """``GET /ajax-api/mltrail/metrics/history-bulk?run_ids=a,b&key=&axis=&max_points=``.

    One metric of many runs in one request (the experiment charts view draws a
    chart per key over every visible run); each run's history is downsampled as
    by ``metrics/history``. A run that never logged the key has ``total`` 0.
    """
    request = call.request
    try:
        run_ids = _run_ids(request, BULK_HISTORY_RUNS)
        key = request.query_params.get("key") or ""
        if not key:
            raise invalid("key is required")
        axis = history.parse_axis(request.query_params.get("axis"))
        max_points = history.parse_max_points(request.query_params.get("max_points"))
        found = call.tracking_store.metric_histories_sampled(run_ids, key, axis, max_points)
    except MltrailException as exc:
        return _error(exc)
    return _json({"key": key, "axis": axis, "runs": [{"run_id": r, **found[r]} for r in run_ids]})


def metric_counts(call: Call) -> Response:
    """``GET /ajax-api/mltrail/metrics/counts?run_ids=a,b``: how many values each metric of each run holds.

    Pages draw a chart only for metrics with a history and show single values
    (an evaluation's scores) as numbers.
    """
    try:
        run_ids = _run_ids(call.request, COUNT_RUNS)
        counts = call.tracking_store.metric_point_counts(run_ids)
    except MltrailException as exc:
        return _error(exc)
    return _json({"counts": counts})


def experiment_summaries(call: Call) -> Response:
    """``GET /ajax-api/mltrail/experiments/summary[?experiment_ids=1,2]``: run counts per experiment.

    One query for the whole experiments list; experiments without active runs are absent.
    """
    try:
        raw = [p for v in call.request.query_params.getlist("experiment_ids") for p in v.split(",") if p]
        ids = [str(i) for i in experiment_ints(raw)] if raw else None
        out = call.tracking_store.experiment_run_summaries(ids)
    except MltrailException as exc:
        return _error(exc)
    return _json({"experiments": out})


async def run_events(call: Call) -> Response:
    """``GET /ajax-api/mltrail/runs/{run_id}/events``: a text/event-stream of run changes."""
    request = call.request
    try:
        run_id = _run_id(request)
        store = call.tracking_store
        await run_in_threadpool(store.get_run, run_id)
    except MltrailException as exc:
        return _error(exc)
    poll = events.poll_seconds(request.app.state)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        events.run_event_stream(store, run_id, poll_seconds=poll), media_type="text/event-stream", headers=headers
    )


def experiment_columns(call: Call) -> Response:
    """``GET /ajax-api/mltrail/experiments/columns?experiment_ids=1,2``: every param/metric/tag key."""
    try:
        out = call.tracking_store.experiment_columns(_experiment_ids(call.request))
    except MltrailException as exc:
        return _error(exc)
    return _json(out)


def export_runs_csv(call: Call) -> Response:
    """``GET /ajax-api/mltrail/runs/export.csv?experiment_ids=&filter=&order_by=&view_type=&columns=``."""
    request = call.request
    try:
        ids = _experiment_ids(request)
        q = request.query_params
        view_type = ViewType.from_string(q.get("view_type") or None)
        columns = export.parse_columns([c for v in q.getlist("columns") for c in v.split(",") if c])
        runs = export.collect_runs(call.tracking_store, ids, q.get("filter") or None, view_type, q.getlist("order_by"))
        text = export.runs_to_csv(runs, columns)
    except MltrailException as exc:
        return _error(exc)
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": 'attachment; filename="runs.csv"',
        "Cache-Control": "no-store",
    }
    # A BOM so spreadsheet programs read UTF-8 run names correctly.
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers=headers)


def _on_request(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Call], Awaitable[Response]]:
    """A handler written as ``async (Request) -> Response`` as a route-table handler.

    For the trace page's and "Compare evaluations"' handlers (:mod:`.trace_routes`,
    :mod:`.eval_compare_routes`), which still take the Starlette request.
    """

    @functools.wraps(endpoint)
    async def handler(call: Call) -> Response:
        return await endpoint(call.request)

    handler.__module__ = __name__  # AUTH_RULES below are looked up in the handler's module
    return handler


async def _legacy_redirect(request: Request) -> Response:
    return RedirectResponse(request.scope.get(PREFIX_KEY, "") + "/", status_code=307)


def ui_routes(assets: Assets | None = None) -> list[BaseRoute]:
    """The web UI's page and static routes, to mount at the root of the server app.

    Its JSON, event-stream and CSV routes are :data:`ENDPOINTS`, mounted with the REST API.
    """
    assets = assets or Assets()
    return [
        Route("/", _shell_endpoint(assets), methods=["GET", "HEAD"], name="ui"),
        Route("/index.html", _legacy_redirect, methods=["GET"]),
        Route("/static/{version}/{path:path}", _static_endpoint(assets), methods=["GET", "HEAD"]),
    ]


_UI_HANDLERS: dict[str, Handler] = {
    "ui_metric_history": metric_history,
    "ui_metric_history_bulk": metric_history_bulk,
    "ui_metric_counts": metric_counts,
    "ui_experiment_summaries": experiment_summaries,
    "ui_run_events": run_events,
    "ui_experiment_columns": experiment_columns,
    "ui_export_runs_csv": export_runs_csv,
    # The trace page (mltrail.ui.trace_routes): one trace with its spans, and live traces.
    "ui_trace": _on_request(trace_routes.trace_with_spans),
    "ui_trace_events": _on_request(trace_routes.trace_events_route),
    "ui_experiment_traces_events": _on_request(trace_routes.experiment_traces_events),
    "ui_experiment_trace_totals": _on_request(trace_routes.experiment_trace_totals),
    "ui_experiment_sessions": _on_request(trace_routes.experiment_sessions),
    "ui_compare_evaluations": _on_request(eval_compare_routes.compare_evaluations),  # "Compare evaluations"
    "ui_evaluation_rows": _on_request(eval_compare_routes.evaluation_rows),  # the run page's evaluation table
}

# Reads of the tracking database only: on SQLite they share the app's database thread.
_DB_ONLY = frozenset({
    "ui_metric_history", "ui_metric_history_bulk", "ui_metric_counts", "ui_experiment_summaries",
    "ui_experiment_columns", "ui_export_runs_csv",
})  # fmt: skip

#: The UI's JSON, event-stream and CSV routes as route-table rows: one per declaration in
#: :data:`mltrail.protocol.ui.UI` (``mltrail.server.routing.HANDLER_MODULES`` mounts them).
ENDPOINTS: list[Endpoint] = [implement(r, _UI_HANDLERS[r.name], db_only=r.name in _DB_ONLY) for r in UI]

#: Their permission rules with logins on (read by ``mltrail.server.auth.rules.declared_rule``).
AUTH_RULES = ui_route_rules(ENDPOINTS)
