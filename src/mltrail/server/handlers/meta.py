"""``/health``, ``/version``, ``/openapi.json`` and MLflow 3's ``server-info``."""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse, Response

from mltrail.exceptions import TEMPORARILY_UNAVAILABLE
from mltrail.protocol.meta import META, SERVER_HEADER
from mltrail.server.dispatch import json_response
from mltrail.server.openapi import build_openapi
from mltrail.server.routing import Call, implement
from mltrail.version import __version__

# The MLflow REST API level this server speaks: the official client reads
# ``/version`` to decide which calls a server supports.
MLFLOW_API_VERSION = "3.17.2"
# A probe that arrives while the stores open waits this long for them before answering 503.
_HEALTH_WAIT_SECONDS = 0.5


async def health(call: Call) -> Response:
    """Readiness probe: ``OK`` (200) once every request can be served, else 503 with why.

    Ready means the tracking store is open, its schema at head and the Default
    experiment created, and the registry store open. Until then the answer is
    ``{"status": "STARTING"|"UNAVAILABLE", "error_code": "TEMPORARILY_UNAVAILABLE",
    "message": ...}``; a probe after a failed opening (database down) tries again.
    """
    readiness = getattr(call.state, "readiness", None)
    if readiness is None or readiness.ready:
        return PlainTextResponse("OK")
    readiness.start()
    await readiness.wait(_HEALTH_WAIT_SECONDS)
    if readiness.ready:
        return PlainTextResponse("OK")
    if readiness.opening:
        status, message = "STARTING", "The server is opening its database; try again shortly"
    else:
        status, message = "UNAVAILABLE", readiness.error or "The server cannot open its database"
    body = {"status": status, "error_code": TEMPORARILY_UNAVAILABLE, "message": message}
    return json_response(body, status=503)


async def version(call: Call) -> Response:
    """The MLflow version whose REST API this server implements (and mltrail's, in a header)."""
    return PlainTextResponse(MLFLOW_API_VERSION, headers={SERVER_HEADER: __version__})


async def openapi(call: Call) -> Response:
    """The OpenAPI document generated from the route table (built once per app)."""
    state = call.state
    cached = getattr(state, "openapi_bytes", None)
    if cached is None:
        import msgspec

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
        "workspaces_enabled": config.enable_workspaces,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": presigned,
        "multipart_downloads_enabled": presigned,
        # Presigned uploads addressed by run or model id are not served.
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


ENDPOINTS = [
    implement(META.health, health),
    implement(META.version, version),
    implement(META.openapi, openapi),
    implement(META.server_info, server_info, inline=True),
]
