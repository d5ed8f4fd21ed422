"""Artifacts in S3 or any S3-compatible object store (MinIO, Ceph, moto, ...).

Configured the way MLflow is: ``MLFLOW_S3_ENDPOINT_URL`` (or
``MLTRAIL_S3_ENDPOINT_URL``) for a non-AWS endpoint, ``MLFLOW_S3_IGNORE_TLS``
to skip certificate checks, and boto3's usual ``AWS_*`` variables and config
files for credentials and region. boto3 is imported on first use only.

Large files go through boto3's transfer manager (multipart, in parallel); an
S3 object only appears when its upload completes, so uploads are atomic.

For a server's artifact proxy the repository also hands out presigned URLs, so
clients move large files straight to and from the bucket: a multipart upload
(:meth:`~S3ArtifactRepository.create_multipart_upload`, then ``complete`` or
``abort``) and a download URL (:meth:`~S3ArtifactRepository.presigned_download_url`).
A presigned URL is a credential until it expires: it never appears in a repr,
a message or a log.

Example::

    repo = S3ArtifactRepository("s3://my-bucket/mltrail/0/abc/artifacts")
    repo.log_artifacts("outputs/")
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from mltrail.artifacts.base import TEMP_PREFIX, ArtifactRepository, missing
from mltrail.artifacts.paths import validate_artifact_path
from mltrail.entities.files import FileInfo
from mltrail.exceptions import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    MltrailException,
    invalid,
)

# One boto3 client per configuration: creating one costs tens of milliseconds.
_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()
_MULTIPART_THRESHOLD = 8 * 1024 * 1024
_PARTS_IN_FLIGHT = 4
#: S3 numbers the parts of one multipart upload from 1 to 10,000.
MAX_PARTS = 10_000
# How long a presigned part-upload URL stays valid (boto3's default, which MLflow keeps).
_PART_URL_TTL = 3600
# MLflow's default lifetime of a presigned download URL (MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS).
_DOWNLOAD_URL_TTL = 300
# Upload IDs and ETags are opaque tokens from S3; nothing legitimate comes near this length.
_MAX_TOKEN_LEN = 1024
# S3 errors caused by the request rather than by the store, with the error MLflow answers.
_REQUEST_FAULTS = {
    "404": RESOURCE_DOES_NOT_EXIST,
    "NoSuchKey": RESOURCE_DOES_NOT_EXIST,
    "NoSuchUpload": RESOURCE_DOES_NOT_EXIST,
    "InvalidPart": INVALID_PARAMETER_VALUE,
    "InvalidPartOrder": INVALID_PARAMETER_VALUE,
    "EntityTooSmall": INVALID_PARAMETER_VALUE,
    "InvalidArgument": INVALID_PARAMETER_VALUE,
    "MalformedXML": INVALID_PARAMETER_VALUE,
}


@dataclass(frozen=True, slots=True)
class PresignedPart:
    """Where to PUT one part of a multipart upload, and the headers that PUT must carry."""

    part_number: int
    url: str = field(repr=False)  # signed: a credential until it expires
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """A started multipart upload: its S3 upload ID and one presigned URL per part."""

    upload_id: str
    parts: list[PresignedPart]


@dataclass(frozen=True, slots=True)
class PresignedDownload:
    """A presigned GET URL for one object, the headers to send with it, and the object's size."""

    url: str = field(repr=False)  # signed: a credential until it expires
    headers: dict[str, str] = field(default_factory=dict)
    file_size: int | None = None


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _s3_client() -> Any:
    endpoint = _env("MLTRAIL_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
    ignore_tls = (_env("MLTRAIL_S3_IGNORE_TLS", "MLFLOW_S3_IGNORE_TLS") or "").lower() in ("1", "true", "yes")
    # The key includes the credentials in use so a changed environment gets a
    # fresh client; it only lives in this process's memory.
    key = (
        endpoint,
        ignore_tls,
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
        os.environ.get("AWS_SESSION_TOKEN"),
        os.environ.get("AWS_PROFILE"),
        os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"),
    )
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise MltrailException(
                    "S3 artifact storage needs boto3: pip install 'mltrail[s3]'",
                    error_code="FEATURE_DISABLED",
                ) from None
            config = Config(
                signature_version=_env("MLTRAIL_S3_SIGNATURE_VERSION", "MLFLOW_S3_SIGNATURE_VERSION")
                or "s3v4",
                retries={"max_attempts": 5, "mode": "standard"},
            )
            client = boto3.client(
                "s3", endpoint_url=endpoint, verify=not ignore_tls, config=config, region_name=key[-1]
            )
            _CLIENTS[key] = client
        return client


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD, multipart_chunksize=_MULTIPART_THRESHOLD)


