"""One small error hierarchy carrying MLflow-style error codes and HTTP statuses.

Every layer raises :class:`MltrailException` (or a subclass); the server turns it
into ``{"error_code": ..., "message": ...}`` in exactly one place.

Example::

    raise MltrailException("Run 'abc' not found", error_code=RESOURCE_DOES_NOT_EXIST)
"""

from __future__ import annotations

from typing import Any

INTERNAL_ERROR = "INTERNAL_ERROR"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
BAD_REQUEST = "BAD_REQUEST"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
MALFORMED_REQUEST = "MALFORMED_REQUEST"
INVALID_STATE = "INVALID_STATE"
PERMISSION_DENIED = "PERMISSION_DENIED"
FEATURE_DISABLED = "FEATURE_DISABLED"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
RESOURCE_LIMIT_EXCEEDED = "RESOURCE_LIMIT_EXCEEDED"
UNAUTHENTICATED = "UNAUTHENTICATED"
NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
NOT_FOUND = "NOT_FOUND"
ALREADY_EXISTS = "ALREADY_EXISTS"

# The HTTP status MLflow's server answers with for each error code.
HTTP_STATUS: dict[str, int] = {
    INTERNAL_ERROR: 500,
    TEMPORARILY_UNAVAILABLE: 503,
    BAD_REQUEST: 400,
    INVALID_PARAMETER_VALUE: 400,
    ENDPOINT_NOT_FOUND: 404,
    MALFORMED_REQUEST: 400,
    INVALID_STATE: 400,
    PERMISSION_DENIED: 403,
    FEATURE_DISABLED: 501,
    REQUEST_LIMIT_EXCEEDED: 429,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    RESOURCE_CONFLICT: 409,
    RESOURCE_LIMIT_EXCEEDED: 400,
    UNAUTHENTICATED: 401,
    NOT_IMPLEMENTED: 501,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
}


class MltrailException(Exception):
    """An error with an MLflow-style ``error_code`` and the matching HTTP status."""

    def __init__(self, message: str, error_code: str = INTERNAL_ERROR, **details: Any) -> None:
        super().__init__(message)
        self.message = str(message)
        self.error_code = error_code
        self.details = details

    def get_http_status_code(self) -> int:
        """The HTTP status a server answers with for this error."""
        return HTTP_STATUS.get(self.error_code, 500)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body a server sends: ``{"error_code": ..., "message": ...}``."""
        return {"error_code": self.error_code, "message": self.message, **self.details}

    @classmethod
    def invalid_parameter_value(cls, message: str) -> MltrailException:
        return cls(message, error_code=INVALID_PARAMETER_VALUE)


# MLflow's names, so ported `except MlflowException` code keeps working.
MlflowException = MltrailException


class RestException(MltrailException):
    """An error answered by a remote server, carrying its error code and message."""

    def __init__(self, payload: dict[str, Any], status: int | None = None) -> None:
        code = str(payload.get("error_code") or INTERNAL_ERROR)
        message = str(payload.get("message") or payload)
        super().__init__(f"{code}: {message}", error_code=code)
        self.json = payload
        self.status = status


def not_found(message: str) -> MltrailException:
    """Shorthand for a 404 ``RESOURCE_DOES_NOT_EXIST``."""
    return MltrailException(message, error_code=RESOURCE_DOES_NOT_EXIST)


def invalid(message: str) -> MltrailException:
    """Shorthand for a 400 ``INVALID_PARAMETER_VALUE``."""
    return MltrailException(message, error_code=INVALID_PARAMETER_VALUE)
