"""MLflow's auth REST API, mounted only with ``--app-name basic-auth``.

Both families the official clients call:

* users: ``/api/2.0/mlflow/users/create|get|current|list|update-password|update-admin|delete``;
* MLflow 2.x permissions: ``/api/2.0/mlflow/experiments/permissions/create|get|update|delete``
  and ``/api/2.0/mlflow/registered-models/permissions/...``;
* MLflow 3.x per-user grants: ``/api/3.0/mlflow/users/permissions/grant|revoke|get``;
* mltrail's API tokens (for ``MLFLOW_TRACKING_TOKEN``): ``/api/2.0/mltrail/users/tokens/create|list|delete``.

Who may call what follows MLflow: admins anything; a user may read themselves and
change their own password (giving the current one); managing a resource's
permissions needs MANAGE on it (an admin's, a workspace admin's, or a grant's).
MLflow 3.17's roles are in :mod:`mltrail.server.auth.role_handlers`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.exceptions import (
    BAD_REQUEST,
    NOT_IMPLEMENTED,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MltrailException,
    invalid,
)
from mltrail.server.auth.calls import auth_store, caller, require_admin, required
from mltrail.server.auth.permissions import RESOURCE_TYPES, Permission, get_permission
from mltrail.server.auth.resolve import effective_permission as _effective
from mltrail.server.auth.role_handlers import ROLE_ENDPOINTS
from mltrail.server.auth.rules import AUTHENTICATED
from mltrail.server.auth.store import GATEWAY_GRANTS, AuthStore, User
from mltrail.server.routing import Call, Endpoint

EXPERIMENT, REGISTERED_MODEL = "experiment", "registered_model"
# MLflow 3.17's resource types (mltrail stores per-user grants on experiments, registered models
# and the AI gateway's endpoints, model definitions and secrets; roles may name any of them).
_MLFLOW_RESOURCE_TYPES = tuple(sorted(RESOURCE_TYPES))
# MLflow 3.17 refuses NO_PERMISSIONS on a resource grant made through the 3.x API.
_GRANTABLE = ("DENY", "EDIT", "MANAGE", "READ", "USE")


# ------------------------------------------------------------------ request bodies
class UsernameBody(msgspec.Struct):
    username: str = ""


class CreateUser(msgspec.Struct):
    username: str = ""
    password: str = ""


class UpdatePassword(msgspec.Struct):
    username: str = ""
    password: str = ""
    current_password: str | None = None


class UpdateAdmin(msgspec.Struct):
    username: str = ""
    is_admin: bool | None = None


class ExperimentPermissionBody(msgspec.Struct):
    experiment_id: str = ""
    username: str = ""
    permission: str = ""


class ModelPermissionBody(msgspec.Struct):
    name: str = ""
    username: str = ""
    permission: str = ""


class UserPermissionBody(msgspec.Struct):
    username: str = ""
    resource_type: str = ""
    resource_id: str = ""
    permission: str = ""


class TokenBody(msgspec.Struct):
    name: str = ""
    username: str = ""
    id: int | None = None


# ------------------------------------------------------------------ helpers
_required = required
_store = auth_store
_caller = caller
_require_admin = require_admin


def _require_admin_or_self(call: Call, username: str) -> User:
    caller = _caller(call)
    if not (caller.is_admin or caller.username == username):
        raise MltrailException("Permission denied", error_code=PERMISSION_DENIED)
    return caller


def effective_permission(call: Call, resource_type: str, resource_id: str, username: str) -> Permission:
    """A user's explicit grant folded with their roles' grants, else what an absent grant gives."""
    return _effective(call.state.auth, username, resource_type, resource_id)


def _require_manage(call: Call, resource_type: str, resource_id: str) -> None:
    """MLflow's ``validate_can_manage_*``: admins, or MANAGE on the resource."""
    caller = _caller(call)
    if caller.is_admin or effective_permission(call, resource_type, resource_id, caller.username).can_manage:
        return
    raise MltrailException("Permission denied", error_code=PERMISSION_DENIED)


