"""``mltrail.create_workspace`` and friends: MLflow 3.17's workspace functions.

On a server URI they call ``/api/3.0/mlflow/workspaces`` (``protocol/review.py``); on a
database URI they use :class:`mltrail.store.sql.workspaces.SqlWorkspaceStore`. Workspaces
scope experiments, registered models and prompts on a server started with
``--enable-workspaces``: :func:`set_workspace` makes every request name the workspace
(``X-MLFLOW-WORKSPACE``), as MLflow's client does (docs/review.md).

Example::

    import mltrail as mlflow

    mlflow.create_workspace("team-a", description="Team A")
    [w.name for w in mlflow.list_workspaces()]     # ["default", "team-a"]
"""

from __future__ import annotations

from typing import Any

from mltrail.entities.workspace import Workspace
from mltrail.exceptions import invalid
from mltrail.protocol.review import WORKSPACES, CreateWorkspace, Empty, UpdateWorkspace
from mltrail.store.workspace_scope import (
    DEFAULT_WORKSPACE,
    DELETION_MODES,
    check_workspace_name,
    set_client_workspace,
)
from mltrail.tracking._store_registry import get_tracking_store

__all__ = [
    "create_workspace",
    "delete_workspace",
    "get_workspace",
    "list_workspaces",
    "set_workspace",
    "update_workspace",
]


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


def delete_workspace(name: str, *, mode: str = "RESTRICT") -> None:
    """Delete a workspace. ``mode``: ``RESTRICT`` (refused while it holds experiments or models),
    ``SET_DEFAULT`` (they move to ``default``) or ``CASCADE`` (they are erased)."""
    if str(mode).upper() not in DELETION_MODES:
        raise invalid(f"Invalid deletion mode '{mode}'. Must be one of: {', '.join(DELETION_MODES)}")
    mode = str(mode).upper()
    http, sql = _backend()
    if http:
        path = WORKSPACES.delete_workspace.url(workspace_name=name)
        http.call("DELETE", path, params={"mode": mode} if mode != "RESTRICT" else None)
    elif mode == "CASCADE":
        from mltrail.store.sql.registry import (
            SqlRegistryStore,  # import speed: SQLAlchemy only for a database URI
        )

        store = get_tracking_store()
        registry = SqlRegistryStore(store.db_uri)

        def erase(conn: Any, workspace: str) -> None:
            store.erase_workspace(conn, workspace)
            registry.erase_workspace(conn, workspace)

        sql.delete(name, mode, erase)
    else:
        sql.delete(name, mode)


def set_workspace(name: str | None) -> None:
    """Work in workspace ``name`` from now on (``None``: the server's default), as
    ``mlflow.set_workspace`` does: requests to a server name it in their
    ``X-MLFLOW-WORKSPACE`` header. A database URI stays one shared space, as in MLflow."""
    if name is not None and name != DEFAULT_WORKSPACE:
        check_workspace_name(name)
    set_client_workspace(name)
