"""Where the artifact proxy keeps files, and safe ways to stream them in and out.

Local folders (the default ``./mltrail-artifacts``) are read and written here
directly so uploads stream to disk chunk by chunk (atomic rename at the end)
and downloads stream from disk with ``FileResponse``: a 1 GB transfer never
sits in memory. Remote destinations (``s3://…``) go through the artifacts
package's repositories, bridged from the event loop to their blocking API.
Every path passes the artifacts package's one check first.

Object stores (S3) also hand out presigned URLs so clients move large files
without the server in the middle: multipart uploads and direct downloads.
Other destinations answer NOT_IMPLEMENTED with MLflow's messages, which is the
official client's cue to stream through the proxy instead.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response, StreamingResponse

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.paths import is_local_uri, resolve_under, validate_artifact_path
from mltrail.exceptions import NOT_IMPLEMENTED, MltrailException, invalid, not_found

if TYPE_CHECKING:
    from mltrail.artifacts.s3 import MultipartUpload, PresignedDownload

# MLflow's exact messages: the official client matches the first one to fall back to a plain PUT.
MPU_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
PRESIGNED_UNSUPPORTED = "Multipart download is not supported for the current artifact repository"

# Types a browser must never render from an artifact (they can run script).
_EXECUTABLE_HINTS = ("html", "xml", "javascript", "ecmascript", "svg", "xhtml", "x-sh", "wasm")
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
_WRITE_BATCH = 1024 * 1024
_UPLOAD_PREFIX = ".mltrail-upload-"
_HIDDEN_PREFIXES = (_UPLOAD_PREFIX, ".mltrail-partial-")


# Served as text/plain, as MLflow's server does (mlflow.utils.mime_type_utils.get_text_extensions):
# configs, logs, code and tables a browser or client shows as text; files without an
# extension are matched by name (MLmodel, MLproject).
TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "ipynb",
        "MLmodel",
        "MLproject",
    ]
)


def safe_media_type(name: str) -> str:
    """The content type to serve ``name`` with, as MLflow picks it, but never one a browser runs.

    MLflow's text extensions are ``text/plain; charset=utf-8``; other types come from
    :mod:`mimetypes` (``application/octet-stream`` when unknown); HTML, SVG, script and
    the like are served as plain text instead of their own type.
    """
    filename = name.rsplit("/", 1)[-1]
    extension = os.path.splitext(filename)[1].lstrip(".") or filename
    if extension in TEXT_EXTENSIONS:
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is None:
        return "application/octet-stream"
    if any(h in guessed for h in _EXECUTABLE_HINTS):
        return "text/plain; charset=utf-8"
    return guessed


@runtime_checkable
class PresignedStore(Protocol):
    """An artifact repository that can hand out presigned URLs (S3)."""

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload: ...

    def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None: ...

    def abort_multipart_upload(self, path: str, upload_id: str) -> None: ...

    def presigned_download_url(self, path: str) -> PresignedDownload: ...


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value for the file ``name`` (its last path segment), any script.

    Header values travel as Latin-1, so a name like ``日本.txt`` gets an ASCII
    ``filename="__.txt"`` for old clients plus RFC 5987's ``filename*=UTF-8''%E6%97%A5...``,
    which every current browser and client prefers. Quotes, backslashes and control
    characters (CR/LF included) never reach the header.

    Example::

        content_disposition("plots/日本.txt")   # 'attachment; filename="__.txt"; filename*=UTF-8\'\'%E6...'
    """
    filename = name.rsplit("/", 1)[-1]
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    value = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def download_headers(name: str, disposition: str) -> dict[str, str]:
    return {**SAFE_HEADERS, "Content-Disposition": content_disposition(name, disposition)}


