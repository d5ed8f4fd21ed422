"""Permission levels of MLflow's ``basic-auth`` app: READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY.

The names and capabilities are MLflow 3.17's (``mlflow/server/auth/permissions.py``),
so a value stored by either server means the same thing in the other. Also here, pure:
the resource types a grant may name, which patterns and levels each accepts, and how
several grants on one resource fold into one permission (:func:`fold`), as MLflow 3.17
folds a user's role grants.

Example::

    from mltrail.server.auth.permissions import get_permission

    perm = get_permission("EDIT")
    assert perm.can_update and not perm.can_delete
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mltrail.exceptions import invalid


@dataclass(frozen=True, slots=True)
class Permission:
    """One permission level and what it allows."""

    name: str
    can_read: bool
    can_use: bool
    can_update: bool
    can_delete: bool
    can_manage: bool

    @property
    def denied(self) -> bool:
        """An explicit ``DENY`` (MLflow 3.17), as opposed to merely lacking a capability."""
        return self.name == "DENY"


READ = Permission("READ", can_read=True, can_use=False, can_update=False, can_delete=False, can_manage=False)
USE = Permission("USE", can_read=True, can_use=True, can_update=False, can_delete=False, can_manage=False)
EDIT = Permission("EDIT", can_read=True, can_use=True, can_update=True, can_delete=False, can_manage=False)
MANAGE = Permission("MANAGE", can_read=True, can_use=True, can_update=True, can_delete=True, can_manage=True)
NO_PERMISSIONS = Permission(
    "NO_PERMISSIONS", can_read=False, can_use=False, can_update=False, can_delete=False, can_manage=False
)
DENY = Permission("DENY", can_read=False, can_use=False, can_update=False, can_delete=False, can_manage=False)

#: Every level by name, in MLflow 3.17's order (its error message lists them in this order).
ALL_PERMISSIONS: dict[str, Permission] = {p.name: p for p in (READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY)}


def get_permission(name: str) -> Permission:
    """The :class:`Permission` called ``name``; 400 ``INVALID_PARAMETER_VALUE`` for unknown names."""
    perm = ALL_PERMISSIONS.get(name) if isinstance(name, str) else None
    if perm is None:
        raise invalid(f"Invalid permission '{name}'. Valid permissions are: {tuple(ALL_PERMISSIONS)}")
    return perm


# DENY sits below everything so a max never picks it; folds handle it first (MLflow 3.17's order).
_PRIORITY = {"DENY": -1, "NO_PERMISSIONS": 0, "READ": 1, "USE": 2, "EDIT": 3, "MANAGE": 4}

WORKSPACE = "workspace"
#: MLflow 3.17's resource types -> whether a grant may name one resource (else only ``*``).
#: The workspace slot and the sub-resource tiers are wildcard-only.
RESOURCE_TYPES: dict[str, bool] = {
    "assessment": False, "experiment": True, "gateway_endpoint": True, "gateway_model_definition": True,
    "gateway_secret": True, "logged_model": False, "mcp_server": True, "mcp_server_version": False,
    "prompt": True, "prompt_version": False, "registered_model": True, "registered_model_version": False,
    "review_queue": False, "run": False, "scorer": True, "scorer_version": False, "trace": False,
    WORKSPACE: False,
}  # fmt: skip
#: What a grant on the workspace slot may carry (USE: member; MANAGE: workspace admin).
WORKSPACE_GRANTABLE = ("MANAGE", "USE")
#: What a grant on a resource type may carry (NO_PERMISSIONS is an absent grant, not a grant).
RESOURCE_GRANTABLE = ("DENY", "EDIT", "MANAGE", "READ", "USE")


def max_permission(a: str, b: str) -> str:
    """The higher of two permission names (MLflow's ``max_permission``)."""
    return a if _PRIORITY.get(a, 0) >= _PRIORITY.get(b, 0) else b


def check_resource_type(resource_type: object) -> str:
    """``resource_type`` if MLflow 3.17 knows it, else 400 ``INVALID_PARAMETER_VALUE``."""
    if not isinstance(resource_type, str) or resource_type not in RESOURCE_TYPES:
        raise invalid(
            f"Invalid resource type '{resource_type}'. Valid resource types are: {tuple(sorted(RESOURCE_TYPES))}"
        )
    return resource_type


def check_grant(permission: object, resource_type: object) -> str:
    """A level valid on ``resource_type`` (MLflow's ``_validate_permission_for_resource_type``)."""
    get_permission(permission)  # type: ignore[arg-type]
    check_resource_type(resource_type)
    assert isinstance(permission, str)
    if resource_type == WORKSPACE:
        if permission not in WORKSPACE_GRANTABLE:
            raise invalid(
                f"Invalid permission '{permission}' for resource_type='{WORKSPACE}'. "
                f"Workspace-wide grants accept only: {WORKSPACE_GRANTABLE}."
            )
    elif permission not in RESOURCE_GRANTABLE:
        raise invalid(
            f"Invalid permission '{permission}' for resource_type='{resource_type}'. "
            f"Resource-level grants accept only: {RESOURCE_GRANTABLE}."
        )
    return permission


def check_pattern(resource_pattern: object, resource_type: str) -> str:
    """``*`` or, where the type allows one, a resource's id (else 400)."""
    check_resource_type(resource_type)
    if not isinstance(resource_pattern, str) or not resource_pattern:
        raise invalid("Missing value for required parameter 'resource_pattern'.")
    if resource_pattern != "*" and not RESOURCE_TYPES[resource_type]:
        raise invalid(
            f"Invalid resource_pattern '{resource_pattern}' for resource_type='{resource_type}'. "
            "This resource type supports only wildcard ('*') grants."
        )
    return resource_pattern


@dataclass(frozen=True, slots=True)
class Grant:
    """One role permission as the fold reads it: a level on a resource type and pattern."""

    resource_type: str
    resource_pattern: str
    permission: str


def is_workspace_admin(grants: Iterable[Grant]) -> bool:
    """True if one of ``grants`` is MANAGE on the workspace slot (a workspace admin)."""
    return any(
        g.resource_type == WORKSPACE and g.resource_pattern == "*" and g.permission == "MANAGE" for g in grants
    )


def fold(
    grants: Iterable[Grant], resource_type: str, resource_id: str, own: Permission | None = None
) -> Permission | None:
    """The permission ``grants`` (and a per-user grant ``own``) give on one resource, or None.

    As MLflow 3.17's ``fold_grants_for_key``: a grant counts if it names the resource's type and
    ``*`` or (where the type allows ids) the resource itself; a DENY among them wins, else the
    highest level. None means no grant spoke (the caller applies the absent-grant rule).
    """
    denied = own is not None and own.denied
    best = None if own is None or denied else own.name
    for grant in grants:
        if grant.resource_type != resource_type:
            continue
        if not (grant.resource_pattern == "*" or (RESOURCE_TYPES.get(resource_type) and grant.resource_pattern == resource_id)):
            continue
        if grant.permission == "DENY":
            denied = True
        else:
            best = grant.permission if best is None else max_permission(best, grant.permission)
    if denied:
        return DENY
    return ALL_PERMISSIONS.get(best) if best is not None else None  # type: ignore[arg-type]


def floor_positive(perm: Permission, default_permission: Permission) -> Permission:
    """A positive grant never resolves below the server's ``default_permission`` (MLflow 3.17);
    DENY and NO_PERMISSIONS stay as they are."""
    if perm.name in ("DENY", "NO_PERMISSIONS"):
        return perm
    return ALL_PERMISSIONS[max_permission(perm.name, default_permission.name)]