def _user_json(store: AuthStore, user: User) -> dict[str, Any]:
    """MLflow's user JSON, with the grant lists MLflow 2.x clients read."""
    return {
        **user.to_json(),
        "experiment_permissions": [
            {"experiment_id": key, "user_id": user.id, "permission": perm.name}
            for key, perm in store.experiment_permissions_of(user.username).items()
        ],
        "registered_model_permissions": [
            {"name": key, "user_id": user.id, "permission": perm.name}
            for key, perm in store.registered_model_permissions_of(user.username).items()
        ],
    }


# ------------------------------------------------------------------ users
def create_user(call: Call) -> dict[str, Any]:
    _require_admin(call)
    body: CreateUser = call.body
    if not body.username or not body.password:
        raise invalid("Username and password cannot be empty.")
    store = _store(call)
    return {"user": _user_json(store, store.create_user(body.username, body.password))}


def get_user(call: Call) -> dict[str, Any]:
    username = _required(call.body.username, "username")
    _require_admin_or_self(call, username)
    store = _store(call)
    return {"user": _user_json(store, store.get_user(username))}


def get_current_user(call: Call) -> dict[str, Any]:
    return {"user": _caller(call).to_json(), "is_basic_auth": True}


def list_users(call: Call) -> dict[str, Any]:
    """Every user with their roles: all of them for admins and oneself, else only the roles in
    workspaces the caller administers (MLflow 3.17)."""
    caller = _caller(call)  # any signed-in user, as MLflow 3.17 without workspaces
    store = _store(call)
    roles_of = store.roles.roles_of_users()
    admin_of = None if caller.is_admin else store.roles.admin_workspaces(caller.id)
    out = []
    for user in store.list_users():
        roles = roles_of.get(user.id, [])
        if admin_of is not None and user.username != caller.username:
            roles = [r for r in roles if r.workspace in admin_of]
        out.append({**user.to_json(), "roles": [r.to_json() for r in roles]})
    return {"users": out}


def update_user_password(call: Call) -> None:
    body: UpdatePassword = call.body
    username = _required(body.username, "username")
    password = _required(body.password, "password")
    caller = _require_admin_or_self(call, username)
    store = _store(call)
    if caller.username == username:
        # Self-service re-asserts the current password, so a hijacked session cannot rotate it (MLflow 3.17).
        if not body.current_password:
            raise invalid("Current password is required when changing your own password.")
        if store.authenticate(username, body.current_password) is None:
            raise invalid("Current password does not match.")
        if password == body.current_password:
            raise invalid("New password must differ from the current password.")
    store.update_user(username, password=password)


def update_user_admin(call: Call) -> None:
    _require_admin(call)
    body: UpdateAdmin = call.body
    username = _required(body.username, "username")
    is_admin = _required(body.is_admin, "is_admin")
    _store(call).update_user(username, is_admin=is_admin)


def delete_user(call: Call) -> None:
    caller = _require_admin(call)
    username = _required(call.body.username, "username")
    if username == caller.username:
        raise MltrailException(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
            error_code=BAD_REQUEST,
        )
    _store(call).delete_user(username)


# ------------------------------------------------------------------ MLflow 2.x permissions
def _experiment_args(call: Call, *, with_permission: bool) -> tuple[str, str, str]:
    body: ExperimentPermissionBody = call.body
    experiment_id = str(_required(body.experiment_id, "experiment_id"))
    username = _required(body.username, "username")
    permission = _required(body.permission, "permission") if with_permission else ""
    _require_manage(call, EXPERIMENT, experiment_id)
    return experiment_id, username, permission


def _model_args(call: Call, *, with_permission: bool) -> tuple[str, str, str]:
    body: ModelPermissionBody = call.body
    name = _required(body.name, "name")
    username = _required(body.username, "username")
    permission = _required(body.permission, "permission") if with_permission else ""
    _require_manage(call, REGISTERED_MODEL, name)
    return name, username, permission


def _experiment_permission_json(experiment_id: str, user_id: int, perm: Permission) -> dict[str, Any]:
    return {
        "experiment_permission": {"experiment_id": experiment_id, "user_id": user_id, "permission": perm.name}
    }


def _model_permission_json(name: str, user_id: int, perm: Permission) -> dict[str, Any]:
    return {"registered_model_permission": {"name": name, "user_id": user_id, "permission": perm.name}}


