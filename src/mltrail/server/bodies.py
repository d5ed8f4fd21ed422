"""Reading request bodies within the server's limit, and running a handler under the write lock.

Shared by the dispatcher and the handlers that read their own bodies (OTLP), so
those handlers need not import the dispatcher (which imports the permission rules,
which know the handlers: that would be a cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from mltrail.exceptions import MltrailException


class PayloadTooLarge(MltrailException):
    """A request body over the configured limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Request body is larger than the server's limit of {limit} bytes "
            "(raise it with `mltrail server --max-body-size`)",
            error_code="RESOURCE_LIMIT_EXCEEDED",
        )

    def get_http_status_code(self) -> int:
        return 413


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body of ``request``; 413 as soon as it passes ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(limit)
        except ValueError:
            raise MltrailException("Invalid Content-Length header", error_code="BAD_REQUEST") from None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def locked_call(lock: Any, handler: Callable[[Any], Any], call: Any) -> Any:
    """``handler(call)`` holding ``lock`` (the app's SQLite write lock)."""
    with lock:
        return handler(call)
