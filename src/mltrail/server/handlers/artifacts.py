"""The artifact proxy (``/api/2.0/mlflow-artifacts/…``) and the UI's artifact downloads.

Paths under the proxy are relative to ``--artifacts-destination``; a run whose
artifact URI is ``mlflow-artifacts:/1/<run>/artifacts`` keeps its files under
``<destination>/1/<run>/artifacts``. Every path passes
:func:`mltrail.artifacts.paths.validate_artifact_path` before any I/O.

With an S3 destination the proxy also speaks MLflow's multipart upload
(``mpu/create`` -> presigned part URLs the client PUTs to directly ->
``mpu/complete`` or ``mpu/abort``) and presigned downloads (``presigned/<path>``),
so large files never pass through the server. A folder destination answers
those with MLflow's NOT_IMPLEMENTED messages and the client streams through
the proxy instead.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.artifacts.paths import join_artifact_path, validate_artifact_path
from mltrail.exceptions import NOT_IMPLEMENTED, MltrailException, invalid
from mltrail.server import artifact_files as af
from mltrail.server.roots import roots_for
from mltrail.server.routing import Call, Endpoint
from mltrail.server.validation import no_control_chars
from mltrail.store.validation import validate_run_id


class ListProxyArtifacts(msgspec.Struct):
    path: str = ""


class FileInfoOut(msgspec.Struct):
    path: str
    is_dir: bool
    file_size: int | None = None


class ListProxyArtifactsResponse(msgspec.Struct):
    files: list[FileInfoOut] = []


class CreateMultipartUpload(msgspec.Struct, kw_only=True):
    """``path`` is the client's local file (only its name is used); ``num_parts`` 1 to 10,000."""

    path: str
    num_parts: int = 1


class MultipartUploadCredential(msgspec.Struct):
    url: str
    part_number: int
    headers: dict[str, str] = {}


class CreateMultipartUploadResponse(msgspec.Struct):
    upload_id: str
    credentials: list[MultipartUploadCredential]


class MultipartUploadPart(msgspec.Struct, kw_only=True):
    part_number: int
    etag: str | None = None
    url: str | None = None  # sent by the client, not needed by S3


class CompleteMultipartUpload(msgspec.Struct, kw_only=True):
    path: str
    upload_id: str = ""
    parts: list[MultipartUploadPart]


class AbortMultipartUpload(msgspec.Struct, kw_only=True):
    path: str
    upload_id: str = ""


class EmptyResponse(msgspec.Struct):
    pass


class PresignedDownloadResponse(msgspec.Struct, omit_defaults=True):
    url: str
    headers: dict[str, str]
    file_size: int | None = None  # MLflow leaves it out when unknown


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


def uri_destination(call: Call, artifact_uri: str, what: str = "artifact location") -> af.Destination:
    """Where the artifacts at ``artifact_uri`` (a run's, model version's, logged model's or trace's) live.

    The URI passes :meth:`~mltrail.server.roots.ArtifactRoots.resolve`: a location outside
    the server's artifact roots is a 400 and is never opened.
    """
    try:
        return roots_for(call.state, call.config).resolve(artifact_uri, what)
    except MltrailException:
        raise
    except Exception as err:  # e.g. a backend whose SDK is not installed
        raise MltrailException(
            f"Cannot serve artifacts stored at {artifact_uri!r} through this server: {err}",
            error_code=NOT_IMPLEMENTED,
        ) from None


def run_artifact_uri(call: Call, source: str) -> str:
    """``runs:/<run_id>/<path>`` as the run's artifact URI joined with ``path`` (404 for an unknown run)."""
    rest = source[len("runs:") :].lstrip("/")
    run_id, _, rel = rest.partition("/")
    if not run_id:
        raise invalid(f"Invalid runs:/ URI {source!r}: it names no run")
    run = call.tracking_store.get_run(run_id)
    rel = validate_artifact_path(rel)
    return run.info.artifact_uri.rstrip("/") + (f"/{rel}" if rel else "")


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


def _upload_target(call: Call) -> str:
    """The file a multipart request is about: the URL's folder plus the name of the body's ``path``.

    As in MLflow, the client sends its *local* file path and only the name is
    kept; it is split on both separators because Windows clients send ``C:\\…``.
    """
    folder = validate_artifact_path(call.path_params.get("artifact_path", ""))
    name = re.split(r"[\\/]", call.body.path)[-1]
    if name in ("", ".", ".."):
        raise invalid("Missing value for required parameter 'path': the file to upload, whose name is kept")
    return validate_artifact_path(join_artifact_path(folder, name))


def _upload_id(call: Call) -> str:
    if not call.body.upload_id:
        raise invalid("Missing value for required parameter 'upload_id'")
    return call.body.upload_id


