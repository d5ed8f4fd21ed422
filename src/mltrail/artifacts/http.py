"""The client side of MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``).

Speaks the protocol of ``mlflow server --serve-artifacts`` (and ``mltrail server``):

* ``PUT  .../artifacts/<path>``     upload one file (the request body is the file)
* ``GET  .../artifacts/<path>``     download one file
* ``GET  .../artifacts?path=<dir>`` list one level: ``{"files": [{"path", "is_dir", "file_size"}]}``
  (``path`` is the entry's base name)
* ``DELETE .../artifacts/<path>``   delete a file or a tree

URIs: ``mlflow-artifacts:/<path>`` (host taken from the tracking URI),
``mlflow-artifacts://host:port/<path>``, and
``http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>``.

Both directions stream: uploads read the file in chunks, downloads write to a
temp file renamed into place. One keep-alive ``httpx.Client`` is shared per
server; idempotent calls are retried with exponential backoff on 429/5xx and
dropped connections. Credentials come from ``MLFLOW_TRACKING_TOKEN`` or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (``MLTRAIL_`` names
first) and are never put in messages or logs.

Example::

    repo = HttpArtifactRepository("mlflow-artifacts:/0/abc/artifacts",
                                  tracking_uri="http://127.0.0.1:5000")
    repo.log_artifact("model.pkl")
"""

from __future__ import annotations

import mimetypes
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from mltrail.artifacts import _hooks
from mltrail.artifacts.base import CHUNK_SIZE, ArtifactRepository, atomic_write, missing, read_file_chunks
from mltrail.artifacts.paths import join_artifact_path, validate_artifact_path
from mltrail.credentials import tracking_authorization
from mltrail.entities.files import FileInfo
from mltrail.exceptions import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
    MltrailException,
    RestException,
    invalid,
)
from mltrail.protocol.routes import ARTIFACTS, service_root

#: The artifact proxy's file routes (``/api/2.0/mlflow-artifacts/artifacts``), from the protocol's service roots.
ARTIFACTS_API = service_root("2.0", ARTIFACTS) + "/artifacts"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_STATUS_CODES = {400: BAD_REQUEST, 401: UNAUTHENTICATED, 403: PERMISSION_DENIED, 404: RESOURCE_DOES_NOT_EXIST}

_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


def _max_retries() -> int:
    return int(_env("MLTRAIL_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", default="4") or 4)


def _backoff_factor() -> float:
    return float(
        _env("MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", default="0.5")
        or 0.5
    )


def _timeout() -> float:
    return float(_env("MLTRAIL_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_TIMEOUT", default="120") or 120)


def _verify() -> bool | str:
    if (_env("MLTRAIL_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_INSECURE_TLS") or "").lower() in ("1", "true"):
        return False
    return _env("MLTRAIL_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_SERVER_CERT_PATH") or True


def _auth_headers() -> dict[str, str]:
    """The ``Authorization`` header from the environment (read per call, never logged)."""
    authorization = tracking_authorization()
    return {"Authorization": authorization} if authorization else {}


def _shared_client(base_url: str) -> Any:
    """One keep-alive client per server (scheme + host) and TLS setting."""
    import httpx

    parts = urlsplit(base_url)
    verify = _verify()
    key = (parts.scheme, parts.netloc, verify)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                verify=verify,
                timeout=httpx.Timeout(_timeout(), connect=min(_timeout(), 10.0)),
                limits=httpx.Limits(max_keepalive_connections=16, max_connections=64),
                follow_redirects=False,
            )
            _CLIENTS[key] = client
        return client