def _is_missing(err: Exception) -> bool:
    code = str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _wrap(err: Exception, action: str) -> MltrailException:
    code = str(getattr(err, "response", {}).get("Error", {}).get("Code", "")) or type(err).__name__
    return MltrailException(
        f"S3 {action} failed: {code}: {err}", error_code=_REQUEST_FAULTS.get(code, INTERNAL_ERROR)
    )


def _download_url_ttl() -> int:
    raw = _env("MLTRAIL_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS", "MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS")
    if raw is None:
        return _DOWNLOAD_URL_TTL
    try:
        ttl = int(raw)
    except ValueError:
        ttl = 0
    if ttl <= 0:
        raise MltrailException(
            f"MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS must be a positive number of seconds, got {raw!r}"
        )
    return ttl


def _attachment(name: str) -> str:
    """A Content-Disposition that saves ``name`` instead of rendering it (RFC 6266)."""
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename*=UTF-8''{quote(name, safe='')}"


def _file_rel(path: str) -> str:
    rel = validate_artifact_path(path)
    if not rel:
        raise invalid("Name a file under the artifact root, not the root itself")
    return rel


def _token(value: object, name: str) -> str:
    """An opaque S3 token (upload ID, ETag) from a client: a non-empty, bounded string."""
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing value for required parameter '{name}'")
    if len(value) > _MAX_TOKEN_LEN or not value.isprintable():
        raise invalid(f"Invalid value for '{name}': expected an S3 token of printable characters")
    return value


