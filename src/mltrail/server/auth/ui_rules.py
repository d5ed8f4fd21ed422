"""Permission checks for the web UI's own routes and the ``auth/me`` route its pages ask.

The UI's JSON, event-stream and export routes (``/ajax-api/mltrail/...``) are
route-table endpoints (``mltrail.ui.routes.ENDPOINTS``); :func:`ui_route_rules`
gives each its rule: READ on every experiment and run the request names,
admin-only for a request naming none (fail closed). :func:`protect_ui_routes`
wraps any plain Starlette route still under that prefix the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from mltrail.exceptions import MltrailException
from mltrail.protocol.routes import UI_PREFIX
from mltrail.protocol.ui import UI
from mltrail.server.auth.locate import run_experiment, trace_experiment
from mltrail.server.auth.rules import READ, Rule, Subject, require_admin, require_user, subject_of
from mltrail.server.routing import Call, Endpoint

UI_API_PREFIX = UI_PREFIX + "/"
WHOAMI_PATH = UI_PREFIX + "/auth/me"


def _ids(request: Any, *names: str) -> list[str]:
    """Comma-separated or repeated query values (and a path parameter of the first name)."""
    values = [str(request.path_params[names[0]])] if names[0] in request.path_params else []
    for name in names:
        values += [part for value in request.query_params.getlist(name) for part in value.split(",") if part]
    return list(dict.fromkeys(values))


# UI lists that, asked without ids, cover every experiment: their answer (a JSON object keyed
# by experiment id under this field) is cut down to the experiments the caller may read.
_EXPERIMENT_KEYED_LISTS = {UI.ui_experiment_summaries.path: "experiments"}


def _check_ui_request(request: Any, subject: Subject) -> bool:
    """READ on every experiment and run a UI request names. True: filter the answer instead.

    A request naming nothing is admin-only unless its route is a known list
    (:data:`_EXPERIMENT_KEYED_LISTS`): failing closed means a new UI route taking
    a new kind of id cannot leak data before someone teaches this function about it.
    """
    call = Call(request, None)
    experiments = _ids(request, "experiment_id", "experiment_ids")
    runs = _ids(request, "run_id", "run_ids", "run_uuid")
    traces = _ids(request, "trace_id")
    if not experiments and not runs and not traces:
        if request.url.path in _EXPERIMENT_KEYED_LISTS and subject.user is not None:
            return not subject.is_admin
        require_admin(call, subject)
        return False
    require_user(call, subject)
    for experiment_id in experiments:
        subject.require_experiment(experiment_id, READ)
    for run_id in runs:
        subject.require_experiment(run_experiment(call, run_id), READ)
    for trace_id in traces:  # the trace page and its event stream
        subject.require_experiment(trace_experiment(call, trace_id), READ)
    return False


def _readable_only(response: Any, field: str, subject: Subject) -> Any:
    """A JSON answer keyed by experiment id, without the experiments ``subject`` may not read."""
    from starlette.responses import Response

    if response.status_code != 200:
        return response
    payload = json.loads(response.body)
    subject.preload_experiments()
    payload[field] = {k: v for k, v in (payload.get(field) or {}).items() if subject.experiment(str(k)).can_read}
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json", headers=headers)


def _protect_ui_endpoint(endpoint: Callable[[Any], Any]) -> Callable[[Any], Any]:
    from starlette.responses import JSONResponse

    async def protected(request: Any) -> Any:
        subject = subject_of(request)
        try:
            filter_answer = await run_in_threadpool(_check_ui_request, request, subject)
        except MltrailException as err:
            return JSONResponse(err.to_dict(), status_code=err.get_http_status_code())
        response = await endpoint(request)
        if filter_answer:
            field = _EXPERIMENT_KEYED_LISTS[request.url.path]
            return await run_in_threadpool(_readable_only, response, field, subject)
        return response

    return protected


def _ui_check(call: Call, subject: Subject) -> None:
    """The rule of a UI route: READ on every experiment, run and trace it names (admin-only for none)."""
    _check_ui_request(call.request, subject)


def _ui_keyed_list(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """The rule of a UI list keyed by experiment: asked without ids, it answers the readable ones."""
    filter_answer = _check_ui_request(call.request, subject)
    response = handler(call)
    if filter_answer:
        return _readable_only(response, _EXPERIMENT_KEYED_LISTS[call.request.url.path], subject)
    return response


def ui_route_rules(endpoints: list[Endpoint]) -> dict[tuple[str, str], Rule]:
    """``{(path, method): Rule}`` for the UI's route-table rows (``mltrail.ui.routes.AUTH_RULES``).

    Keyed lists (:data:`_EXPERIMENT_KEYED_LISTS`) have plain handlers, so their answer can be
    filtered after the call; every other UI route is checked before its handler runs.
    """
    out: dict[tuple[str, str], Rule] = {}
    for ep in endpoints:
        if ep.path in _EXPERIMENT_KEYED_LISTS:
            rule = Rule("experiment", READ, around=_ui_keyed_list)
        else:
            rule = Rule("experiment", READ, check=_ui_check)
        out.update({(ep.path, method): rule for method in ep.methods})
    return out


def _permission_json(perm: Any) -> dict[str, Any]:
    return {
        "permission": perm.name,
        "can_read": perm.can_read,
        "can_update": perm.can_update,
        "can_delete": perm.can_delete,
        "can_manage": perm.can_manage,
    }


async def whoami(request: Any) -> Any:
    """``GET /ajax-api/mltrail/auth/me?experiment_ids=&run_ids=&models=``: who is logged in, and may do what.

    The UI shows the username and hides the buttons the user may not use; the
    server still checks every request. Only the caller's own permissions are
    told, on the resources named (unknown runs are left out).
    """
    from starlette.responses import JSONResponse

    if getattr(request.app.state, "auth", None) is None:
        return JSONResponse({"user": None, "auth": False}, headers={"Cache-Control": "no-store"})
    subject = subject_of(request)

    def load() -> dict[str, Any]:
        call = Call(request, None)
        user = subject.user
        out: dict[str, Any] = {
            "auth": True,
            "user": None if user is None else {"username": user.username, "is_admin": bool(user.is_admin)},
            "experiments": {
                e: _permission_json(subject.experiment(e)) for e in _ids(request, "experiment_ids")
            },
            "models": {m: _permission_json(subject.model(m)) for m in _ids(request, "models")},
            "runs": {},
        }
        for run_id in _ids(request, "run_ids"):
            try:
                out["runs"][run_id] = _permission_json(subject.experiment(run_experiment(call, run_id)))
            except MltrailException:
                continue
        return out

    body = await run_in_threadpool(load)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def protect_ui_routes(routes: list[Any], enabled: bool = True) -> list[Any]:
    """The UI's routes, plus ``auth/me``; with auth on, every ``/ajax-api/mltrail/`` route checked.

    Pages and static files are left alone (the login itself guards them). With
    auth off the routes are returned as they are, ``auth/me`` answering that
    nobody is logged in (so the page asks once and hides nothing). Called at
    app build time.
    """
    from starlette.routing import Route

    out: list[Any] = []
    for route in routes:
        if enabled and isinstance(route, Route) and route.path.startswith(UI_API_PREFIX):
            route = Route(route.path, _protect_ui_endpoint(route.endpoint), methods=list(route.methods or ()),
                          name=route.name)
        out.append(route)
    out.append(Route(WHOAMI_PATH, whoami, methods=["GET"]))
    return out
