"""A user's effective permission: per-user grants and role grants folded as MLflow 3.17 does.

The request's workspace (``default`` when workspaces are off) decides which roles count.
In that workspace:

* a role with MANAGE on the workspace slot makes its holder a workspace admin: MANAGE on
  every resource, above any DENY;
* otherwise the grants naming the resource's type and ``*`` or the resource itself, with
  the user's own per-user grant, fold into one (:func:`permissions.fold`: DENY wins, else
  the highest); a positive result never falls below ``default_permission``;
* no grant at all: the absent-grant rule (:func:`absent_permission`).

A workspace grant of USE (a member) lets its holder create experiments and registered models
(:func:`can_create`) and see every experiment and model in listings (:func:`listed`), but, as
on MLflow 3.17, does not by itself open one: a point read needs a grant on the resource.

Example::

    perm = effective_permission(auth, "alice", "experiment", "12")
    perm.can_update
"""

from __future__ import annotations

from typing import Any

from mltrail.server.auth import permissions
from mltrail.server.auth.permissions import (
    WORKSPACE,
    Grant,
    Permission,
    floor_positive,
    fold,
    is_workspace_admin,
)
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

EXPERIMENT, REGISTERED_MODEL = "experiment", "registered_model"


def absent_permission(config: Any) -> Permission:
    """What a user without a grant on a resource gets (MLflow 3.17's rule).

    Without workspaces, the server's ``default_permission``. With ``--enable-workspaces``
    (a workspace bound to the request) nothing, except in ``default`` when the auth config
    sets ``grant_default_workspace_access``: an absent grant is a denial, so one workspace's
    users see nothing of another's.
    """
    workspace = active_workspace()
    if workspace is None or (workspace == DEFAULT_WORKSPACE and config.grant_default_workspace_access):
        return config.default_permission
    return permissions.NO_PERMISSIONS


def request_workspace() -> str:
    """The workspace whose roles count for this request (``default`` with workspaces off)."""
    return active_workspace() or DEFAULT_WORKSPACE


def role_grants(auth: Any, username: str) -> tuple[Grant, ...]:
    """``username``'s role grants in the request's workspace (cached by the store)."""
    return auth.store.roles.grants_of(username, request_workspace())


def own_grant(auth: Any, resource_type: str, resource_id: str, username: str) -> Permission | None:
    """``username``'s per-user grant on a resource (experiment, registered model, gateway), or None."""
    store = auth.store
    if resource_type == EXPERIMENT:
        return store.experiment_permission(resource_id, username)
    if resource_type == REGISTERED_MODEL:
        return store.registered_model_permission(resource_id, username)
    if resource_type.startswith("gateway_"):
        return store.gateway_permission(resource_type, resource_id, username)
    return None


def combine(
    grants: tuple[Grant, ...], resource_type: str, resource_id: str, own: Permission | None, absent: Permission,
    default: Permission,
) -> Permission:  # fmt: skip
    """The effective permission from role ``grants`` and a per-user grant ``own`` (see the module)."""
    if is_workspace_admin(grants):
        return permissions.MANAGE
    perm = fold(grants, resource_type, resource_id, own)
    return absent if perm is None else floor_positive(perm, default)


def listed(
    grants: tuple[Grant, ...], resource_type: str, resource_id: str, own: Permission | None, absent: Permission,
    default: Permission,
) -> bool:  # fmt: skip
    """Whether a listing (a search) shows the resource: its own grants decide, else the workspace
    grant (any member), else the absent-grant rule (MLflow 3.17's listing predicate)."""
    if is_workspace_admin(grants):
        return True
    perm = fold(grants, resource_type, resource_id, own)
    if perm is None:
        perm = fold(grants, WORKSPACE, "*")
    if perm is None:
        perm = absent
    return not perm.denied and floor_positive(perm, default).can_read


def effective_permission(auth: Any, username: str, resource_type: str, resource_id: str) -> Permission:
    """``username``'s effective permission on one resource in the request's workspace.

    Gateway resources fall back to ``default_permission`` (they are not workspace-bound here).
    """
    config = auth.config
    absent = config.default_permission if resource_type.startswith("gateway_") else absent_permission(config)
    return combine(
        role_grants(auth, username), resource_type, resource_id,
        own_grant(auth, resource_type, resource_id, username), absent, config.default_permission,
    )  # fmt: skip


def workspace_permission(auth: Any, username: str) -> Permission | None:
    """The highest workspace-slot grant ``username``'s roles carry in the request's workspace, or None."""
    grants = role_grants(auth, username)
    if is_workspace_admin(grants):
        return permissions.MANAGE
    return fold(grants, WORKSPACE, "*")


def can_create(auth: Any, username: str) -> bool:
    """Whether ``username`` may create experiments and models in the request's workspace.

    Without workspaces, yes. With them, a workspace grant that carries USE (a member or a
    workspace admin); without one, in ``default`` with ``grant_default_workspace_access``,
    what ``default_permission`` allows.
    """
    if active_workspace() is None:
        return True
    perm = workspace_permission(auth, username)
    if perm is not None:
        return perm.can_use
    return absent_permission(auth.config).can_use
