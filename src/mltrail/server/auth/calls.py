"""What every auth API handler needs from a call: its parameters, the store, the caller.

Shared by :mod:`.handlers` (users, per-user grants) and :mod:`.role_handlers` (roles).
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, MltrailException
from mltrail.server.auth.store import AuthStore, User
from mltrail.server.routing import Call
from mltrail.server.scope import USER_SCOPE_KEY


def denied() -> MltrailException:
    """MLflow's 403 ``PERMISSION_DENIED``."""
    return MltrailException("Permission denied", error_code=PERMISSION_DENIED)


def required(value: Any, name: str) -> Any:
    """``value``, or MLflow's 400 for a missing parameter."""
    if value is None or value == "":
        raise MltrailException(
            f"Missing value for required parameter '{name}'. "
            "See the API docs for more information about request parameters.",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return value


def auth_store(call: Call) -> AuthStore:
    """The app's auth store."""
    return call.state.auth.store


def caller(call: Call) -> User:
    """The authenticated caller, re-read from the store so a revoked admin flag counts at once."""
    user = call.request.scope.get(USER_SCOPE_KEY)
    if user is None:
        raise denied()
    try:
        return auth_store(call).get_user(user.username)
    except MltrailException:
        raise denied() from None


def require_admin(call: Call) -> User:
    """The caller if they are an admin, else 403."""
    found = caller(call)
    if not found.is_admin:
        raise denied()
    return found
