"""MLflow 3.17's roles API (``/api/3.0/mlflow/roles/*``), mounted with ``--app-name basic-auth``.

Thirteen routes: roles (create, get, list, update, delete), their
permissions (add, remove, list, update), assignments (assign, unassign) and the two
listings (``/users/roles/list``, ``/roles/users/list``). Request and answer JSON, error
codes and messages are MLflow's.

Who may call what (MLflow's ``validate_can_*_roles``): admins anything; a workspace admin
(a role with MANAGE on the workspace slot) manages the roles of that workspace; a user with
any role in a workspace may read that workspace's roles and their permissions; anyone may
list their own roles. The workspace is the one the request names: ``workspace`` on create
and list, else the role of ``role_id`` or of ``role_permission_id``. A non-admin naming a
role that does not exist is refused (403), so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.server.auth.calls import auth_store, caller, denied, required
from mltrail.server.auth.roles import check_description
from mltrail.server.auth.rules import AUTHENTICATED
from mltrail.server.auth.store import User
from mltrail.server.routing import Call, Endpoint


class RoleBody(msgspec.Struct):
    """Every field a role route reads (each route reads its own); ids arrive as numbers or strings."""

    role_id: Any = None
    role_permission_id: Any = None
    name: Any = None
    workspace: Any = None
    description: Any = None
    resource_type: Any = None
    resource_pattern: Any = None
    permission: Any = None
    username: Any = None


class ListRolesBody(msgspec.Struct):
    workspace: list[str] = []


def _int(value: Any, name: str) -> int:
    """MLflow's ``_coerce_int_param``: an integer, else 400."""
    required(value, name)
    if isinstance(value, bool):
        raise invalid(f"Parameter '{name}' must be an integer. Got: {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Parameter '{name}' must be an integer. Got: {value!r}") from None


def _target_workspace(call: Call) -> str | None:
    """The workspace a role request is about; None when the role it names does not exist."""
    body: RoleBody = call.body
    roles = auth_store(call).roles
    try:
        if body.role_id is not None:
            return roles.get_role(_int(body.role_id, "role_id")).workspace
        if body.role_permission_id is not None:
            rp = roles.get_permission(_int(body.role_permission_id, "role_permission_id"))
            return roles.get_role(rp.role_id).workspace
    except MltrailException as err:
        if err.error_code == RESOURCE_DOES_NOT_EXIST:
            return None
        raise
    if body.workspace is not None:
        if not isinstance(body.workspace, str) or not body.workspace.strip():
            raise invalid("Parameter 'workspace' must be a non-empty string.")
        return body.workspace
    raise invalid("Request must include one of: role_id, role_permission_id, workspace.")


def _can_manage(call: Call) -> User:
    """Admins, or a workspace admin of the request's workspace (MLflow's ``validate_can_manage_roles``)."""
    user = caller(call)
    if user.is_admin:
        return user
    workspace = _target_workspace(call)
    if workspace is None or workspace not in auth_store(call).roles.admin_workspaces(user.id):
        raise denied()
    return user


def _can_view(call: Call) -> User:
    """Admins, or a holder of any role in the request's workspace (``validate_can_view_roles``)."""
    user = caller(call)
    if user.is_admin:
        return user
    workspace = _target_workspace(call)
    if workspace is None or workspace not in auth_store(call).roles.present_workspaces(user.id):
        raise denied()
    return user


# ------------------------------------------------------------------ roles
def create_role(call: Call) -> dict[str, Any]:
    _can_manage(call)
    body: RoleBody = call.body
    if body.name is None:
        required(None, "name")
    if body.workspace is None:
        required(None, "workspace")
    if not isinstance(body.name, str) or not body.name.strip():
        raise invalid("Role name cannot be empty.")
    if not isinstance(body.workspace, str) or not body.workspace.strip():
        raise invalid("Workspace cannot be empty.")
    description = check_description(body.description, nullable=True)
    return {"role": auth_store(call).roles.create_role(body.name, body.workspace, description).to_json()}


def get_role(call: Call) -> dict[str, Any]:
    _can_view(call)
    return {"role": auth_store(call).roles.get_role(_int(call.body.role_id, "role_id")).to_json()}


def list_roles(call: Call) -> dict[str, Any]:
    """A repeated ``workspace`` scopes the list (a non-admin needs a role in each); none lists all (admins)."""
    user = caller(call)
    requested = call.body.workspace
    if not user.is_admin:
        wanted = {w.strip() for w in requested if w.strip()}
        if not wanted or not wanted <= auth_store(call).roles.present_workspaces(user.id):
            raise denied()
    for workspace in requested:
        if not workspace.strip():
            raise invalid("Parameter 'workspace' must be a non-empty string when provided.")
    roles = auth_store(call).roles.list_roles(requested or None)
    return {"roles": [r.to_json() for r in roles]}


def update_role(call: Call) -> dict[str, Any]:
    _can_manage(call)
    body: RoleBody = call.body
    role_id = _int(body.role_id, "role_id")
    if body.name is None and body.description is None:
        raise invalid("At least one of 'name' or 'description' must be provided to update a role.")
    if body.name is not None and (not isinstance(body.name, str) or not body.name.strip()):
        raise invalid("Role name cannot be empty.")
    if body.description is not None:
        check_description(body.description, nullable=False)
    role = auth_store(call).roles.update_role(role_id, name=body.name, description=body.description)
    return {"role": role.to_json()}