def create_multipart_upload(call: Call) -> CreateMultipartUploadResponse:
    """Start a multipart upload; answer with one presigned URL per part for the client to PUT to."""
    rel = _upload_target(call)
    upload = destination(call).create_multipart_upload(rel, call.body.num_parts)
    credentials = [MultipartUploadCredential(p.url, p.part_number, dict(p.headers)) for p in upload.parts]
    return CreateMultipartUploadResponse(upload.upload_id, credentials)


def complete_multipart_upload(call: Call) -> EmptyResponse:
    """Join the parts the client uploaded (``part_number`` and ``etag`` each) into the file."""
    rel = _upload_target(call)
    upload_id = _upload_id(call)
    parts = [(p.part_number, p.etag or "") for p in call.body.parts]
    destination(call).complete_multipart_upload(rel, upload_id, parts)
    return EmptyResponse()


def abort_multipart_upload(call: Call) -> EmptyResponse:
    """Abort a multipart upload; the store drops the parts uploaded so far."""
    rel = _upload_target(call)
    destination(call).abort_multipart_upload(rel, _upload_id(call))
    return EmptyResponse()


def presigned_download(call: Call) -> PresignedDownloadResponse:
    """A presigned URL to download one file straight from the store, with its size."""
    rel = validate_artifact_path(call.path_params["artifact_path"])
    found = destination(call).presigned_download(rel)
    return PresignedDownloadResponse(found.url, dict(found.headers), found.file_size)


# --------------------------------------------------------- UI download helpers


async def get_run_artifact(call: Call) -> Response:
    """``/get-artifact?run_uuid=&path=``: one file of a run, as an attachment (as MLflow), never executable."""
    body = call.body
    run_id = body.run_uuid or body.run_id
    if not run_id:
        raise invalid("Missing value for required parameter 'run_uuid'")
    validate_run_id(run_id)  # before the database: PostgreSQL cannot even compare a NUL
    rel = validate_artifact_path(body.path)
    run = await run_in_threadpool(call.tracking_store.get_run, run_id)
    return await uri_destination(call, run.info.artifact_uri, "run artifact location").download(rel)


async def get_model_version_artifact(call: Call) -> Response:
    """``/model-versions/get-artifact?name=&version=&path=``: one file of a model version."""
    body = call.body
    rel = validate_artifact_path(body.path)
    no_control_chars(body.name, "name")  # before the database: PostgreSQL cannot even compare a NUL
    store = call.registry_store
    uri = await run_in_threadpool(store.get_model_version_download_uri, body.name, body.version)
    if uri.startswith("runs:"):  # registered while its run was unknown: resolved now
        uri = await run_in_threadpool(run_artifact_uri, call, uri)
    return await uri_destination(call, uri, "model version location").download(rel)


_PROXY = "mlflow-artifacts"
ENDPOINTS = [
    Endpoint(
        "/artifacts",
        ("GET",),
        list_artifacts,
        request=ListProxyArtifacts,
        response=ListProxyArtifactsResponse,
        service=_PROXY,
        summary="List artifacts",
    ),
    Endpoint(
        "/artifacts/{artifact_path:path}",
        ("GET",),
        download_artifact,
        service=_PROXY,
        summary="Download an artifact",
    ),
    Endpoint(
        "/artifacts/{artifact_path:path}",
        ("PUT",),
        upload_artifact,
        service=_PROXY,
        raw=True,
        summary="Upload an artifact (streamed)",
    ),
    Endpoint(
        "/artifacts/{artifact_path:path}",
        ("DELETE",),
        delete_artifact,
        service=_PROXY,
        summary="Delete an artifact",
    ),
    Endpoint(
        "/mpu/create/{artifact_path:path}",
        ("POST",),
        create_multipart_upload,
        request=CreateMultipartUpload,
        response=CreateMultipartUploadResponse,
        service=_PROXY,
        summary="Start a multipart upload",
    ),
    Endpoint(
        "/mpu/complete/{artifact_path:path}",
        ("POST",),
        complete_multipart_upload,
        request=CompleteMultipartUpload,
        response=EmptyResponse,
        service=_PROXY,
        summary="Complete a multipart upload",
    ),
    Endpoint(
        "/mpu/abort/{artifact_path:path}",
        ("POST",),
        abort_multipart_upload,
        request=AbortMultipartUpload,
        response=EmptyResponse,
        service=_PROXY,
        summary="Abort a multipart upload",
    ),
    Endpoint(
        "/presigned/{artifact_path:path}",
        ("GET",),
        presigned_download,
        response=PresignedDownloadResponse,
        service=_PROXY,
        summary="Presigned download URL",
    ),
    Endpoint(
        "/get-artifact",
        ("GET",),
        get_run_artifact,
        request=GetRunArtifact,
        service="",
        summary="Download a run artifact for display",
    ),
    Endpoint(
        "/model-versions/get-artifact",
        ("GET",),
        get_model_version_artifact,
        request=GetModelVersionArtifact,
        service="",
        summary="Download a model version artifact",
    ),
]
