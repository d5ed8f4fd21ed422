"""``/health``, ``/version``, ``/openapi.json`` and MLflow 3's ``server-info``."""

from __future__ import annotations

from typing import Any

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


def server_info(call: Call) -> dict[str, Any]:
    """How this server is set up, as MLflow 3 clients ask before using optional features.

    The 3.x client reads the multipart flags to decide, when its environment does not
    say, whether large artifacts go straight to the object store through presigned URLs.
    Nothing here is secret: MLflow serves it without login.
    """
    config = call.state.config
    presigned = config.serve_artifacts and call.state.artifact_destination.supports_presigned
    return {
        "store_type": None if config.artifacts_only else "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": presigned,
        "multipart_downloads_enabled": presigned,
        # Presigned uploads addressed by run or model id are not served.
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


ENDPOINTS = [
    Endpoint("/health", ("GET",), health, service="", summary="Liveness probe"),
    Endpoint("/version", ("GET",), version, service="", summary="MLflow API version served"),
    Endpoint("/openapi.json", ("GET",), openapi, service="", summary="This API's OpenAPI document"),
    Endpoint(
        "/server-info",
        ("GET",),
        server_info,
        versions=("3.0",),
        inline=True,
        summary="Server capabilities (store type, multipart artifact transfers)",
    ),
]
