"""Authentication for ``mltrail server --app-name basic-auth`` (MLflow's ``basic-auth`` app).

* :mod:`.permissions` — the permission levels (READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY).
* :mod:`.config` — :class:`AuthConfig` from MLflow's ini file (``MLFLOW_AUTH_CONFIG_PATH``).
* :mod:`.passwords` — scrypt hashes in werkzeug's format (MLflow's); pbkdf2 verified too.
* :mod:`.store` — :class:`AuthStore`: users, permissions and API tokens in their own database.
* :mod:`.roles` — MLflow 3.17's roles (``AuthStore.roles``): roles, role permissions, assignments.
* :mod:`.resolve` — a user's effective permission: per-user and role grants folded as MLflow does.
* :mod:`.authn` — Basic / Bearer credentials, verified once and then cached per credential.
* :mod:`.handlers` — MLflow's auth REST API (users, permissions), mounted when auth is on;
  :mod:`.role_handlers` its roles API; :mod:`.calls` what both read from a call.
* :mod:`.rules` — per-route authorization (who may do what to which resource).

The app holds one :class:`AuthService` on ``app.state.auth`` (``None`` when auth
is off); authentication puts the caller on ``scope["mltrail.user"]``.

Example::

    service = AuthService.from_config()          # reads MLFLOW_AUTH_CONFIG_PATH, creates the admin
    user = await service.authenticate(scope)     # a User, or MLflow's 401 response
"""

from __future__ import annotations

from typing import Any

from mltrail.server.scope import USER_SCOPE_KEY

# Loaded on first use, so the light modules (permissions, the client) import without
# Starlette or SQLAlchemy.
_LAZY = {
    "AuthService": "mltrail.server.auth.service",
    "bootstrap_admin": "mltrail.server.auth.service",
    "AuthConfig": "mltrail.server.auth.config",
    "AuthConfigError": "mltrail.server.auth.config",
    "read_auth_config": "mltrail.server.auth.config",
    "AuthStore": "mltrail.server.auth.store",
    "User": "mltrail.server.auth.store",
    "is_public": "mltrail.server.auth.authn",
}
__all__ = ["USER_SCOPE_KEY", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