def create_experiment_permission(call: Call) -> dict[str, Any]:
    experiment_id, username, permission = _experiment_args(call, with_permission=True)
    user_id, perm = _store(call).create_experiment_permission(experiment_id, username, permission)
    return _experiment_permission_json(experiment_id, user_id, perm)


def get_experiment_permission(call: Call) -> dict[str, Any]:
    experiment_id, username, _ = _experiment_args(call, with_permission=False)
    user_id, perm = _store(call).get_experiment_permission(experiment_id, username)
    return _experiment_permission_json(experiment_id, user_id, perm)


def update_experiment_permission(call: Call) -> None:
    experiment_id, username, permission = _experiment_args(call, with_permission=True)
    _store(call).update_experiment_permission(experiment_id, username, permission)


def delete_experiment_permission(call: Call) -> None:
    experiment_id, username, _ = _experiment_args(call, with_permission=False)
    _store(call).delete_experiment_permission(experiment_id, username)


def create_registered_model_permission(call: Call) -> dict[str, Any]:
    name, username, permission = _model_args(call, with_permission=True)
    user_id, perm = _store(call).create_registered_model_permission(name, username, permission)
    return _model_permission_json(name, user_id, perm)


def get_registered_model_permission(call: Call) -> dict[str, Any]:
    name, username, _ = _model_args(call, with_permission=False)
    user_id, perm = _store(call).get_registered_model_permission(name, username)
    return _model_permission_json(name, user_id, perm)


def update_registered_model_permission(call: Call) -> None:
    name, username, permission = _model_args(call, with_permission=True)
    _store(call).update_registered_model_permission(name, username, permission)


def delete_registered_model_permission(call: Call) -> None:
    name, username, _ = _model_args(call, with_permission=False)
    _store(call).delete_registered_model_permission(name, username)


# ------------------------------------------------------------------ MLflow 3.x per-user grants
def _resource(body: UserPermissionBody) -> tuple[str, str, str]:
    username = _required(body.username, "username")
    resource_type = _required(body.resource_type, "resource_type")
    resource_id = str(_required(body.resource_id, "resource_id"))
    if resource_type == "workspace":
        raise invalid(
            "resource_type 'workspace' is not supported by the per-user permission convenience APIs. "
            "Use set_workspace_permission / delete_workspace_permission for workspace-wide grants."
        )
    if resource_type not in _MLFLOW_RESOURCE_TYPES:
        raise invalid(
            f"Invalid resource type '{resource_type}'. Valid resource types are: {_MLFLOW_RESOURCE_TYPES}"
        )
    if resource_type not in (EXPERIMENT, REGISTERED_MODEL, *GATEWAY_GRANTS):
        raise MltrailException(
            f"resource_type '{resource_type}' is not implemented by mltrail; grant permissions on "
            f"{', '.join(map(repr, (EXPERIMENT, REGISTERED_MODEL, *GATEWAY_GRANTS)))}",
            error_code=NOT_IMPLEMENTED,
        )
    if resource_id == "*":
        raise MltrailException(
            "Wildcard ('*') grants are not implemented by mltrail; grant per experiment or registered model",
            error_code=NOT_IMPLEMENTED,
        )
    return username, resource_type, resource_id


def grant_user_permission(call: Call) -> None:
    body: UserPermissionBody = call.body
    username, resource_type, resource_id = _resource(body)
    permission = _required(body.permission, "permission")
    get_permission(permission)
    if permission not in _GRANTABLE:
        raise invalid(
            f"Invalid permission '{permission}' for resource_type='{resource_type}'. "
            f"Resource-level grants accept only: {_GRANTABLE}."
        )
    _require_manage(call, resource_type, resource_id)
    store = _store(call)
    try:
        if resource_type == EXPERIMENT:
            store.create_experiment_permission(resource_id, username, permission)
        elif resource_type in GATEWAY_GRANTS:
            store.create_gateway_permission(resource_type, resource_id, username, permission)
        else:
            store.create_registered_model_permission(resource_id, username, permission)
    except MltrailException as err:
        if err.error_code != RESOURCE_ALREADY_EXISTS:
            raise
        raise MltrailException(
            f"Permission for user={username} on resource_type={resource_type}, "
            f"resource_id={resource_id} already exists.",
            error_code=RESOURCE_ALREADY_EXISTS,
        ) from None


