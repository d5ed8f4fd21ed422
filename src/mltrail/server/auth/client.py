"""``AuthServiceClient``: manage users and permissions of a ``basic-auth`` server from Python.

The same methods as MLflow's ``mlflow.server.auth.client.AuthServiceClient``
(3.x and the 2.x permission calls), plus mltrail's API tokens. It sends the
credentials of ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``MLFLOW_TRACKING_TOKEN``), read when the client is made.

Example::

    import mltrail.server

    client = mltrail.server.get_app_client("basic-auth", tracking_uri="http://localhost:5000")
    user = client.create_user("alice", "a-long-password")
    client.create_experiment_permission("1", "alice", "EDIT")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mltrail.protocol.routes import MLTRAIL, service_root
from mltrail.store._http import HttpSession

_V2 = service_root("2.0")
_V3 = service_root("3.0")
_TOKENS = service_root("2.0", MLTRAIL) + "/users/tokens"


@dataclass(frozen=True)
class ExperimentPermission:
    experiment_id: str
    user_id: int
    permission: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExperimentPermission:
        return cls(str(d["experiment_id"]), int(d["user_id"]), d["permission"])


@dataclass(frozen=True)
class RegisteredModelPermission:
    name: str
    user_id: int
    permission: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RegisteredModelPermission:
        return cls(d["name"], int(d["user_id"]), d["permission"])


@dataclass(frozen=True)
class User:
    """A user as the server reports it (the hash is never sent: ``password_hash`` is ``"REDACTED"``)."""

    id: int
    username: str
    is_admin: bool
    password_hash: str = "REDACTED"
    experiment_permissions: list[ExperimentPermission] = field(default_factory=list)
    registered_model_permissions: list[RegisteredModelPermission] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> User:
        return cls(
            int(d["id"]),
            d["username"],
            bool(d["is_admin"]),
            experiment_permissions=[
                ExperimentPermission.from_json(p) for p in d.get("experiment_permissions", [])
            ],
            registered_model_permissions=[
                RegisteredModelPermission.from_json(p) for p in d.get("registered_model_permissions", [])
            ],
        )


@dataclass(frozen=True)
class RolePermission:
    """A permission of a role: ``permission`` on ``resource_type`` resources matching ``resource_pattern``."""

    id: int
    role_id: int
    resource_type: str
    resource_pattern: str
    permission: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RolePermission:
        return cls(int(d["id"]), int(d["role_id"]), d["resource_type"], d["resource_pattern"], d["permission"])


@dataclass(frozen=True)
class Role:
    """A role of a workspace with its permissions."""

    id: int
    name: str
    workspace: str
    description: str | None = None
    permissions: list[RolePermission] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Role:
        return cls(
            int(d["id"]),
            d["name"],
            d.get("workspace", "default"),
            d.get("description"),
            [RolePermission.from_json(p) for p in d.get("permissions", [])],
        )


@dataclass(frozen=True)
class UserRoleAssignment:
    """A user's membership of a role."""

    id: int
    user_id: int
    role_id: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UserRoleAssignment:
        return cls(int(d["id"]), int(d["user_id"]), int(d["role_id"]))


@dataclass(frozen=True)
class GetUserPermissionResult:
    allowed: bool
    permission: str