def _part_number(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARTS:
        raise invalid(f"{what} must be a whole number from 1 to {MAX_PARTS}")
    return value


class S3ArtifactRepository(ArtifactRepository):
    """An artifact root at ``s3://bucket/prefix``."""

    max_parallel_transfers = 8

    def __init__(self, artifact_uri: str) -> None:
        super().__init__(artifact_uri)
        parts = urlsplit(artifact_uri)
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise invalid(f"Not an S3 URI {artifact_uri!r}: expected s3://bucket/prefix")
        if parts.query or parts.fragment:
            raise invalid("S3 artifact URIs cannot carry a query or '#' fragment")
        self.bucket = parts.netloc
        self.prefix = validate_artifact_path(parts.path.strip("/"))

    @property
    def _client(self) -> Any:
        return _s3_client()

    def _key(self, rel: str) -> str:
        return "/".join(p for p in (self.prefix, rel) if p)

    def _rel(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _put_file(self, local_file: Path, rel: str) -> None:
        try:
            self._client.upload_file(str(local_file), self.bucket, self._key(rel), Config=_transfer_config())
        except Exception as err:
            raise _wrap(err, f"upload of {rel!r}") from err

    def _write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        # ``chunks`` is consumed here, in the caller's thread: a server feeding
        # an upload from its event loop can only hand chunks over in the thread
        # it called us from (boto3's upload_fileobj would read in its own).
        # Small streams become one PUT; larger ones a multipart upload with a
        # few parts in flight, aborted on any failure. Either way S3 shows the
        # object only when it is complete: nothing half-written.
        key = self._key(rel)
        client = self._client
        buf = bytearray()
        upload_id: str | None = None
        parts: list[Future[dict[str, Any]]] = []
        pool: ThreadPoolExecutor | None = None

        def send_part(number: int, data: bytes) -> dict[str, Any]:
            resp = client.upload_part(
                Bucket=self.bucket, Key=key, PartNumber=number, UploadId=upload_id, Body=data
            )
            return {"ETag": resp["ETag"], "PartNumber": number}

        def flush_part(data: bytes) -> None:
            nonlocal upload_id, pool
            if upload_id is None:
                upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
                pool = ThreadPoolExecutor(max_workers=_PARTS_IN_FLIGHT)
            assert pool is not None
            # Bound memory: wait for the oldest part before queueing too many.
            in_flight = [f for f in parts if not f.done()]
            if len(in_flight) >= _PARTS_IN_FLIGHT:
                in_flight[0].result()
            parts.append(pool.submit(send_part, len(parts) + 1, data))

        try:
            for chunk in chunks:
                buf += chunk
                while len(buf) >= _MULTIPART_THRESHOLD:
                    flush_part(bytes(buf[:_MULTIPART_THRESHOLD]))
                    del buf[:_MULTIPART_THRESHOLD]
            if upload_id is None:
                client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buf))
                return
            if buf:
                flush_part(bytes(buf))
            done = [f.result() for f in parts]
            client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException as err:
            if upload_id is not None:
                for f in parts:
                    f.cancel()
                try:
                    client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                except Exception:
                    pass  # the original error matters more; a lifecycle rule cleans up
            if type(err).__module__.startswith(("boto", "s3transfer")):
                raise _wrap(err, f"upload of {rel!r}") from err
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _read_chunks(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
        except Exception as err:
            if _is_missing(err):
                raise missing(rel) from None
            raise _wrap(err, f"download of {rel!r}") from err

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

        return chunks()

    def _download_file(self, rel: str, local_path: Path) -> None:
        local_path.parent.mkdir(parents=True, exist_ok=True)
        # boto3 downloads to a temp name and renames, so this is atomic too.
        try:
            self._client.download_file(
                self.bucket, self._key(rel), str(local_path), Config=_transfer_config()
            )
        except Exception as err:
            if _is_missing(err):
                raise missing(rel) from None
            raise _wrap(err, f"download of {rel!r}") from err

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.bucket, **kwargs)
        except Exception as err:
            raise _wrap(err, "listing") from err

    def _list_dir(self, rel: str) -> list[FileInfo]:
        key = self._key(rel)
        prefix = f"{key}/" if key else ""
        infos: list[FileInfo] = []
        for page in self._pages(Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                child = self._rel(common["Prefix"].rstrip("/"))
                infos.append(FileInfo(child, True, None))
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                # Skip the "directory marker" object some tools create, and
                # names that are not valid artifact paths (never serve those).
                if not name or name.startswith(TEMP_PREFIX):
                    continue
                try:
                    child = validate_artifact_path(self._rel(obj["Key"]))
                except MltrailException:
                    continue
                infos.append(FileInfo(child, False, int(obj["Size"])))
        return infos

    def _is_dir(self, rel: str) -> bool:
        if rel == "":
            return True
        key = self._key(rel)
        for page in self._pages(Prefix=f"{key}/", MaxKeys=1):
            if page.get("KeyCount", 0) or page.get("Contents"):
                return True
            break
        return False

    def _delete(self, rel: str) -> None:
        key = self._key(rel)
        keys = [] if not key else [key]
        # With a slash, so deleting "a/b" never touches "a/bc".
        prefix = f"{key}/" if key else ""
        for page in self._pages(Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        for start in range(0, len(keys), 1000):  # S3's per-request limit
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as err:
                raise _wrap(err, f"delete of {rel!r}") from err

    # ---- presigned access: clients move the bytes straight to and from S3 ----

    def create_multipart_upload(self, path: str, num_parts: int) -> MultipartUpload:
        """Start a multipart upload of the file ``path`` with a presigned URL for each part.

        The caller PUTs part ``n`` to ``parts[n - 1].url`` (with its ``headers``),
        keeps each answer's ``ETag`` header, then calls
        :meth:`complete_multipart_upload`, or :meth:`abort_multipart_upload` on
        failure. Nothing appears at ``path`` before the upload completes.
        ``num_parts`` is 1 to :data:`MAX_PARTS`; every part but the last must be
        at least 5 MiB (S3's rule, checked on completion).

        Example::

            mpu = repo.create_multipart_upload("weights.bin", 2)
            etags = [requests.put(p.url, data=chunk).headers["ETag"] for p, chunk in zip(mpu.parts, chunks)]
            repo.complete_multipart_upload("weights.bin", mpu.upload_id, list(enumerate(etags, 1)))
        """
        rel = _file_rel(path)
        count = _part_number(num_parts, "num_parts")
        key = self._key(rel)
        client = self._client
        try:
            upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        except Exception as err:
            raise _wrap(err, f"start of a multipart upload of {rel!r}") from err
        try:
            parts = [
                PresignedPart(
                    number,
                    client.generate_presigned_url(
                        "upload_part",
                        Params={
                            "Bucket": self.bucket,
                            "Key": key,
                            "UploadId": upload_id,
                            "PartNumber": number,
                        },
                        ExpiresIn=_PART_URL_TTL,
                    ),
                )
                for number in range(1, count + 1)
            ]
        except Exception as err:
            self._abort_quietly(key, upload_id)
            raise _wrap(err, f"presigning the parts of {rel!r}") from err
        return MultipartUpload(upload_id, parts)

    def complete_multipart_upload(self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join the uploaded ``parts`` (``(part_number, etag)`` pairs) into the file ``path``.

        The parts may come in any order; each number at most once.
        """
        rel = _file_rel(path)
        upload_id = _token(upload_id, "upload_id")
        if not parts:
            raise invalid("Missing value for required parameter 'parts': list the uploaded parts")
        if len(parts) > MAX_PARTS:
            raise invalid(f"A multipart upload has at most {MAX_PARTS} parts")
        numbered: dict[int, str] = {}
        for number, etag in parts:
            number = _part_number(number, "part_number")
            if number in numbered:
                raise invalid(f"Part {number} is listed more than once")
            numbered[number] = _token(etag, "etag")
        listing = [{"PartNumber": n, "ETag": numbered[n]} for n in sorted(numbered)]
        try:
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(rel), UploadId=upload_id, MultipartUpload={"Parts": listing}
            )
        except Exception as err:
            raise _wrap(err, f"completion of the multipart upload of {rel!r}") from err

    def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        """Abort a multipart upload of ``path``: S3 drops the parts already uploaded."""
        rel = _file_rel(path)
        upload_id = _token(upload_id, "upload_id")
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(rel), UploadId=upload_id)
        except Exception as err:
            raise _wrap(err, f"abort of the multipart upload of {rel!r}") from err

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass  # the original error matters more; a lifecycle rule cleans up

    def presigned_download_url(self, path: str, expires_in: int | None = None) -> PresignedDownload:
        """A presigned GET URL for the file ``path``, with its size (for ranged, parallel reads).

        The URL lives ``expires_in`` seconds (default: ``MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS``
        or 300) and makes browsers save the file rather than render it.
        RESOURCE_DOES_NOT_EXIST if there is no such file.
        """
        rel = _file_rel(path)
        key = self._key(rel)
        client = self._client
        try:
            size = int(client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as err:
            if _is_missing(err):
                raise missing(rel) from None
            raise _wrap(err, f"lookup of {rel!r}") from err
        ttl = expires_in if expires_in is not None else _download_url_ttl()
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": _attachment(posixpath.basename(rel)),
        }
        try:
            url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        except Exception as err:
            raise _wrap(err, f"presigning {rel!r}") from err
        return PresignedDownload(url, {}, size)
