"""Which workspace a request works in, with ``--enable-workspaces`` (MLflow 3.17's rule).

The request's ``X-MLFLOW-WORKSPACE`` header names it; without the header (or with an
empty one) it is ``default``. A badly formed name is a 400 ``INVALID_PARAMETER_VALUE``
and a workspace that does not exist a 404 ``RESOURCE_DOES_NOT_EXIST``, as on MLflow's
server; ``…/mlflow/server-info`` is answered whatever the header says. The app binds the
name (:func:`mltrail.store.workspace_scope.in_workspace`) around the whole request, so
the stores filter every query by it: this is the one place a request's workspace is set.

Without ``--enable-workspaces`` nothing is bound and the header is ignored.
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Scope

from mltrail.exceptions import MltrailException
from mltrail.server.dispatch import error_response
from mltrail.store.sql.workspaces import SqlWorkspaceStore, check_workspace_name
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, WORKSPACE_HEADER

_HEADER = WORKSPACE_HEADER.lower().encode("latin-1")
_UNSCOPED_SUFFIX = "/mlflow/server-info"


def header_workspace(scope: Scope) -> str:
    """The workspace the request's header names (``default`` when it names none)."""
    for key, value in scope.get("headers") or ():
        if key == _HEADER:
            return value.decode("latin-1").strip() or DEFAULT_WORKSPACE
    return DEFAULT_WORKSPACE


class WorkspaceResolver:
    """Turns a request's header into a workspace the stores can bind, or an error response."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._lock = threading.Lock()

    def _store(self) -> SqlWorkspaceStore:
        store = getattr(self._state, "workspace_store", None)
        if store is None:
            with self._lock:
                store = getattr(self._state, "workspace_store", None)
                if store is None:
                    self._state.tracking_store.get()  # the schema at head first
                    store = SqlWorkspaceStore(self._state.config.backend_store_uri)
                    self._state.workspace_store = store
        return store

    def _check(self, name: str) -> str:
        check_workspace_name(name)
        self._store().get(name)  # RESOURCE_DOES_NOT_EXIST when unknown
        return name

    async def resolve(self, scope: Scope) -> str | Response | None:
        """The workspace to bind (``None`` for the routes answered outside any), or the error."""
        if scope["path"].rstrip("/").endswith(_UNSCOPED_SUFFIX):
            return None
        name = header_workspace(scope)
        if name == DEFAULT_WORKSPACE:
            return name
        try:
            return await run_in_threadpool(self._check, name)
        except MltrailException as err:
            return error_response(err)
