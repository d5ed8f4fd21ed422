"""Finding what a request touches, for the permission rules (:mod:`mltrail.server.auth.rules`).

Each locator takes a :class:`~mltrail.server.routing.Call` and gives the
experiment ids (or registered-model names) the request reads or writes: from a
field of the body, a run, a trace or a logged model (their experiment, cached
app-wide, as it never changes for an id), an artifact-proxy path
(``<experiment_id>/...``, with workspaces ``workspaces/<workspace>/<experiment_id>/...``)
or OTLP's experiment header. An id that does not exist
raises the store's ``RESOURCE_DOES_NOT_EXIST``, which the handler would answer
anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from mltrail.artifacts.paths import validate_artifact_path
from mltrail.entities.trace import TraceInfo
from mltrail.exceptions import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.protocol.traces import EXPERIMENT_HEADER
from mltrail.server.routing import Call
from mltrail.server.scope import USER_SCOPE_KEY
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

_EXPERIMENT_IN_PATH = re.compile(r"^(\d+)(?:/|$)")
_WORKSPACE_IN_PATH = re.compile(r"^workspaces/([^/]+)(?:/|$)")
_OWNER_CACHE_LIMIT = 100_000


def _owners(call: Call) -> dict[str, str]:
    """App-wide cache: run / trace / logged-model id -> experiment id (never changes for an id)."""
    state = call.state
    cache = getattr(state, "auth_owner_cache", None)
    if cache is None:
        cache = state.auth_owner_cache = {}
    elif len(cache) > _OWNER_CACHE_LIMIT:
        cache.clear()
    return cache


def run_experiment(call: Call, run_id: str) -> str:
    """The experiment of a run (RESOURCE_DOES_NOT_EXIST for an unknown run)."""
    cache = _owners(call)
    key = "r:" + run_id
    exp = cache.get(key)
    if exp is None:
        exp = cache[key] = str(call.tracking_store.get_run(run_id).info.experiment_id)
    return exp


def trace_experiment(call: Call, trace_id: str) -> str:
    """The experiment of a trace (RESOURCE_DOES_NOT_EXIST for an unknown trace)."""
    cache = _owners(call)
    key = "t:" + trace_id
    exp = cache.get(key)
    if exp is None:
        exp = cache[key] = str(call.trace_store.get_trace_info(trace_id).experiment_id)
    return exp


def logged_model_experiment(call: Call, model_id: str) -> str:
    """The experiment of a logged model (RESOURCE_DOES_NOT_EXIST for an unknown one)."""
    cache = _owners(call)
    key = "m:" + model_id
    exp = cache.get(key)
    if exp is None:
        exp = cache[key] = str(call.logged_model_store.get_logged_model(model_id, True).experiment_id)
    return exp


def artifact_experiment(path: str, *, admin: bool = False) -> str | None:
    """The experiment an artifact-proxy path belongs to (``<experiment_id>/...``), or None.

    The path is normalized by the same check the handlers use first, so what is
    judged is exactly what would be read or written (a bad path is a 400 here).
    With workspaces, a workspace's experiments keep their artifacts under
    ``workspaces/<workspace>/<experiment_id>/``, as MLflow 3.17 lays them out. A path in
    another workspace than the request's is refused (403) to non-admins: grants, and
    above all role grants, are judged in the request's workspace, so they must not
    reach another workspace's files through the path.
    """
    clean = validate_artifact_path(path)
    workspace = active_workspace()
    if workspace is not None:
        match = _WORKSPACE_IN_PATH.match(clean)
        if match is not None:
            if match.group(1) != workspace:
                return _foreign(admin)
            clean = clean[match.end() :]
        elif workspace != DEFAULT_WORKSPACE and _EXPERIMENT_IN_PATH.match(clean):
            return _foreign(admin)  # the default workspace's layout
    match = _EXPERIMENT_IN_PATH.match(clean)
    return match.group(1) if match else None


def _foreign(admin: bool) -> None:
    if admin:
        return None  # admins may do anything; nothing to look up
    raise MltrailException("Permission denied", error_code=PERMISSION_DENIED)


def _is_admin(call: Call) -> bool:
    user = call.request.scope.get(USER_SCOPE_KEY)
    return bool(user is not None and user.is_admin)


Locate = Callable[[Call], Iterable[str | None]]


def body_field(field: str, default: str = "") -> Locate:
    def locate(call: Call) -> Iterable[str | None]:
        value = getattr(call.body, field, None) or default
        return (str(value),) if value else ()

    return locate


def run_of_body(call: Call) -> Iterable[str]:
    body = call.body
    run_id = getattr(body, "run_id", None) or getattr(body, "run_uuid", None)
    return (run_experiment(call, run_id),) if run_id else ()


def runs_of_body(call: Call) -> Iterable[str]:
    return {run_experiment(call, run_id) for run_id in dict.fromkeys(call.body.run_ids)}


def run_list_of_body(call: Call) -> Iterable[str]:  # get-history-bulk repeats ``run_id``
    return {run_experiment(call, run_id) for run_id in dict.fromkeys(call.body.run_id)}


def experiment_by_name(call: Call) -> Iterable[str]:
    name = call.body.experiment_name
    exp = call.tracking_store.get_experiment_by_name(name) if name else None
    return (str(exp.experiment_id),) if exp is not None else ()  # unknown: the handler's 404


def trace_of_path(call: Call) -> Iterable[str]:
    trace_id = call.path_params.get("trace_id") or ""
    return (trace_experiment(call, trace_id),) if trace_id else ()


def trace_of_body(call: Call) -> Iterable[str]:
    trace_id = call.body.trace_id
    return (trace_experiment(call, trace_id),) if trace_id else ()


def traces_of_body(call: Call) -> Iterable[str]:
    found = set()
    for trace_id in dict.fromkeys(call.body.trace_ids):
        try:
            found.add(trace_experiment(call, trace_id))
        except MltrailException as err:
            if err.error_code != RESOURCE_DOES_NOT_EXIST:  # unknown ids are simply not returned
                raise
    return found


def run_and_traces_of_body(call: Call) -> Iterable[str]:
    """link-to-run: the run's experiment and the linked traces' (the link is written on each trace)."""
    return {*run_of_body(call), *traces_of_body(call)}


def new_trace(call: Call) -> Iterable[str]:
    v2_experiment = getattr(call.body, "experiment_id", "")  # MLflow 2's StartTrace (the 2.0 path)
    if v2_experiment and call.body.trace is None:
        return (v2_experiment,)
    raw = call.body.trace.get("trace_info") if isinstance(call.body.trace, dict) else None
    if not isinstance(raw, dict):
        return ()  # the handler refuses it
    try:
        exp = TraceInfo.from_proto_json(raw).experiment_id
    except (TypeError, ValueError, AttributeError):
        return ()
    return (exp,) if exp else ()


def trace_search(call: Call) -> Iterable[str]:
    body = call.body
    ids = [str((loc.mlflow_experiment or {}).get("experiment_id", "")) for loc in body.locations]
    return {i for i in ids if i} | set(body.experiment_ids)


def otlp_header(call: Call) -> Iterable[str]:
    """The experiment OTLP spans go to; none without the header (the handler refuses that, 400)."""
    experiment_id = call.request.headers.get(EXPERIMENT_HEADER)
    return (experiment_id,) if experiment_id else ()


def logged_model_of_path(call: Call) -> Iterable[str]:
    return (logged_model_experiment(call, call.path_params["model_id"]),)


def artifact_of_path(call: Call) -> Iterable[str | None]:
    return (artifact_experiment(call.path_params.get("artifact_path") or "", admin=_is_admin(call)),)


def artifact_of_query(call: Call) -> Iterable[str | None]:
    return (artifact_experiment(call.body.path or "", admin=_is_admin(call)),)


def model_name(call: Call) -> Iterable[str]:
    name = call.body.name
    return (name,) if name else ()