def delete_role(call: Call) -> None:
    _can_manage(call)
    auth_store(call).roles.delete_role(_int(call.body.role_id, "role_id"))


# ------------------------------------------------------------------ role permissions
def add_role_permission(call: Call) -> dict[str, Any]:
    _can_manage(call)
    body: RoleBody = call.body
    role_id = _int(body.role_id, "role_id")
    resource_type = required(body.resource_type, "resource_type")
    resource_pattern = required(body.resource_pattern, "resource_pattern")
    permission = required(body.permission, "permission")
    rp = auth_store(call).roles.add_permission(role_id, resource_type, resource_pattern, permission)
    return {"role_permission": rp.to_json()}


def remove_role_permission(call: Call) -> None:
    _can_manage(call)
    auth_store(call).roles.remove_permission(_int(call.body.role_permission_id, "role_permission_id"))


def list_role_permissions(call: Call) -> dict[str, Any]:
    _can_view(call)
    perms = auth_store(call).roles.list_permissions(_int(call.body.role_id, "role_id"))
    return {"role_permissions": [p.to_json() for p in perms]}


def update_role_permission(call: Call) -> dict[str, Any]:
    _can_manage(call)
    body: RoleBody = call.body
    rp_id = _int(body.role_permission_id, "role_permission_id")
    permission = required(body.permission, "permission")
    return {"role_permission": auth_store(call).roles.update_permission(rp_id, permission).to_json()}


# ------------------------------------------------------------------ assignments
def _user_and_role(call: Call) -> tuple[int, int]:
    body: RoleBody = call.body
    username = required(body.username, "username")
    role_id = _int(body.role_id, "role_id")
    return auth_store(call).get_user(username).id, role_id


def assign_role(call: Call) -> dict[str, Any]:
    _can_manage(call)
    user_id, role_id = _user_and_role(call)
    return {"assignment": auth_store(call).roles.assign(user_id, role_id).to_json()}


def unassign_role(call: Call) -> None:
    _can_manage(call)
    user_id, role_id = _user_and_role(call)
    auth_store(call).roles.unassign(user_id, role_id)


def list_user_roles(call: Call) -> dict[str, Any]:
    """Admins and the user see every role; a workspace admin sees those of the workspaces they
    administer, for users holding a role there."""
    user = caller(call)
    username = required(call.body.username, "username")
    store = auth_store(call)
    if user.is_admin or user.username == username:
        return {"roles": [r.to_json() for r in store.roles.roles_of(store.get_user(username).id)]}
    admin_of = store.roles.admin_workspaces(user.id)
    target = store.get_user(username) if store.has_user(username) else None
    if target is None or not admin_of & store.roles.present_workspaces(target.id):
        raise denied()
    return {"roles": [r.to_json() for r in store.roles.roles_of(target.id) if r.workspace in admin_of]}


def list_role_users(call: Call) -> dict[str, Any]:
    _can_manage(call)
    assignments = auth_store(call).roles.role_users(_int(call.body.role_id, "role_id"))
    return {"assignments": [a.to_json() for a in assignments]}


# ------------------------------------------------------------------ the route table
def _ep(path: str, method: str, handler: Any, summary: str, request: type = RoleBody) -> Endpoint:
    return Endpoint(path, (method,), handler, request=request, summary=summary, tags=("auth",), versions=("3.0",))


ROLE_ENDPOINTS: list[Endpoint] = [
    _ep("/roles/create", "POST", create_role, "Create a role in a workspace (admin, workspace admin)"),
    _ep("/roles/get", "GET", get_role, "Get a role and its permissions"),
    _ep("/roles/list", "GET", list_roles, "List the roles of workspaces", ListRolesBody),
    _ep("/roles/update", "PATCH", update_role, "Rename or describe a role"),
    _ep("/roles/delete", "DELETE", delete_role, "Delete a role"),
    _ep("/roles/permissions/add", "POST", add_role_permission, "Give a role a permission"),
    _ep("/roles/permissions/remove", "DELETE", remove_role_permission, "Take a permission from a role"),
    _ep("/roles/permissions/list", "GET", list_role_permissions, "A role's permissions"),
    _ep("/roles/permissions/update", "PATCH", update_role_permission, "Change a role permission's level"),
    _ep("/roles/assign", "POST", assign_role, "Assign a role to a user"),
    _ep("/roles/unassign", "DELETE", unassign_role, "Take a role from a user"),
    _ep("/users/roles/list", "GET", list_user_roles, "A user's roles"),
    _ep("/roles/users/list", "GET", list_role_users, "A role's users"),
]


def _auth_rules() -> dict[tuple[str, str], Any]:
    """Every route checks its own caller (above); the route-level rule only requires a login."""
    return {(ep.path, method): AUTHENTICATED for ep in ROLE_ENDPOINTS for method in ep.methods}


#: Read by :func:`mltrail.server.auth.rules.declared_rule`.
AUTH_RULES = _auth_rules()
