"""The workspace the current request works in (MLflow 3.17's ``--enable-workspaces``).

The server binds it for each request (from the ``X-MLFLOW-WORKSPACE`` header) when
workspaces are on; the SQL stores read it and filter every experiment and registered
model lookup, search, creation and name check by it. Unbound (``None``), which is the
case when workspaces are off, in background threads and in embedded use, the stores do
not filter: everything is in one space, as before workspaces.

Example::

    with in_workspace("team-a"):
        store.search_experiments()      # team-a's experiments only
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The workspace that always exists; rows written while workspaces are off belong to it.
DEFAULT_WORKSPACE = "default"
#: The request header that names the workspace (what ``mlflow.set_workspace()`` makes clients send).
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
#: Artifact locations of a workspace's experiments: ``<root>/workspaces/<name>/<experiment id>``.
WORKSPACES_DIR = "workspaces"

_ACTIVE: ContextVar[str | None] = ContextVar("mltrail_workspace", default=None)


def active_workspace() -> str | None:
    """The bound workspace, or ``None`` when the stores should not filter by workspace."""
    return _ACTIVE.get()


@contextmanager
def in_workspace(name: str | None) -> Iterator[None]:
    """Bind ``name`` (``None``: no workspace) for the code in the block."""
    token = _ACTIVE.set(name)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
