"""``AuthConfig``: the settings of MLflow's ``basic_auth.ini``, read the way MLflow reads them.

The file is ``$MLFLOW_AUTH_CONFIG_PATH`` (section ``[mlflow]``); without it the
defaults below are MLflow's shipped file. ``MLFLOW_AUTH_ADMIN_USERNAME`` and
``MLFLOW_AUTH_ADMIN_PASSWORD`` override the file when set (even when empty, as
MLflow 3.17). Example file::

    [mlflow]
    default_permission = READ
    database_uri = sqlite:///basic_auth.db
    admin_username = admin
    admin_password = a-long-secret-password
    auth_cache_ttl_seconds = 30
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass

from mltrail.exceptions import MltrailException
from mltrail.server.auth.permissions import READ, Permission, get_permission

CONFIG_PATH_ENV = "MLFLOW_AUTH_CONFIG_PATH"
ADMIN_USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
DEFAULT_AUTHORIZATION_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"
DEFAULT_DATABASE_URI = "sqlite:///basic_auth.db"
# mltrail caches verified credentials by default (MLflow: off, auth_cache_ttl_seconds = 0),
# because a password hash per request would cost tens of milliseconds; see docs/security.md.
DEFAULT_AUTH_CACHE_TTL_SECONDS = 30
DEFAULT_PERMISSION_CACHE_TTL_SECONDS = 10


class AuthConfigError(MltrailException):
    """A configuration the auth app cannot start with (one line, names the setting to fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code="INVALID_STATE")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """The ``[mlflow]`` section of the auth config file, with MLflow's defaults."""

    default_permission: Permission = READ
    database_uri: str = DEFAULT_DATABASE_URI
    admin_username: str | None = "admin"
    admin_password: str | None = None
    authorization_function: str = DEFAULT_AUTHORIZATION_FUNCTION
    auth_cache_max_size: int = 10_000
    auth_cache_ttl_seconds: int = DEFAULT_AUTH_CACHE_TTL_SECONDS
    #: mltrail's: how long another worker's permission or user change may take to be seen here.
    permission_cache_ttl_seconds: int = DEFAULT_PERMISSION_CACHE_TTL_SECONDS
    #: MLflow's: with workspaces on, users without a grant get ``default_permission`` in ``default``.
    grant_default_workspace_access: bool = False
    path: str | None = None

    def __repr__(self) -> str:  # never show the admin password
        return (
            f"AuthConfig(default_permission={self.default_permission.name!r}, database_uri=..., "
            f"admin_username={self.admin_username!r}, path={self.path!r})"
        )


def read_auth_config(environ: dict[str, str] | None = None) -> AuthConfig:
    """The settings from ``$MLFLOW_AUTH_CONFIG_PATH`` (or the defaults) and the environment."""
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_PATH_ENV) or None
    parser = configparser.ConfigParser()
    if path is not None:
        if not os.path.isfile(path):
            raise AuthConfigError(f"{CONFIG_PATH_ENV}={path} does not name a readable file")
        try:
            parser.read(path)
        except configparser.Error as err:
            raise AuthConfigError(f"Cannot parse {path}: {str(err).splitlines()[0]}") from None
    if not parser.has_section("mlflow"):
        if path is not None:
            raise AuthConfigError(f"{path} has no [mlflow] section")
        parser.add_section("mlflow")
    section = parser["mlflow"]

    def env_or_file(var: str, key: str, default: str | None) -> str | None:
        value = env[var] if var in env else section.get(key, default)
        return value or None  # empty means unset, as MLflow

    def integer(key: str, default: int) -> int:
        try:
            value = section.getint(key, fallback=default)
        except ValueError:
            raise AuthConfigError(f"{key} in {path} must be an integer") from None
        if value < 0:
            raise AuthConfigError(f"{key} in {path} must not be negative")
        return value

    try:
        default_permission = get_permission(section.get("default_permission", "READ"))
    except MltrailException as err:
        raise AuthConfigError(f"default_permission in {path}: {err.message}") from None
    authorization_function = section.get("authorization_function", DEFAULT_AUTHORIZATION_FUNCTION)
    if authorization_function.strip() != DEFAULT_AUTHORIZATION_FUNCTION:
        # Silently ignoring a custom function would leave the server less protected than intended.
        raise AuthConfigError(
            f"authorization_function = {authorization_function} is not supported by mltrail; "
            f"remove it or use {DEFAULT_AUTHORIZATION_FUNCTION}"
        )
    try:
        default_workspace_access = section.getboolean("grant_default_workspace_access", fallback=False)
    except ValueError:
        raise AuthConfigError(f"grant_default_workspace_access in {path} must be true or false") from None
    return AuthConfig(
        default_permission=default_permission,
        grant_default_workspace_access=default_workspace_access,
        database_uri=section.get("database_uri", DEFAULT_DATABASE_URI) or DEFAULT_DATABASE_URI,
        admin_username=env_or_file(ADMIN_USERNAME_ENV, "admin_username", "admin"),
        admin_password=env_or_file(ADMIN_PASSWORD_ENV, "admin_password", None),
        authorization_function=DEFAULT_AUTHORIZATION_FUNCTION,
        auth_cache_max_size=max(1, integer("auth_cache_max_size", 10_000)),
        auth_cache_ttl_seconds=integer("auth_cache_ttl_seconds", DEFAULT_AUTH_CACHE_TTL_SECONDS),
        permission_cache_ttl_seconds=integer(
            "permission_cache_ttl_seconds", DEFAULT_PERMISSION_CACHE_TTL_SECONDS
        ),
        path=path,
    )
