"""``RoleStore``: MLflow 3.17's roles (RBAC) in the auth database.

A role lives in one workspace, holds role permissions (a level on a resource type and a
pattern: an id or ``*``) and is assigned to users. A user's roles in the request's workspace
add to their per-user grants (:mod:`mltrail.server.auth.resolve` folds both). Names starting
with ``__user_`` are reserved, as in MLflow (its per-user grants live on such roles).

Reached as ``AuthStore.roles``; every write is one transaction and clears the store's
permission cache, so a change counts on the next request.

Example::

    role = store.roles.create_role("readers", "team-a", "Read everything")
    store.roles.add_permission(role.id, "experiment", "*", "READ")
    store.roles.assign(store.get_user("alice").id, role.id)
    store.roles.grants_of("alice", "team-a")   # -> (Grant('experiment', '*', 'READ'),)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, invalid, not_found
from mltrail.server.auth.permissions import WORKSPACE, Grant, check_grant, check_pattern
from mltrail.server.auth.tables import role_permissions, roles, user_role_assignments, users

if TYPE_CHECKING:
    from mltrail.server.auth.store import AuthStore

RESERVED_PREFIX = "__user_"
MAX_ROLE_NAME, MAX_WORKSPACE, MAX_DESCRIPTION = 255, 63, 1024
#: MLflow 3.17 gives every new workspace these roles (unless ``MLFLOW_RBAC_SEED_DEFAULT_ROLES``
#: is false): (name, permission on the workspace slot, description). Nobody holds them until an
#: admin assigns them.
DEFAULT_ROLES = (
    ("admin", "MANAGE", "Full MANAGE authority over the workspace."),
    (
        "user",
        "USE",
        "Read every resource in the workspace and create new experiments and registered models; "
        "the creator-as-owner mechanism grants MANAGE on what you create, with no write or delete "
        "access to resources owned by other users.",
    ),
)


@dataclass(frozen=True, slots=True)
class RolePermission:
    """One permission of a role."""

    id: int
    role_id: int
    resource_type: str
    resource_pattern: str
    permission: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role_id": self.role_id,
            "resource_type": self.resource_type,
            "resource_pattern": self.resource_pattern,
            "permission": self.permission,
        }


@dataclass(frozen=True, slots=True)
class Role:
    """A role and its permissions (MLflow's ``Role`` JSON)."""

    id: int
    name: str
    workspace: str
    description: str | None
    permissions: tuple[RolePermission, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "workspace": self.workspace,
            "description": self.description,
            "permissions": [p.to_json() for p in self.permissions],
        }


@dataclass(frozen=True, slots=True)
class Assignment:
    """A user's membership of a role."""

    id: int
    user_id: int
    role_id: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "user_id": self.user_id, "role_id": self.role_id}


def check_role_name(name: Any) -> str:
    """A non-blank name of at most 255 characters outside the reserved ``__user_`` namespace."""
    if not isinstance(name, str) or not name.strip():
        raise invalid("Role name cannot be empty.")
    if len(name) > MAX_ROLE_NAME:
        raise invalid(f"Role name had length {len(name)}, which exceeds the maximum length of {MAX_ROLE_NAME}")
    if name.startswith(RESERVED_PREFIX):
        raise invalid(
            f"Role name {name!r} uses the reserved '__user_' prefix, which is held for the per-user "
            "permission representation. Choose a different name."
        )
    return name


def check_description(description: Any, *, nullable: bool) -> str | None:
    if description is None and nullable:
        return None
    if not isinstance(description, str):
        raise invalid("Role description must be a string or null." if nullable else "Role description must be a string.")
    if len(description) > MAX_DESCRIPTION:
        raise invalid(f"Role description must be at most {MAX_DESCRIPTION} characters.")
    return description


def _rp(row: Any) -> RolePermission:
    return RolePermission(int(row.id), int(row.role_id), row.resource_type, row.resource_pattern, row.permission)


