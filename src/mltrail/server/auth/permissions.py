"""Permission levels of MLflow's ``basic-auth`` app: READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY.

The names and capabilities are MLflow 3.17's (``mlflow/server/auth/permissions.py``),
so a value stored by either server means the same thing in the other.

Example::

    from mltrail.server.auth.permissions import get_permission

    perm = get_permission("EDIT")
    assert perm.can_update and not perm.can_delete
"""

from __future__ import annotations

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
