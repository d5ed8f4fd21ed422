"""The artifact proxy (``/api/2.0/mlflow-artifacts/…``) and the UI's artifact downloads.

Paths under the proxy are relative to ``--artifacts-destination``; a run whose
artifact URI is ``mlflow-artifacts:/1/<run>/artifacts`` keeps its files under
``<destination>/1/<run>/artifacts``. Every path passes
:func:`mltrail.artifacts.paths.validate_artifact_path` before any I/O.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.artifacts.paths import validate_artifact_path
from mltrail.exceptions import NOT_IMPLEMENTED, MltrailException, invalid
from mltrail.server import artifact_files as af
from mltrail.server.routing import Call, Endpoint

# The official client falls back to a plain PUT when the message starts with this.
MPU_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"


class ListProxyArtifacts(msgspec.Struct):
    path: str = ""


class FileInfoOut(msgspec.Struct):
    path: str
    is_dir: bool
    file_size: int | None = None


class ListProxyArtifactsResponse(msgspec.Struct):
    files: list[FileInfoOut] = []


class GetRunArtifact(msgspec.Struct):
    path: str
    run_uuid: str = ""
    run_id: str = ""


class GetModelVersionArtifact(msgspec.Struct):
    path: str
    name: str
    version: str


def destination(call: Call) -> af.Destination:
    """The artifact destination behind ``mlflow-artifacts:/`` (built once per app)."""
    return call.state.artifact_destination


def uri_destination(call: Call, artifact_uri: str) -> af.Destination:
    """Where the artifacts at ``artifact_uri`` (a run's or a model version's) live."""
    parts = urlsplit(artifact_uri)
    if parts.scheme == "mlflow-artifacts":
        return destination(call).child(parts.path.lstrip("/"))
    try:
        return af.destination_for(artifact_uri)
    except MltrailException:
        raise
    except Exception as err:  # e.g. a backend whose SDK is not installed
        raise MltrailException(
            f"Cannot serve artifacts stored at {artifact_uri!r} through this server: {err}",
            error_code=NOT_IMPLEMENTED,
        ) from None


# ------------------------------------------------------------------ the proxy


async def download_artifact(call: Call) -> Response:
    """Stream one file from the artifact destination."""
    return await destination(call).download(call.path_params["artifact_path"])


async def upload_artifact(call: Call) -> Response:
    """Stream the request body into a file in the artifact destination."""
    await destination(call).upload(call.path_params["artifact_path"], call.request.stream())
    return Response(b"{}", media_type="application/json")


def delete_artifact(call: Call) -> dict[str, Any]:
    """Delete a file or folder from the artifact destination."""
    destination(call).delete(call.path_params["artifact_path"])
    return {}


def list_artifacts(call: Call) -> dict[str, Any]:
    """List the entries directly under ``?path=`` in the artifact destination."""
    return {"files": destination(call).list(call.body.path or "")}


async def multipart_unsupported(call: Call) -> Response:
    """Multipart uploads need presigned object-store URLs; the client then falls back to PUT."""
    validate_artifact_path(call.path_params.get("artifact_path", ""))
    raise MltrailException(MPU_UNSUPPORTED, error_code=NOT_IMPLEMENTED)


async def presigned_unsupported(call: Call) -> Response:
    """Presigned URLs need an object store; the client then streams through the proxy."""
    raise MltrailException("Presigned URLs are not supported for the current artifact repository", NOT_IMPLEMENTED)


# --------------------------------------------------------- UI download helpers


async def get_run_artifact(call: Call) -> Response:
    """``/get-artifact?run_uuid=&path=``: one file of a run, inline but never executable."""
    body = call.body
    run_id = body.run_uuid or body.run_id
    if not run_id:
        raise invalid("Missing value for required parameter 'run_uuid'")
    rel = validate_artifact_path(body.path)
    run = await run_in_threadpool(call.tracking_store.get_run, run_id)
    return await uri_destination(call, run.info.artifact_uri).download(rel, "inline")


async def get_model_version_artifact(call: Call) -> Response:
    """``/model-versions/get-artifact?name=&version=&path=``: one file of a model version."""
    body = call.body
    rel = validate_artifact_path(body.path)
    store = call.registry_store
    uri = await run_in_threadpool(store.get_model_version_download_uri, body.name, body.version)
    return await uri_destination(call, uri).download(rel, "inline")


_PROXY = "mlflow-artifacts"
ENDPOINTS = [
    Endpoint("/artifacts", ("GET",), list_artifacts, request=ListProxyArtifacts,
             response=ListProxyArtifactsResponse, service=_PROXY, summary="List artifacts"),
    Endpoint("/artifacts/{artifact_path:path}", ("GET",), download_artifact, service=_PROXY,
             summary="Download an artifact"),
    Endpoint("/artifacts/{artifact_path:path}", ("PUT",), upload_artifact, service=_PROXY, raw=True,
             summary="Upload an artifact (streamed)"),
    Endpoint("/artifacts/{artifact_path:path}", ("DELETE",), delete_artifact, service=_PROXY,
             summary="Delete an artifact"),
    Endpoint("/mpu/create/{artifact_path:path}", ("POST",), multipart_unsupported, service=_PROXY, raw=True,
             summary="Start a multipart upload"),
    Endpoint("/mpu/complete/{artifact_path:path}", ("POST",), multipart_unsupported, service=_PROXY, raw=True,
             summary="Complete a multipart upload"),
    Endpoint("/mpu/abort/{artifact_path:path}", ("POST",), multipart_unsupported, service=_PROXY, raw=True,
             summary="Abort a multipart upload"),
    Endpoint("/presigned/{artifact_path:path}", ("GET",), presigned_unsupported, service=_PROXY, raw=True,
             summary="Presigned download URL"),
    Endpoint("/get-artifact", ("GET",), get_run_artifact, request=GetRunArtifact, service="",
             summary="Download a run artifact for display"),
    Endpoint("/model-versions/get-artifact", ("GET",), get_model_version_artifact,
             request=GetModelVersionArtifact, service="", summary="Download a model version artifact"),
]