class Destination:
    """A root folder of artifacts: list, stream out, stream in, delete."""

    def list(self, rel: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def download(self, rel: str, disposition: str = "attachment") -> Response:
        raise NotImplementedError

    async def upload(self, rel: str, chunks: AsyncIterator[bytes]) -> None:
        raise NotImplementedError

    def delete(self, rel: str) -> None:
        raise NotImplementedError

    def child(self, rel: str) -> Destination:
        """The destination rooted at ``rel`` under this one."""
        raise NotImplementedError

    # Presigned access. Only object stores have it; everything else answers as MLflow does.

    @property
    def supports_presigned(self) -> bool:
        """Whether multipart uploads and presigned downloads work here (advertised by ``/server-info``)."""
        return False

    def create_multipart_upload(self, rel: str, num_parts: int) -> MultipartUpload:
        """Start a multipart upload of the file ``rel``: an upload ID and a presigned URL per part."""
        raise MltrailException(MPU_UNSUPPORTED, error_code=NOT_IMPLEMENTED)

    def complete_multipart_upload(self, rel: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join the uploaded ``(part_number, etag)`` parts into the file ``rel``."""
        raise MltrailException(MPU_UNSUPPORTED, error_code=NOT_IMPLEMENTED)

    def abort_multipart_upload(self, rel: str, upload_id: str) -> None:
        """Abort a multipart upload of ``rel``, dropping the parts uploaded so far."""
        raise MltrailException(MPU_UNSUPPORTED, error_code=NOT_IMPLEMENTED)

    def presigned_download(self, rel: str) -> PresignedDownload:
        """A presigned URL (and size) to download the file ``rel`` straight from the store."""
        raise MltrailException(PRESIGNED_UNSUPPORTED, error_code=NOT_IMPLEMENTED)


class LocalDestination(Destination):
    """A folder on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def path(self, rel: str) -> Path:
        """``root/rel``, checked and guaranteed to stay inside ``root`` (symlinks included)."""
        return resolve_under(self.root, rel)

    def child(self, rel: str) -> LocalDestination:
        return LocalDestination(self.path(rel))

    def list(self, rel: str) -> list[dict[str, Any]]:
        folder = self.path(rel)
        if not folder.is_dir():
            return []
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(_HIDDEN_PREFIXES):
                    continue  # an upload in progress
                if entry.is_dir():
                    files.append({"path": entry.name, "is_dir": True})
                else:
                    files.append({"path": entry.name, "is_dir": False, "file_size": entry.stat().st_size})
        files.sort(key=lambda f: f["path"])
        return files

    async def download(self, rel: str, disposition: str = "attachment") -> Response:
        target = self.path(rel)
        if not rel or not target.is_file():
            raise not_found(f"Artifact {rel!r} does not exist")
        return FileResponse(
            target, media_type=safe_media_type(rel), headers=download_headers(rel, disposition)
        )

    async def upload(self, rel: str, chunks: AsyncIterator[bytes]) -> None:
        """Stream ``chunks`` into ``root/rel`` atomically (temp file, then rename).

        Readers never see half a file, and a dropped upload leaves nothing behind.
        """
        if not validate_artifact_path(rel):
            raise invalid("An artifact upload needs a file path")
        target = self.path(rel)
        if target.is_dir():
            raise invalid(f"Cannot upload to {rel!r}: it is a directory")
        await run_in_threadpool(target.parent.mkdir, parents=True, exist_ok=True)
        tmp = target.parent / f"{_UPLOAD_PREFIX}{uuid.uuid4().hex}"
        fh = await run_in_threadpool(open, tmp, "wb")
        try:
            pending: list[bytes] = []
            size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                pending.append(chunk)
                size += len(chunk)
                if size >= _WRITE_BATCH:
                    # Disk writes off the event loop, batched so thread hops stay few.
                    await run_in_threadpool(fh.writelines, pending)
                    pending, size = [], 0
            if pending:
                await run_in_threadpool(fh.writelines, pending)
            await run_in_threadpool(fh.close)
            await run_in_threadpool(os.replace, tmp, target)
        except BaseException:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise

    def delete(self, rel: str) -> None:
        if not validate_artifact_path(rel):
            raise invalid("Refusing to delete the artifact root; name a path under it")
        target = self.path(rel)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


class RepoDestination(Destination):
    """A remote root (``s3://…``) behind the artifacts package's repository."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.repo = get_artifact_repository(self.uri)

    def child(self, rel: str) -> RepoDestination:
        rel = validate_artifact_path(rel)
        return RepoDestination(f"{self.uri}/{rel}" if rel else self.uri)

    def list(self, rel: str) -> list[dict[str, Any]]:
        rel = validate_artifact_path(rel)
        out = []
        for info in self.repo.list_artifacts(rel or None):
            name = info.path[len(rel) + 1 :] if rel else info.path
            entry: dict[str, Any] = {"path": name, "is_dir": bool(info.is_dir)}
            if not info.is_dir and info.file_size is not None:
                entry["file_size"] = info.file_size
            out.append(entry)
        return out

    async def download(self, rel: str, disposition: str = "attachment") -> Response:
        if not validate_artifact_path(rel):
            raise not_found("Name a file to download")
        chunks = await run_in_threadpool(self.repo.open_stream, rel)
        first = await run_in_threadpool(next, chunks, b"")  # surface "not found" before headers go out

        def rest() -> Iterator[bytes]:
            yield first
            yield from chunks

        return StreamingResponse(
            rest(), media_type=safe_media_type(rel), headers=download_headers(rel, disposition)
        )

    async def upload(self, rel: str, chunks: AsyncIterator[bytes]) -> None:
        iterator = chunks.__aiter__()

        def pull() -> Iterator[bytes]:
            # Runs in a worker thread: fetch each chunk from the event loop on demand.
            while True:
                try:
                    yield anyio.from_thread.run(iterator.__anext__)
                except StopAsyncIteration:
                    return

        await run_in_threadpool(self.repo.write_stream, rel, pull())

    def delete(self, rel: str) -> None:
        rel = validate_artifact_path(rel)
        if not rel:
            raise invalid("Refusing to delete the artifact root; name a path under it")
        self.repo.delete_artifacts(rel)

    @property
    def supports_presigned(self) -> bool:
        return isinstance(self.repo, PresignedStore)

    def _presigned(self, message: str) -> PresignedStore:
        if not isinstance(self.repo, PresignedStore):
            raise MltrailException(message, error_code=NOT_IMPLEMENTED)
        return self.repo

    def create_multipart_upload(self, rel: str, num_parts: int) -> MultipartUpload:
        return self._presigned(MPU_UNSUPPORTED).create_multipart_upload(rel, num_parts)

    def complete_multipart_upload(self, rel: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        self._presigned(MPU_UNSUPPORTED).complete_multipart_upload(rel, upload_id, parts)

    def abort_multipart_upload(self, rel: str, upload_id: str) -> None:
        self._presigned(MPU_UNSUPPORTED).abort_multipart_upload(rel, upload_id)

    def presigned_download(self, rel: str) -> PresignedDownload:
        return self._presigned(PRESIGNED_UNSUPPORTED).presigned_download_url(rel)


def _file_uri_path(path: str) -> str:
    """The local path of a ``file:`` URI's path: :func:`urllib.request.url2pathname`.

    That is ``unquote`` on POSIX; importing ``urllib.request`` for it cost every server
    start 3 modules (8 M instructions), so it is imported only where it does more (Windows).
    """
    if os.name == "nt":
        from urllib.request import url2pathname

        return url2pathname(path)
    return unquote(path)


def destination_for(uri: str) -> Destination:
    """A :class:`Destination` for a local folder, ``file://`` URI or remote URI."""
    if is_local_uri(uri):
        parts = urlsplit(uri)
        path = _file_uri_path(parts.path) if parts.scheme == "file" else uri
        return LocalDestination(Path(path).absolute())
    return RepoDestination(uri)
