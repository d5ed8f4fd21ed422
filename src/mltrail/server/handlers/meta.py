"""``/health``, ``/version`` and ``/openapi.json``."""

from __future__ import annotations

from starlette.responses import PlainTextResponse, Response

from mltrail.server.routing import Call, Endpoint

# The MLflow REST API level this server speaks: the official client reads
# ``/version`` to decide which calls a server supports.
MLFLOW_API_VERSION = "3.17.2"


async def health(call: Call) -> Response:
    """Liveness probe: ``OK``."""
    return PlainTextResponse("OK")


async def version(call: Call) -> Response:
    """The MLflow version whose REST API this server implements."""
    return PlainTextResponse(MLFLOW_API_VERSION)


async def openapi(call: Call) -> Response:
    """The OpenAPI document generated from the route table (built once per app)."""
    state = call.state
    cached = getattr(state, "openapi_bytes", None)
    if cached is None:
        import msgspec

        from mltrail.server.openapi import build_openapi

        cached = msgspec.json.encode(build_openapi(state.endpoints))
        state.openapi_bytes = cached
    return Response(cached, media_type="application/json")


ENDPOINTS = [
    Endpoint("/health", ("GET",), health, service="", summary="Liveness probe"),
    Endpoint("/version", ("GET",), version, service="", summary="MLflow API version served"),
    Endpoint("/openapi.json", ("GET",), openapi, service="", summary="This API's OpenAPI document"),
]