def revoke_user_permission(call: Call) -> None:
    username, resource_type, resource_id = _resource(call.body)
    _require_manage(call, resource_type, resource_id)
    store = _store(call)
    store.get_user(username)
    try:
        if resource_type == EXPERIMENT:
            store.delete_experiment_permission(resource_id, username)
        elif resource_type in GATEWAY_GRANTS:
            store.delete_gateway_permission(resource_type, resource_id, username)
        else:
            store.delete_registered_model_permission(resource_id, username)
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
        raise MltrailException(
            f"Permission for user={username} on resource_type={resource_type}, resource_id={resource_id} not found.",
            error_code=RESOURCE_DOES_NOT_EXIST,
        ) from None


def get_user_permission(call: Call) -> dict[str, Any]:
    username, resource_type, resource_id = _resource(call.body)
    _require_admin_or_self(call, username)
    _store(call).get_user(username)
    perm = effective_permission(call, resource_type, resource_id, username)
    # `allowed` mirrors can_use, as MLflow 3.17 (READ alone is not "allowed").
    return {"allowed": perm.can_use, "permission": perm.name}


def _permission_rows(call: Call, user: User, visible: set[str] | None = None) -> dict[str, Any]:
    """MLflow 3.x's permission listing: per-user grants appear on the user's own ``__user_<id>__``
    role (``role_id`` 0, workspace ``default``: mltrail keeps them in their own tables), then
    every permission of every role assigned to the user (those in ``visible`` workspaces only,
    when given)."""
    store = _store(call)
    role = {"role_id": 0, "role_name": f"__user_{user.id}__", "workspace": "default"}
    rows = [
        {**role, "resource_type": kind, "resource_pattern": key, "permission": perm.name}
        for kind, grants in (
            (EXPERIMENT, store.experiment_permissions_of(user.username)),
            (REGISTERED_MODEL, store.registered_model_permissions_of(user.username)),
            *((kind, store.gateway_permissions_of(kind, user.username)) for kind in GATEWAY_GRANTS),
        )
        for key, perm in grants.items()
    ]
    if visible is not None:
        rows = [r for r in rows if r["workspace"] in visible]
    rows += [
        {"role_id": r.id, "role_name": r.name, "workspace": r.workspace, "resource_type": p.resource_type,
         "resource_pattern": p.resource_pattern, "permission": p.permission}
        for r in store.roles.roles_of(user.id)
        if visible is None or r.workspace in visible
        for p in r.permissions
    ]  # fmt: skip
    return {"is_admin": user.is_admin, "permissions": rows}


def list_current_user_permissions(call: Call) -> dict[str, Any]:
    return _permission_rows(call, _caller(call))


def list_user_permissions(call: Call) -> dict[str, Any]:
    """Admins and the user see every row; a workspace admin of a workspace the user has a role in
    sees the rows of the workspaces they administer (MLflow 3.17)."""
    username = _required(call.body.username, "username")
    caller = _caller(call)
    store = _store(call)
    if caller.is_admin or caller.username == username:
        return _permission_rows(call, store.get_user(username))
    target = _visible_user(call, caller, username)
    return _permission_rows(call, target, store.roles.admin_workspaces(caller.id))


def _visible_user(call: Call, caller: User, username: str) -> User:
    """``username`` if ``caller`` administers a workspace in which that user holds a role, else 403."""
    store = _store(call)
    if store.has_user(username):
        target = store.get_user(username)
        if store.roles.admin_workspaces(caller.id) & store.roles.present_workspaces(target.id):
            return target
    raise MltrailException("Permission denied", error_code=PERMISSION_DENIED)


# ------------------------------------------------------------------ API tokens (mltrail)
def _token_owner(call: Call, username: str) -> str:
    caller = _caller(call)
    if username and username != caller.username:
        if not caller.is_admin:
            raise MltrailException("Permission denied", error_code=PERMISSION_DENIED)
        return username
    return caller.username


def create_token(call: Call) -> dict[str, Any]:
    body: TokenBody = call.body
    token, info = _store(call).create_token(_token_owner(call, body.username), body.name)
    return {"token": token, "access_token": info.to_json()}