class RoleStore:
    """Roles, role permissions and assignments on an :class:`AuthStore`'s database."""

    def __init__(self, store: AuthStore) -> None:
        self._store = store

    # ------------------------------------------------------------ reading helpers
    @staticmethod
    def _roles(conn: sa.Connection, where: Any = None, *, join_user: int | None = None) -> list[Role]:
        stmt = sa.select(roles)
        if join_user is not None:
            stmt = stmt.join(user_role_assignments, user_role_assignments.c.role_id == roles.c.id).where(
                user_role_assignments.c.user_id == join_user
            )
        if where is not None:
            stmt = stmt.where(where)
        rows = conn.execute(stmt.order_by(roles.c.id)).all()
        if not rows:
            return []
        ids = [int(r.id) for r in rows]
        perms: dict[int, list[RolePermission]] = {i: [] for i in ids}
        for row in conn.execute(
            sa.select(role_permissions).where(role_permissions.c.role_id.in_(ids)).order_by(role_permissions.c.id)
        ):
            perms[int(row.role_id)].append(_rp(row))
        return [Role(int(r.id), r.name, r.workspace, r.description, tuple(perms[int(r.id)])) for r in rows]

    def _role(self, conn: sa.Connection, role_id: int) -> Role:
        found = self._roles(conn, roles.c.id == role_id)
        if not found:
            raise not_found(f"Role with id={role_id} not found")
        return found[0]

    @staticmethod
    def _permission_row(conn: sa.Connection, role_permission_id: int) -> Any:
        row = conn.execute(sa.select(role_permissions).where(role_permissions.c.id == role_permission_id)).first()
        if row is None:
            raise not_found(f"Role permission with id={role_permission_id} not found")
        return row

    # ------------------------------------------------------------------- roles
    def create_role(self, name: str, workspace: str, description: str | None = None) -> Role:
        """A new role; 400 ``RESOURCE_ALREADY_EXISTS`` if ``workspace`` has one of that name."""
        check_role_name(name)
        if not isinstance(workspace, str) or not workspace.strip():
            raise invalid("Workspace cannot be empty.")
        if len(workspace) > MAX_WORKSPACE:
            raise invalid(f"Workspace name must be at most {MAX_WORKSPACE} characters.")
        check_description(description, nullable=True)
        duplicate = f"Role (name={name}, workspace={workspace}) already exists."

        def insert(conn: sa.Connection) -> Role:
            exists = conn.execute(
                sa.select(roles.c.id).where(roles.c.workspace == workspace, roles.c.name == name)
            ).first()
            if exists is not None:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS)
            try:
                result = conn.execute(roles.insert().values(name=name, workspace=workspace, description=description))
            except sa.exc.IntegrityError:  # lost a race with another worker
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS) from None
            return Role(int(result.inserted_primary_key[0]), name, workspace, description)

        return self._store._write(insert)

    def get_role(self, role_id: int) -> Role:
        """The role with id ``role_id``; 404 if there is none."""
        return self._store._read(lambda conn: self._role(conn, role_id))

    def list_roles(self, workspaces: Iterable[str] | None = None) -> list[Role]:
        """Every role (``None``) or those of ``workspaces``, by id."""
        names = None if workspaces is None else list(workspaces)
        if names is not None and not names:
            return []
        where = None if names is None else roles.c.workspace.in_(names)
        return self._store._read(lambda conn: self._roles(conn, where))

    def update_role(self, role_id: int, name: str | None = None, description: str | None = None) -> Role:
        """Rename and/or describe a role; 400 ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""
        if name is not None:
            check_role_name(name)
        if description is not None:
            check_description(description, nullable=False)

        def update(conn: sa.Connection) -> Role:
            role = self._role(conn, role_id)
            values: dict[str, Any] = {}
            if name is not None:
                taken = conn.execute(
                    sa.select(roles.c.id).where(
                        roles.c.workspace == role.workspace, roles.c.name == name, roles.c.id != role_id
                    )
                ).first()
                if taken is not None:
                    raise MltrailException(
                        f"Role with name={name} already exists in workspace={role.workspace}",
                        error_code=RESOURCE_ALREADY_EXISTS,
                    )
                values["name"] = name
            if description is not None:
                values["description"] = description
            if values:
                conn.execute(roles.update().where(roles.c.id == role_id).values(**values))
            return self._role(conn, role_id)

        return self._store._write(update)

    def delete_role(self, role_id: int) -> None:
        """Delete a role with its permissions and assignments; 404 if there is none."""

        def delete(conn: sa.Connection) -> None:
            self._role(conn, role_id)
            self._delete_roles(conn, roles.c.id == role_id)

        self._store._write(delete)

    def seed_default_roles(self, workspace: str) -> list[Role]:
        """Give a new workspace MLflow's ``admin`` and ``user`` roles (:data:`DEFAULT_ROLES`), in one
        transaction; a name already taken there is left alone."""

        def insert(conn: sa.Connection) -> list[Role]:
            made = []
            for name, permission, description in DEFAULT_ROLES:
                taken = conn.execute(
                    sa.select(roles.c.id).where(roles.c.workspace == workspace, roles.c.name == name)
                ).first()
                if taken is not None:
                    continue
                role_id = conn.execute(
                    roles.insert().values(name=name, workspace=workspace, description=description)
                ).inserted_primary_key[0]
                conn.execute(
                    role_permissions.insert().values(
                        role_id=role_id, resource_type=WORKSPACE, resource_pattern="*", permission=permission
                    )
                )
                made.append(self._role(conn, int(role_id)))
            return made

        return self._store._write(insert)

    def delete_roles_for_workspace(self, workspace: str) -> None:
        """Delete every role of ``workspace`` (when the workspace is deleted)."""
        self._store._write(lambda conn: self._delete_roles(conn, roles.c.workspace == workspace))

    @staticmethod
    def _delete_roles(conn: sa.Connection, where: Any) -> None:
        ids = sa.select(roles.c.id).where(where).scalar_subquery()
        conn.execute(role_permissions.delete().where(role_permissions.c.role_id.in_(ids)))
        conn.execute(user_role_assignments.delete().where(user_role_assignments.c.role_id.in_(ids)))
        conn.execute(roles.delete().where(where))

    # --------------------------------------------------------- role permissions
    def add_permission(self, role_id: int, resource_type: str, resource_pattern: str, permission: str) -> RolePermission:
        """Give a role ``permission`` on ``resource_type``/``resource_pattern``; 400 if it has one there."""
        check_grant(permission, resource_type)
        check_pattern(resource_pattern, resource_type)
        duplicate = (
            f"Role permission (role_id={role_id}, resource_type={resource_type}, "
            f"resource_pattern={resource_pattern}) already exists."
        )

        def insert(conn: sa.Connection) -> RolePermission:
            self._role(conn, role_id)
            exists = conn.execute(
                sa.select(role_permissions.c.id).where(
                    role_permissions.c.role_id == role_id,
                    role_permissions.c.resource_type == resource_type,
                    role_permissions.c.resource_pattern == resource_pattern,
                )
            ).first()
            if exists is not None:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS)
            try:
                result = conn.execute(
                    role_permissions.insert().values(
                        role_id=role_id, resource_type=resource_type,
                        resource_pattern=resource_pattern, permission=permission,
                    )
                )
            except sa.exc.IntegrityError:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS) from None
            return RolePermission(
                int(result.inserted_primary_key[0]), role_id, resource_type, resource_pattern, permission
            )

        return self._store._write(insert)

    def get_permission(self, role_permission_id: int) -> RolePermission:
        """One role permission; 404 if there is none."""
        return self._store._read(lambda conn: _rp(self._permission_row(conn, role_permission_id)))

    def remove_permission(self, role_permission_id: int) -> None:
        """Remove one role permission; 404 if there is none."""

        def delete(conn: sa.Connection) -> None:
            self._permission_row(conn, role_permission_id)
            conn.execute(role_permissions.delete().where(role_permissions.c.id == role_permission_id))

        self._store._write(delete)

    def list_permissions(self, role_id: int) -> list[RolePermission]:
        """A role's permissions, by id; 404 if the role does not exist."""
        return self._store._read(lambda conn: list(self._role(conn, role_id).permissions))

    def update_permission(self, role_permission_id: int, permission: str) -> RolePermission:
        """Change the level of one role permission (valid for its resource type)."""

        def update(conn: sa.Connection) -> RolePermission:
            row = self._permission_row(conn, role_permission_id)
            check_grant(permission, row.resource_type)
            conn.execute(
                role_permissions.update().where(role_permissions.c.id == role_permission_id).values(permission=permission)
            )
            return _rp(self._permission_row(conn, role_permission_id))

        return self._store._write(update)

    # -------------------------------------------------------------- assignments
    def assign(self, user_id: int, role_id: int) -> Assignment:
        """Assign a role to a user; 404 for an unknown user or role, 400 if already assigned."""

        def insert(conn: sa.Connection) -> Assignment:
            if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise not_found(f"User with id={user_id} not found")
            self._role(conn, role_id)
            duplicate = f"User role assignment (user_id={user_id}, role_id={role_id}) already exists"
            exists = conn.execute(
                sa.select(user_role_assignments.c.id).where(
                    user_role_assignments.c.user_id == user_id, user_role_assignments.c.role_id == role_id
                )
            ).first()
            if exists is not None:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS)
            try:
                result = conn.execute(user_role_assignments.insert().values(user_id=user_id, role_id=role_id))
            except sa.exc.IntegrityError:
                raise MltrailException(duplicate, error_code=RESOURCE_ALREADY_EXISTS) from None
            return Assignment(int(result.inserted_primary_key[0]), user_id, role_id)

        return self._store._write(insert)

    def unassign(self, user_id: int, role_id: int) -> None:
        """Take a role from a user; 404 if it was not assigned."""

        def delete(conn: sa.Connection) -> None:
            deleted = conn.execute(
                user_role_assignments.delete().where(
                    user_role_assignments.c.user_id == user_id, user_role_assignments.c.role_id == role_id
                )
            ).rowcount
            if not deleted:
                raise not_found(f"User role assignment (user_id={user_id}, role_id={role_id}) not found")

        self._store._write(delete)

    def roles_of(self, user_id: int) -> list[Role]:
        """Every role assigned to a user, with its permissions."""
        return self._store._read(lambda conn: self._roles(conn, join_user=user_id))

    def roles_of_users(self) -> dict[int, list[Role]]:
        """Every user's roles at once (the user list shows them): user id -> roles."""

        def load(conn: sa.Connection) -> dict[int, list[Role]]:
            by_id = {r.id: r for r in self._roles(conn)}
            out: dict[int, list[Role]] = {}
            rows = conn.execute(
                sa.select(user_role_assignments.c.user_id, user_role_assignments.c.role_id).order_by(
                    user_role_assignments.c.id
                )
            )
            for user_id, role_id in rows:
                if role_id in by_id:
                    out.setdefault(int(user_id), []).append(by_id[role_id])
            return out

        return self._store._read(load)

    def role_users(self, role_id: int) -> list[Assignment]:
        """A role's assignments, by id; 404 if the role does not exist."""

        def load(conn: sa.Connection) -> list[Assignment]:
            self._role(conn, role_id)
            rows = conn.execute(
                sa.select(user_role_assignments)
                .where(user_role_assignments.c.role_id == role_id)
                .order_by(user_role_assignments.c.id)
            ).all()
            return [Assignment(int(r.id), int(r.user_id), int(r.role_id)) for r in rows]

        return self._store._read(load)

    def present_workspaces(self, user_id: int) -> set[str]:
        """The workspaces in which the user holds at least one role."""
        stmt = (
            sa.select(roles.c.workspace)
            .join(user_role_assignments, user_role_assignments.c.role_id == roles.c.id)
            .where(user_role_assignments.c.user_id == user_id)
            .distinct()
        )
        return {w for (w,) in self._store._read(lambda conn: conn.execute(stmt).all())}

    def admin_workspaces(self, user_id: int) -> set[str]:
        """The workspaces in which the user is a workspace admin (MANAGE on the workspace slot)."""
        stmt = (
            sa.select(roles.c.workspace)
            .join(user_role_assignments, user_role_assignments.c.role_id == roles.c.id)
            .join(role_permissions, role_permissions.c.role_id == roles.c.id)
            .where(
                user_role_assignments.c.user_id == user_id,
                role_permissions.c.resource_type == WORKSPACE,
                role_permissions.c.resource_pattern == "*",
                role_permissions.c.permission == "MANAGE",
            )
            .distinct()
        )
        return {w for (w,) in self._store._read(lambda conn: conn.execute(stmt).all())}

    # ------------------------------------------------------ the request path
    def grants_of(self, username: str, workspace: str) -> tuple[Grant, ...]:
        """Every role permission ``username`` holds in ``workspace`` (cached like the per-user grants)."""
        return self._store._cache.get_or_load(
            ("role_grants", username, workspace), lambda: self._load_grants(username, workspace)
        )

    def _load_grants(self, username: str, workspace: str) -> tuple[Grant, ...]:
        stmt = (
            sa.select(role_permissions.c.resource_type, role_permissions.c.resource_pattern, role_permissions.c.permission)
            .join(roles, roles.c.id == role_permissions.c.role_id)
            .join(user_role_assignments, user_role_assignments.c.role_id == roles.c.id)
            .join(users, users.c.id == user_role_assignments.c.user_id)
            .where(users.c.username == username, roles.c.workspace == workspace)
        )
        rows = self._store._read(lambda conn: conn.execute(stmt).all())
        return tuple(Grant(t, p, perm) for t, p, perm in rows)
