"""MLflow 3.17's workspace API (``/api/3.0/mlflow/workspaces``, ``/workspaces/{workspace_name}``).

What ``mlflow.list_workspaces()``, ``create_workspace``, ``get_workspace``,
``update_workspace`` and ``delete_workspace`` call (through MLflow's REST workspace
store). Answers are MLflow's ``Workspace`` message as JSON; a create answers 201 and a
delete 204, as MLflow's server does. ``default`` always exists and cannot be created,
changed or deleted. A bad name is a 400 ``INVALID_PARAMETER_VALUE``, an unknown one a 404.

Permissions (with logins on): any logged-in user may read workspaces, and list them (with
workspaces on, a non-admin sees those they hold a role in, as on MLflow 3.17); creating,
updating and deleting them is for admins. A new workspace gets MLflow's default roles. With ``--enable-workspaces`` each request works
in the workspace its ``X-MLFLOW-WORKSPACE`` header names (:mod:`mltrail.server.workspaces`);
``delete`` takes MLflow's modes (``RESTRICT``, ``SET_DEFAULT``, ``CASCADE``); with logins on
it deletes the workspace's roles as well.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from starlette.responses import Response

from mltrail.exceptions import invalid
from mltrail.protocol.review import WORKSPACES as WS
from mltrail.server.auth.rules import ADMIN_ONLY, AUTHENTICATED, Rule
from mltrail.server.dispatch import json_response
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.scope import USER_SCOPE_KEY
from mltrail.server.validation import path_param
from mltrail.store.sql.workspaces import (
    DEFAULT_WORKSPACE,
    DELETION_MODES,
    SqlWorkspaceStore,
    check_workspace_name,
)

_MAX_DESCRIPTION = 1000
_log = logging.getLogger("mltrail.server.workspaces")
_FALSE = ("false", "0", "no", "off")


def workspace_store(call: Call) -> SqlWorkspaceStore:
    """The app's workspace store."""
    return call.side_store("workspace_store", SqlWorkspaceStore)


def _name(call: Call) -> str:
    name = path_param(call, "workspace_name")
    return name if name == DEFAULT_WORKSPACE else check_workspace_name(name)


def _fields(body: Any) -> tuple[str | None, str | None]:
    if body.trace_archival_config:
        raise invalid("Trace archival is not supported by this server: leave 'trace_archival_config' out.")
    if body.description is not None and len(body.description) > _MAX_DESCRIPTION:
        raise invalid(f"A workspace description must be at most {_MAX_DESCRIPTION} characters.")
    return body.description, body.default_artifact_root


def list_workspaces(call: Call) -> dict[str, Any]:
    found = workspace_store(call).list()
    visible = _visible_workspaces(call)
    if visible is not None:
        found = [w for w in found if w["name"] in visible]
    return {"workspaces": found}


def _visible_workspaces(call: Call) -> set[str] | None:
    """With logins and workspaces on, what a non-admin may see (None: everything), as MLflow 3.17:
    the workspaces they hold a role in, and ``default`` with ``grant_default_workspace_access``."""
    auth = getattr(call.state, "auth", None)
    user = call.request.scope.get(USER_SCOPE_KEY)
    if auth is None or not call.config.enable_workspaces or user is None or user.is_admin:
        return None
    visible = auth.store.roles.present_workspaces(user.id)
    if auth.config.grant_default_workspace_access:
        visible.add(DEFAULT_WORKSPACE)
    return visible


def create_workspace(call: Call) -> Response:
    description, root = _fields(call.body)
    created = workspace_store(call).create(call.body.name, description, root)
    _seed_roles(call, call.body.name)
    return json_response({"workspace": created}, status=201)


def _seed_roles(call: Call, name: str) -> None:
    """With logins on, a new workspace gets MLflow's default ``admin`` and ``user`` roles (unless
    ``MLFLOW_RBAC_SEED_DEFAULT_ROLES`` is false); a failure is logged (the workspace exists)."""
    auth = getattr(call.state, "auth", None)
    if auth is None or os.environ.get("MLFLOW_RBAC_SEED_DEFAULT_ROLES", "true").strip().lower() in _FALSE:
        return
    try:
        auth.store.roles.seed_default_roles(name)
    except Exception:
        _log.exception("Could not create the default roles of workspace %r", name)


def get_workspace(call: Call) -> dict[str, Any]:
    return {"workspace": workspace_store(call).get(_name(call))}


def update_workspace(call: Call) -> dict[str, Any]:
    description, root = _fields(call.body)
    return {"workspace": workspace_store(call).update(_name(call), description, root)}


def delete_workspace(call: Call) -> Response:
    given = call.body.mode or call.query.get("mode")  # MLflow's client sends ``?mode=``
    mode = (given or "RESTRICT").upper()
    if mode not in DELETION_MODES:
        raise invalid(f"Invalid deletion mode '{given}'. Use RESTRICT, SET_DEFAULT or CASCADE.")
    tracking, registry = call.tracking_store, call.registry_store

    def erase(conn: Any, name: str) -> None:  # CASCADE: in the deletion's own transaction
        tracking.erase_workspace(conn, name)
        registry.erase_workspace(conn, name)

    name = _name(call)
    workspace_store(call).delete(name, mode, erase)
    _drop_roles(call, name)
    return Response(status_code=204)


def _drop_roles(call: Call, name: str) -> None:
    """With logins on, the deleted workspace's roles go too (as MLflow 3.17's cleanup hook).

    They live in the auth database, so this runs after the deletion committed; a failure is
    logged, not answered (the workspace is gone), and the roles stay unreachable until an
    admin deletes them: no request can be bound to a workspace that does not exist.
    """
    auth = getattr(call.state, "auth", None)
    if auth is None:
        return
    try:
        auth.store.roles.delete_roles_for_workspace(name)
    except Exception:
        _log.exception("Could not delete the roles of deleted workspace %r", name)


ENDPOINTS: list[Endpoint] = [
    implement(WS.list_workspaces, list_workspaces, db_only=True),
    implement(WS.create_workspace, create_workspace, write=True),
    implement(WS.get_workspace, get_workspace, db_only=True),
    implement(WS.update_workspace, update_workspace, write=True),
    implement(WS.delete_workspace, delete_workspace, write=True),
]

AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/workspaces", "GET"): AUTHENTICATED,
    ("/workspaces", "POST"): ADMIN_ONLY,
    ("/workspaces/{workspace_name}", "GET"): AUTHENTICATED,
    ("/workspaces/{workspace_name}", "PATCH"): ADMIN_ONLY,
    ("/workspaces/{workspace_name}", "DELETE"): ADMIN_ONLY,
}