def _safe_url(url: str) -> str:
    """``url`` without user-info (credentials) or query, for error messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def resolve_proxy_uri(artifact_uri: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """Split an artifact-proxy URI into (server base URL, root path under the proxy).

    Example::

        resolve_proxy_uri("mlflow-artifacts:/0/abc", "http://h:5000")   # ("http://h:5000", "0/abc")
    """
    parts = urlsplit(artifact_uri)
    scheme = parts.scheme.lower()
    if scheme == "mlflow-artifacts":
        tracking = tracking_uri or _hooks.current_tracking_uri()
        tracking_scheme = urlsplit(tracking).scheme.lower() if tracking else ""
        if parts.netloc:
            if not parts.hostname:
                raise invalid(f"Invalid artifact URI {artifact_uri!r}: a port needs a host name")
            base = f"{tracking_scheme if tracking_scheme in ('http', 'https') else 'http'}://{parts.netloc}"
        else:
            if tracking_scheme not in ("http", "https"):
                raise invalid(
                    f"Cannot resolve {artifact_uri!r}: mlflow-artifacts URIs without a host need an "
                    "http(s) tracking URI (set MLTRAIL_TRACKING_URI or pass tracking_uri)"
                )
            base = tracking.rstrip("/")  # type: ignore[union-attr]
        root = parts.path
    elif scheme in ("http", "https"):
        idx = artifact_uri.find(ARTIFACTS_API)
        if idx < 0:
            raise invalid(
                f"Unsupported http artifact URI {_safe_url(artifact_uri)!r}: expected "
                f"http(s)://host{ARTIFACTS_API}/<path>"
            )
        base = artifact_uri[:idx]
        root = urlsplit(artifact_uri[idx + len(ARTIFACTS_API) :]).path
    else:
        raise invalid(f"Not an artifact proxy URI: {artifact_uri!r}")
    return base, validate_artifact_path(unquote(root.strip("/")))


def _raise_for_status(resp: Any, what: str) -> None:
    if resp.status_code < 400:
        return
    text, payload = "", None
    try:
        resp.read()
        text = resp.text[:300]
        payload = resp.json()
    except Exception:
        pass  # not JSON: report the status and the start of the body
    if isinstance(payload, dict) and payload.get("error_code"):
        raise RestException(payload, status=resp.status_code)
    code = _STATUS_CODES.get(resp.status_code, INTERNAL_ERROR)
    raise MltrailException(
        f"{what} failed with HTTP {resp.status_code}: {text}".rstrip(": "), error_code=code
    )


class HttpArtifactRepository(ArtifactRepository):
    """An artifact root served by an MLflow-compatible artifact proxy."""

    max_parallel_transfers = 8

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(artifact_uri)
        self.base_url, self.root = resolve_proxy_uri(artifact_uri, tracking_uri)
        self._client = _shared_client(self.base_url)

    # ---- HTTP plumbing ----

    def _url(self, rel: str = "", *, listing: bool = False) -> str:
        if listing:
            return self.base_url + ARTIFACTS_API
        return f"{self.base_url}{ARTIFACTS_API}/{quote(join_artifact_path(self.root, rel), safe='/')}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        content: Callable[[], Iterable[bytes]] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> Any:
        """Send one request, retrying 429/5xx and connection failures with backoff.

        ``content`` is a factory so each retry gets a fresh body stream.
        """
        import httpx

        auth_headers = _auth_headers()
        attempts = 1 + (_max_retries() if retry else 0)
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            try:
                request = self._client.build_request(
                    method,
                    url,
                    params=params,
                    content=content() if content is not None else None,
                    headers={**auth_headers, **(headers or {})},
                )
                resp = self._client.send(request, stream=stream)
            except httpx.TransportError as err:
                if last:
                    raise MltrailException(
                        f"Cannot reach the artifact server at {_safe_url(url)} after {attempts} attempt(s): "
                        f"{type(err).__name__}: {err}",
                        error_code=TEMPORARILY_UNAVAILABLE,
                    ) from None
            else:
                if resp.status_code not in _RETRY_STATUSES or last:
                    return resp
                resp.close()
            time.sleep(_backoff_factor() * (2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- primitives ----

    def _put_file(self, local_file: Path, rel: str) -> None:
        size = local_file.stat().st_size
        mime = mimetypes.guess_type(local_file.name)[0] or "application/octet-stream"
        resp = self._send(
            "PUT",
            self._url(rel),
            content=lambda: read_file_chunks(local_file),
            headers={"Content-Type": mime, "Content-Length": str(size)},
        )
        _raise_for_status(resp, f"Upload of {rel!r} to {_safe_url(self.base_url)}")

    def _write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        if isinstance(chunks, list | tuple):
            data = list(chunks)  # replayable: retry like a file
            resp = self._send(
                "PUT",
                self._url(rel),
                content=lambda: iter(data),
                headers={"Content-Length": str(sum(len(c) for c in data))},
            )
        else:
            # A one-shot stream cannot be replayed, so it is sent once (chunked).
            resp = self._send("PUT", self._url(rel), content=lambda: chunks, retry=False)
        _raise_for_status(resp, f"Upload of {rel!r} to {_safe_url(self.base_url)}")

    def _open(self, rel: str) -> Any:
        resp = self._send("GET", self._url(rel), stream=True)
        if resp.status_code == 404:
            resp.close()
            raise missing(rel)
        try:
            _raise_for_status(resp, f"Download of {rel!r} from {_safe_url(self.base_url)}")
        finally:
            if resp.status_code >= 400:
                resp.close()
        return resp

    def _read_chunks(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        resp = self._open(rel)

        def chunks() -> Iterator[bytes]:
            try:
                yield from resp.iter_bytes(chunk_size)
            finally:
                resp.close()

        return chunks()

    def _download_file(self, rel: str, local_path: Path) -> None:
        import httpx

        attempts = 1 + _max_retries()
        for attempt in range(attempts):
            resp = self._open(rel)
            try:
                atomic_write(local_path, resp.iter_bytes(CHUNK_SIZE))
                return
            except httpx.TransportError as err:
                # The connection dropped mid-body: start the file over.
                if attempt + 1 >= attempts:
                    raise MltrailException(
                        f"Download of {rel!r} from {_safe_url(self.base_url)} kept failing: {err}",
                        error_code=TEMPORARILY_UNAVAILABLE,
                    ) from None
                time.sleep(_backoff_factor() * (2**attempt))
            finally:
                resp.close()

    def _list_dir(self, rel: str) -> list[FileInfo]:
        path = join_artifact_path(self.root, rel)
        resp = self._send("GET", self._url(listing=True), params={"path": path})
        _raise_for_status(resp, f"Listing {path!r} on {_safe_url(self.base_url)}")
        try:
            files = resp.json().get("files", [])
        except Exception:
            raise MltrailException(
                f"Listing {path!r} on {_safe_url(self.base_url)} returned a body that is not JSON",
                error_code=INTERNAL_ERROR,
            ) from None
        infos: list[FileInfo] = []
        for entry in files:
            info = FileInfo.from_dict(entry)
            # The server answers with base names; a hostile one must not be
            # able to steer a download outside the destination.
            name = validate_artifact_path(info.path)
            infos.append(FileInfo(join_artifact_path(rel, name), info.is_dir, info.file_size))
        return infos

    def _delete(self, rel: str) -> None:
        resp = self._send("DELETE", self._url(rel))
        if resp.status_code == 404:
            return  # already gone
        _raise_for_status(resp, f"Delete of {rel!r} on {_safe_url(self.base_url)}")