def list_tokens(call: Call) -> dict[str, Any]:
    owner = _token_owner(call, call.body.username)
    return {"access_tokens": [t.to_json() for t in _store(call).list_tokens(owner)]}


def delete_token(call: Call) -> None:
    body: TokenBody = call.body
    _store(call).delete_token(_token_owner(call, body.username), int(_required(body.id, "id")))


# ------------------------------------------------------------------ the route table
def _ep(path: str, method: str, handler: Any, request: type | None, summary: str, **kw: Any) -> Endpoint:
    return Endpoint(path, (method,), handler, request=request, summary=summary, tags=("auth",), **kw)



ENDPOINTS: list[Endpoint] = [
    _ep("/users/create", "POST", create_user, CreateUser, "Create a user (admin)"),
    _ep("/users/get", "GET", get_user, UsernameBody, "Get a user (admin or self)"),
    _ep("/users/current", "GET", get_current_user, None, "The signed-in user"),
    _ep("/users/list", "GET", list_users, None, "List users"),
    _ep("/users/update-password", "PATCH", update_user_password, UpdatePassword, "Change a password"),
    _ep("/users/update-admin", "PATCH", update_user_admin, UpdateAdmin, "Grant or revoke admin (admin)"),
    _ep("/users/delete", "DELETE", delete_user, UsernameBody, "Delete a user (admin)"),
    _ep("/experiments/permissions/create", "POST", create_experiment_permission, ExperimentPermissionBody,
        "Grant a permission on an experiment"),
    _ep("/experiments/permissions/get", "GET", get_experiment_permission, ExperimentPermissionBody,
        "Get a user's permission on an experiment"),
    _ep("/experiments/permissions/update", "PATCH", update_experiment_permission, ExperimentPermissionBody,
        "Change a user's permission on an experiment"),
    _ep("/experiments/permissions/delete", "DELETE", delete_experiment_permission, ExperimentPermissionBody,
        "Remove a user's permission on an experiment"),
    _ep("/registered-models/permissions/create", "POST", create_registered_model_permission,
        ModelPermissionBody, "Grant a permission on a registered model"),
    _ep("/registered-models/permissions/get", "GET", get_registered_model_permission, ModelPermissionBody,
        "Get a user's permission on a registered model"),
    _ep("/registered-models/permissions/update", "PATCH", update_registered_model_permission,
        ModelPermissionBody, "Change a user's permission on a registered model"),
    _ep("/registered-models/permissions/delete", "DELETE", delete_registered_model_permission,
        ModelPermissionBody, "Remove a user's permission on a registered model"),
    _ep("/users/permissions/grant", "POST", grant_user_permission, UserPermissionBody,
        "Grant a user a permission on a resource", versions=("3.0",)),
    _ep("/users/permissions/revoke", "POST", revoke_user_permission, UserPermissionBody,
        "Revoke a user's permission on a resource", versions=("3.0",)),
    _ep("/users/permissions/get", "GET", get_user_permission, UserPermissionBody,
        "A user's effective permission on a resource", versions=("3.0",)),
    _ep("/users/current/permissions", "GET", list_current_user_permissions, None,
        "The signed-in user's grants", versions=("3.0",)),
    _ep("/users/permissions/list", "GET", list_user_permissions, UsernameBody,
        "A user's grants (admin or self)", versions=("3.0",)),
    _ep("/users/tokens/create", "POST", create_token, TokenBody, "Create an API token (Bearer)",
        service="mltrail"),
    _ep("/users/tokens/list", "GET", list_tokens, TokenBody, "List API tokens", service="mltrail"),
    _ep("/users/tokens/delete", "DELETE", delete_token, TokenBody, "Revoke an API token", service="mltrail"),
    *ROLE_ENDPOINTS,
]  # fmt: skip


def _auth_rules() -> dict[tuple[str, str], Any]:
    """Every endpoint here checks its own caller: the route-level rule only requires a login."""
    return {(ep.path, method): AUTHENTICATED for ep in ENDPOINTS for method in ep.methods}


#: Read by :func:`mltrail.server.auth.rules.declared_rule`.
AUTH_RULES = _auth_rules()
