"""``mltrail.create_workspace`` and friends: MLflow 3.17's workspace functions.

On a server URI they call ``/api/3.0/mlflow/workspaces`` (``protocol/review.py``); on a
database URI they use :class:`mltrail.store.sql.workspaces.SqlWorkspaceStore`. Workspaces
are names only so far: experiments and models are not scoped to them, so
:func:`set_workspace` just remembers the name (docs/review.md).

Example::

    import mltrail as mlflow

    mlflow.create_workspace("team-a", description="Team A")
    [w.name for w in mlflow.list_workspaces()]     # ["default", "team-a"]
"""

from __future__ import annotations

from typing import Any

from mltrail.entities.workspace import Workspace
from mltrail.protocol.review import WORKSPACES, CreateWorkspace, Empty, UpdateWorkspace
from mltrail.tracking._store_registry import get_tracking_store

__all__ = [
    "create_workspace",
    "delete_workspace",
    "get_workspace",
    "list_workspaces",
    "set_workspace",
    "update_workspace",
]

_current: list[str | None] = [None]


def _backend() -> tuple[Any, Any]:
    """(REST session, None) for a server, (None, SQL workspace store) for a database."""
    store = get_tracking_store()
    http = getattr(store, "http", None)
    if http is not None:
        return http, None
    from mltrail.store.sql.workspaces import (
        SqlWorkspaceStore,
    )  # import speed: SQLAlchemy only for a database URI

    return None, SqlWorkspaceStore(store.db_uri)


def list_workspaces() -> list[Workspace]:
    """Every workspace, ``default`` first."""
    http, sql = _backend()
    rows = http.send(WORKSPACES.list_workspaces, Empty())["workspaces"] if http else sql.list()
    return [Workspace.from_dict(w) for w in rows]


def get_workspace(name: str) -> Workspace:
    http, sql = _backend()
    wire = (
        http.send(WORKSPACES.get_workspace, None, workspace_name=name)["workspace"] if http else sql.get(name)
    )
    return Workspace.from_dict(wire)


def create_workspace(
    name: str, description: str | None = None, default_artifact_root: str | None = None
) -> Workspace:
    """Create a workspace (2-63 lower-case letters, digits or '-'); ``RESOURCE_ALREADY_EXISTS`` when taken."""
    http, sql = _backend()
    if http:
        body = CreateWorkspace(
            name=name, description=description, default_artifact_root=default_artifact_root
        )
        return Workspace.from_dict(http.send(WORKSPACES.create_workspace, body)["workspace"])
    return Workspace.from_dict(sql.create(name, description, default_artifact_root))


def update_workspace(
    name: str, description: str | None = None, default_artifact_root: str | None = None
) -> Workspace:
    """Change what is given (``None``: unchanged, ``""``: cleared)."""
    http, sql = _backend()
    if http:
        body = UpdateWorkspace(description=description, default_artifact_root=default_artifact_root)
        return Workspace.from_dict(
            http.send(WORKSPACES.update_workspace, body, workspace_name=name)["workspace"]
        )
    return Workspace.from_dict(sql.update(name, description, default_artifact_root))


def delete_workspace(name: str) -> None:
    http, sql = _backend()
    if http:
        http.send(WORKSPACES.delete_workspace, None, workspace_name=name)
    else:
        sql.delete(name)


def set_workspace(name: str | None) -> None:
    """Remember the workspace to work in (not yet sent to the server: resources are not scoped)."""
    _current[0] = name
