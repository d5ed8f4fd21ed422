"""``AuthService``: what the app holds on ``app.state.auth`` when auth is on.

Example::

    service = AuthService.from_config()          # reads MLFLOW_AUTH_CONFIG_PATH, creates the admin
    user = await service.authenticate(scope)     # a User, or MLflow's 401 response
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from mltrail.exceptions import MltrailException
from mltrail.server.auth.authn import LEGACY_DEFAULT_ADMIN_PASSWORD, Authenticator, is_public
from mltrail.server.auth.config import (
    ADMIN_PASSWORD_ENV,
    ADMIN_USERNAME_ENV,
    CONFIG_PATH_ENV,
    AuthConfig,
    AuthConfigError,
    read_auth_config,
)
from mltrail.server.auth.store import AuthStore, User, validate_password

_log = logging.getLogger("mltrail.server.auth")


class AuthService:
    """Everything the server needs for auth: ``config``, ``store`` and ``authenticate``."""

    is_public = staticmethod(is_public)  # paths served without a login (MLflow's list)

    def __init__(self, config: AuthConfig, store: AuthStore | None = None) -> None:
        self.config = config
        self.store = store or AuthStore(
            config.database_uri,
            cache_ttl_seconds=config.permission_cache_ttl_seconds,
            cache_max_size=config.auth_cache_max_size,
        )
        self.authenticator = Authenticator(
            self.store, ttl_seconds=config.auth_cache_ttl_seconds, max_size=config.auth_cache_max_size
        )

    @classmethod
    def from_config(cls, config: AuthConfig | None = None) -> AuthService:
        """Open the auth database (creating its tables) and make sure the admin user exists.

        Raises :class:`AuthConfigError` (one line) when the admin user cannot be created.
        """
        config = config or read_auth_config()
        try:
            service = cls(config)
        except MltrailException:
            raise
        except Exception as err:  # a driver error: name the setting, not the stack
            raise AuthConfigError(
                f"Cannot open the auth database (database_uri in {config.path or 'the default config'}): "
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            ) from None
        bootstrap_admin(service.store, config)
        return service

    async def authenticate(self, scope: dict[str, Any]) -> User | Response:
        """The caller of an HTTP request (``User``), or MLflow's 401 response."""
        return await self.authenticator.authenticate(scope)


def bootstrap_admin(store: AuthStore, config: AuthConfig) -> None:
    """Create ``admin_username`` with ``admin_password`` if missing, as MLflow 3.17 does.

    With no password available for a missing admin the server refuses to start. An
    admin still on the legacy default password is moved to the configured one.
    """
    where = f"the configuration file referenced by {CONFIG_PATH_ENV}"
    username = config.admin_username
    if not username:
        raise AuthConfigError(
            f"The auth app needs an admin username: set {ADMIN_USERNAME_ENV} or `admin_username` in {where}"
        )
    password = config.admin_password
    if not store.has_user(username):
        _check_bootstrap_password(username, password, where)
        try:
            store.create_user(username, password or "", is_admin=True)
            _log.info("Created admin user '%s'.", username)
        except MltrailException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker won the race: fine
                raise
    elif (
        password is not None
        and password != LEGACY_DEFAULT_ADMIN_PASSWORD
        and store.authenticate(username, LEGACY_DEFAULT_ADMIN_PASSWORD) is not None
    ):
        _check_bootstrap_password(username, password, where)
        store.update_user(username, password=password)
        _log.warning(
            "Replaced the insecure default password of admin user '%s' with the configured one; "
            "unset %s (or admin_password) now.",
            username,
            ADMIN_PASSWORD_ENV,
        )


def _check_bootstrap_password(username: str, password: str | None, where: str) -> None:
    if not password:
        raise AuthConfigError(
            f"The auth app needs a password to create the admin user '{username}' and none is configured: "
            f"set {ADMIN_PASSWORD_ENV} or `admin_password` in {where}"
        )
    if password == LEGACY_DEFAULT_ADMIN_PASSWORD:
        raise AuthConfigError(
            f"Refusing the insecure default password of older MLflow versions for admin user '{username}': "
            f"set {ADMIN_PASSWORD_ENV} or `admin_password` to another password"
        )
    try:
        validate_password(password)
    except MltrailException as err:
        raise AuthConfigError(
            f"The configured password for admin user '{username}' is invalid: {err.message} "
            f"Set {ADMIN_PASSWORD_ENV} or `admin_password` to a valid password"
        ) from None