class AuthServiceClient:
    """Client of a tracking server started with ``--app-name basic-auth``."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._http = HttpSession(tracking_uri)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if method == "GET":
            return self._http.call(
                method, path, params={k: v for k, v in (body or {}).items() if v is not None}
            )
        return self._http.call(method, path, json=body or {})

    # ---------------------------------------------------------------- users
    def create_user(self, username: str, password: str) -> User:
        """Create a user (admin only); the password must have at least 12 characters."""
        return User.from_json(
            self._call("POST", f"{_V2}/users/create", {"username": username, "password": password})["user"]
        )

    def get_user(self, username: str) -> User:
        return User.from_json(self._call("GET", f"{_V2}/users/get", {"username": username})["user"])

    def get_current_user(self) -> User:
        """The user these credentials sign in as (mltrail addition)."""
        return User.from_json(self._call("GET", f"{_V2}/users/current")["user"])

    def list_users(self) -> list[User]:
        """Every user (mltrail addition; MLflow's UI uses the same endpoint)."""
        return [User.from_json(u) for u in self._call("GET", f"{_V2}/users/list")["users"]]

    def update_user_password(self, username: str, password: str, current_password: str | None = None) -> None:
        """Change a password; changing your own needs ``current_password`` (as MLflow 3.17)."""
        body: dict[str, Any] = {"username": username, "password": password}
        if current_password is not None:
            body["current_password"] = current_password
        self._call("PATCH", f"{_V2}/users/update-password", body)

    def update_user_admin(self, username: str, is_admin: bool) -> None:
        self._call("PATCH", f"{_V2}/users/update-admin", {"username": username, "is_admin": is_admin})

    def delete_user(self, username: str) -> None:
        self._call("DELETE", f"{_V2}/users/delete", {"username": username})

    # ------------------------------------------------- MLflow 2.x permissions
    def create_experiment_permission(
        self, experiment_id: str, username: str, permission: str
    ) -> ExperimentPermission:
        body = {"experiment_id": experiment_id, "username": username, "permission": permission}
        resp = self._call("POST", f"{_V2}/experiments/permissions/create", body)
        return ExperimentPermission.from_json(resp["experiment_permission"])

    def get_experiment_permission(self, experiment_id: str, username: str) -> ExperimentPermission:
        body = {"experiment_id": experiment_id, "username": username}
        resp = self._call("GET", f"{_V2}/experiments/permissions/get", body)
        return ExperimentPermission.from_json(resp["experiment_permission"])

    def update_experiment_permission(self, experiment_id: str, username: str, permission: str) -> None:
        body = {"experiment_id": experiment_id, "username": username, "permission": permission}
        self._call("PATCH", f"{_V2}/experiments/permissions/update", body)

    def delete_experiment_permission(self, experiment_id: str, username: str) -> None:
        self._call(
            "DELETE",
            f"{_V2}/experiments/permissions/delete",
            {"experiment_id": experiment_id, "username": username},
        )

    def create_registered_model_permission(
        self, name: str, username: str, permission: str
    ) -> RegisteredModelPermission:
        body = {"name": name, "username": username, "permission": permission}
        resp = self._call("POST", f"{_V2}/registered-models/permissions/create", body)
        return RegisteredModelPermission.from_json(resp["registered_model_permission"])

    def get_registered_model_permission(self, name: str, username: str) -> RegisteredModelPermission:
        resp = self._call(
            "GET", f"{_V2}/registered-models/permissions/get", {"name": name, "username": username}
        )
        return RegisteredModelPermission.from_json(resp["registered_model_permission"])

    def update_registered_model_permission(self, name: str, username: str, permission: str) -> None:
        body = {"name": name, "username": username, "permission": permission}
        self._call("PATCH", f"{_V2}/registered-models/permissions/update", body)

    def delete_registered_model_permission(self, name: str, username: str) -> None:
        self._call(
            "DELETE", f"{_V2}/registered-models/permissions/delete", {"name": name, "username": username}
        )

    # --------------------------------------------------- MLflow 3.x grants
    def grant_user_permission(
        self, username: str, resource_type: str, resource_id: str, permission: str
    ) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call("POST", f"{_V3}/users/permissions/grant", {**body, "permission": permission})

    def revoke_user_permission(self, username: str, resource_type: str, resource_id: str) -> None:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        self._call("POST", f"{_V3}/users/permissions/revoke", body)

    def get_user_permission(
        self, username: str, resource_type: str, resource_id: str
    ) -> GetUserPermissionResult:
        body = {"username": username, "resource_type": resource_type, "resource_id": resource_id}
        resp = self._call("GET", f"{_V3}/users/permissions/get", body)
        return GetUserPermissionResult(bool(resp["allowed"]), resp["permission"])

    # -------------------------------------------------- API tokens (mltrail)
    def create_token(self, name: str = "", username: str | None = None) -> str:
        """A new API token (for ``MLFLOW_TRACKING_TOKEN``), yours or, as an admin, ``username``'s.

        The token is shown only now; the server keeps a hash of it.
        """
        return self._call("POST", f"{_TOKENS}/create", {"name": name, "username": username or ""})["token"]

    def list_tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        """The tokens' records: ``{"id", "name", "created_time"}`` (never the tokens)."""
        return self._call("GET", f"{_TOKENS}/list", {"username": username})["access_tokens"]

    def delete_token(self, token_id: int, username: str | None = None) -> None:
        self._call("DELETE", f"{_TOKENS}/delete", {"id": token_id, "username": username or ""})

    # ----------------------------------------------------- roles (MLflow 3.17)
    def create_role(self, workspace: str, name: str, description: str | None = None) -> Role:
        """A new role in ``workspace`` (admins, or that workspace's admins)."""
        body: dict[str, Any] = {"workspace": workspace, "name": name}
        if description is not None:
            body["description"] = description
        return Role.from_json(self._call("POST", f"{_V3}/roles/create", body)["role"])

    def get_role(self, role_id: int) -> Role:
        return Role.from_json(self._call("GET", f"{_V3}/roles/get", {"role_id": str(role_id)})["role"])

    def list_roles(self, workspace: str) -> list[Role]:
        """The roles of one workspace."""
        return [Role.from_json(r) for r in self._call("GET", f"{_V3}/roles/list", {"workspace": workspace})["roles"]]

    def list_all_roles(self) -> list[Role]:
        """Every role of every workspace (admins)."""
        return [Role.from_json(r) for r in self._call("GET", f"{_V3}/roles/list")["roles"]]

    def update_role(self, role_id: int, name: str | None = None, description: str | None = None) -> Role:
        body: dict[str, Any] = {"role_id": role_id}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        return Role.from_json(self._call("PATCH", f"{_V3}/roles/update", body)["role"])

    def delete_role(self, role_id: int) -> None:
        self._call("DELETE", f"{_V3}/roles/delete", {"role_id": role_id})

    def add_role_permission(
        self, role_id: int, resource_type: str, resource_pattern: str, permission: str
    ) -> RolePermission:
        """Give a role ``permission`` on ``resource_type`` resources matching ``resource_pattern``
        (an id or ``"*"``); ``workspace`` takes ``"*"`` with USE (member) or MANAGE (workspace admin)."""
        body = {
            "role_id": role_id, "resource_type": resource_type,
            "resource_pattern": resource_pattern, "permission": permission,
        }  # fmt: skip
        return RolePermission.from_json(self._call("POST", f"{_V3}/roles/permissions/add", body)["role_permission"])

    def remove_role_permission(self, role_permission_id: int) -> None:
        self._call("DELETE", f"{_V3}/roles/permissions/remove", {"role_permission_id": role_permission_id})

    def list_role_permissions(self, role_id: int) -> list[RolePermission]:
        resp = self._call("GET", f"{_V3}/roles/permissions/list", {"role_id": str(role_id)})
        return [RolePermission.from_json(p) for p in resp["role_permissions"]]

    def update_role_permission(self, role_permission_id: int, permission: str) -> RolePermission:
        body = {"role_permission_id": role_permission_id, "permission": permission}
        return RolePermission.from_json(
            self._call("PATCH", f"{_V3}/roles/permissions/update", body)["role_permission"]
        )

    def assign_role(self, username: str, role_id: int) -> UserRoleAssignment:
        resp = self._call("POST", f"{_V3}/roles/assign", {"username": username, "role_id": role_id})
        return UserRoleAssignment.from_json(resp["assignment"])

    def unassign_role(self, username: str, role_id: int) -> None:
        self._call("DELETE", f"{_V3}/roles/unassign", {"username": username, "role_id": role_id})

    def list_user_roles(self, username: str) -> list[Role]:
        return [Role.from_json(r) for r in self._call("GET", f"{_V3}/users/roles/list", {"username": username})["roles"]]

    def list_role_users(self, role_id: int) -> list[UserRoleAssignment]:
        resp = self._call("GET", f"{_V3}/roles/users/list", {"role_id": str(role_id)})
        return [UserRoleAssignment.from_json(a) for a in resp["assignments"]]
