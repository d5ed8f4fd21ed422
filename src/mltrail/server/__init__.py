"""The ``mltrail server``: MLflow's REST API, the artifact proxy and the UI on one ASGI app.

Build it with :func:`mltrail.server.app.create_app`; routes are declared in
handler modules (see :mod:`mltrail.server.routing`).
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import MltrailException

_APP_CLIENTS = {"basic-auth": "mltrail.server.auth.client:AuthServiceClient"}


def get_app_client(app_name: str, *args: Any, **kwargs: Any) -> Any:
    """The client of a server app, as ``mlflow.server.get_app_client``.

    Example::

        client = mltrail.server.get_app_client("basic-auth", tracking_uri="http://localhost:5000")
        client.create_user("alice", "a-long-password")
    """
    target = _APP_CLIENTS.get(app_name)
    if target is None:
        raise MltrailException(
            f"Failed to find client for '{app_name}'. Available clients: {list(_APP_CLIENTS)}"
        )
    import importlib

    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(*args, **kwargs)
