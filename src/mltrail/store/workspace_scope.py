"""The workspace the current request works in (MLflow 3.17's ``--enable-workspaces``), and the
one a client asks for.

The server binds it for each request (from the ``X-MLFLOW-WORKSPACE`` header) when
workspaces are on; the SQL stores read it and filter every experiment and registered
model lookup, search, creation and name check by it. Unbound (``None``), which is the
case when workspaces are off, in background threads and in embedded use, the stores do
not filter: everything is in one space, as before workspaces.

On the client side :func:`set_client_workspace` (what ``mltrail.set_workspace`` calls)
chooses the workspace the REST session names in its ``X-MLFLOW-WORKSPACE`` header; as in
MLflow it is kept per thread and exported as ``MLFLOW_WORKSPACE``, so new threads and
child processes inherit it.

Example::

    with in_workspace("team-a"):
        store.search_experiments()      # team-a's experiments only
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from mltrail.credentials import tracking_env
from mltrail.exceptions import invalid

#: The workspace that always exists; rows written while workspaces are off belong to it.
DEFAULT_WORKSPACE = "default"
#: The request header that names the workspace (what ``mlflow.set_workspace()`` makes clients send).
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
#: Artifact locations of a workspace's experiments: ``<root>/workspaces/<name>/<experiment id>``.
WORKSPACES_DIR = "workspaces"

#: ``delete_workspace``'s modes (MLflow's ``WorkspaceDeletionMode``).
DELETION_MODES = ("RESTRICT", "SET_DEFAULT", "CASCADE")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])$")
_RESERVED = {"workspaces", "api", "ajax-api", "static-files"}

_ACTIVE: ContextVar[str | None] = ContextVar("mltrail_workspace", default=None)
_CLIENT: ContextVar[str | None] = ContextVar("mltrail_client_workspace", default=None)
_CLIENT_ENV = "MLFLOW_WORKSPACE"


def check_workspace_name(name: Any) -> str:
    """A workspace name by MLflow's rule (DNS-label style), else ``INVALID_PARAMETER_VALUE``."""
    if isinstance(name, str) and name in _RESERVED:
        raise invalid(f"Workspace name '{name}' is reserved and cannot be used.")
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid(
            f"Invalid workspace name {name!r}: use 2-63 lower-case letters, digits or '-', "
            "starting and ending with a letter or digit."
        )
    return name


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


def set_client_workspace(name: str | None) -> None:
    """Choose the workspace this client's requests name (``None``: the server's default)."""
    _CLIENT.set(name)
    if name is None:
        os.environ.pop(_CLIENT_ENV, None)
        os.environ.pop("MLTRAIL_WORKSPACE", None)
    else:
        os.environ[_CLIENT_ENV] = name


@contextmanager
def client_workspace_for(name: str | None) -> Iterator[None]:
    """Name ``name`` in this thread's requests for the code in the block (``None``: leave as is).

    Unlike :func:`set_client_workspace` it touches no environment variable, so threads that
    work for different workspaces at once (the online-scoring worker) each send their own.
    """
    if name is None:
        yield
        return
    token = _CLIENT.set(name)
    try:
        yield
    finally:
        _CLIENT.reset(token)


def client_workspace() -> str | None:
    """The workspace this client's requests name: the one set, else ``MLTRAIL_WORKSPACE`` /
    ``MLFLOW_WORKSPACE``, else ``None`` (no header)."""
    return (_CLIENT.get() or "").strip() or (tracking_env("WORKSPACE") or "").strip() or None
