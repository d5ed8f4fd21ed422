"""Artifact repositories, and MLflow's ``mlflow.artifacts`` module functions.

:func:`get_artifact_repository` picks the backend for a URI:

=====================================================  =============================
plain path, ``file:///...``                            :class:`LocalArtifactRepository`
``s3://bucket/prefix``                                 :class:`S3ArtifactRepository`
``mlflow-artifacts:/path``, ``mlflow-artifacts://h/p`` :class:`HttpArtifactRepository` (embedded
                                                       tracking URI: the server's artifact folder)
``http(s)://host/api/2.0/mlflow-artifacts/artifacts/p`` :class:`HttpArtifactRepository`
``runs:/<run_id>/path``, ``models:/name/version``      resolved first, then as above
=====================================================  =============================

This module is light on purpose: the backends (and httpx, boto3, PIL) are
imported only when a URI needs them.

Example::

    import mltrail.artifacts as artifacts
    local = artifacts.download_artifacts("runs:/<run_id>/model", dst_path="out")
    cfg = artifacts.load_dict("s3://bucket/exp/1/config.yaml")
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mltrail.artifacts import _hooks
from mltrail.artifacts.paths import (
    is_local_uri,
    resolve_under,
    split_artifact_uri,
    validate_artifact_location,
    validate_artifact_path,
)
from mltrail.entities.files import FileInfo
from mltrail.exceptions import BAD_REQUEST, MltrailException, invalid

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

    from mltrail.artifacts.base import ArtifactRepository

__all__ = [
    "ArtifactRepository",
    "FileInfo",
    "download_artifacts",
    "get_artifact_repository",
    "list_artifacts",
    "load_dict",
    "load_image",
    "load_text",
    "resolve_artifact_uri",
    "resolve_under",
    "validate_artifact_location",
    "validate_artifact_path",
]


def __getattr__(name: str) -> object:
    # The base class (and the thread pool it imports) loads when first named, not with the
    # package: the SDK imports this package for URI resolution long before it moves a file.
    if name == "ArtifactRepository":
        from mltrail.artifacts.base import ArtifactRepository

        return ArtifactRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _join_uri(base: str, rel: str) -> str:
    """``base`` (a URI or a plain path) with the relative path ``rel`` appended."""
    if not rel:
        return base
    return base.rstrip("/") + "/" + rel


def proxied_artifact_uri(uri: str, destination: str) -> str:
    """Where a host-less ``mlflow-artifacts:/<path>`` lives under a server's artifact destination.

    Example::

        proxied_artifact_uri("mlflow-artifacts:/0/abc/artifacts", "/srv/artifacts")
        # "/srv/artifacts/0/abc/artifacts"
    """
    return _join_uri(destination, validate_artifact_path(unquote(urlsplit(uri).path.strip("/"))))


def _resolve_by_sdk(uri: str, scheme: str, tracking_uri: str | None) -> str:
    """A ``runs:/`` or ``models:/`` URI resolved by the SDK layer that owns it (see :mod:`._hooks`)."""
    resolve = _hooks.resolver(scheme)
    if resolve is None:
        raise MltrailException(
            f"Cannot resolve {uri!r}: the {scheme}:/ resolver is not available in this install",
            error_code="FEATURE_DISABLED",
        )
    return resolve(uri, tracking_uri)


def resolve_artifact_uri(uri: str, tracking_uri: str | None = None) -> str:
    """Turn ``runs:/`` and ``models:/`` URIs into the storage URI behind them.

    ``runs:/`` asks the tracking store for the run's ``artifact_uri``;
    ``models:/`` asks the model registry. A host-less ``mlflow-artifacts:/``
    URI under an embedded (database) tracking URI becomes the path under the
    artifact destination a server on that database would use (see
    :func:`mltrail.tracking._model_uris.embedded_artifact_root`); under an http(s) tracking URI it stays as
    is, for the server's proxy. Other URIs are returned unchanged.
    """
    if not isinstance(uri, str) or not uri:
        raise invalid("An artifact URI must be a non-empty string")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "runs":
        return _resolve_by_sdk(uri, scheme, tracking_uri)
    if scheme == "models":
        return resolve_artifact_uri(_resolve_by_sdk(uri, scheme, tracking_uri), tracking_uri)
    if scheme == "mlflow-artifacts" and not parts.netloc:
        root = _hooks.embedded_root(tracking_uri)
        if root is not None:
            return proxied_artifact_uri(uri, root)
    return uri


def get_artifact_repository(uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The repository for an artifact root URI, chosen by scheme.

    ``tracking_uri`` is needed to resolve ``runs:/``/``models:/`` URIs and
    host-less ``mlflow-artifacts:/`` URIs (the default tracking URI from
    ``MLTRAIL_TRACKING_URI``/``MLFLOW_TRACKING_URI`` is used when omitted).

    Example::

        repo = get_artifact_repository("mlflow-artifacts:/0/abc/artifacts",
                                       tracking_uri="http://127.0.0.1:5000")
    """
    uri = resolve_artifact_uri(uri, tracking_uri)
    if is_local_uri(uri):
        from mltrail.artifacts.local import LocalArtifactRepository

        return LocalArtifactRepository(uri)
    # Remote roots come from stores and servers: refuse '#', ';', '..' and friends.
    validate_artifact_location(uri, what="artifact URI")
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "s3":
        from mltrail.artifacts.s3 import S3ArtifactRepository

        return S3ArtifactRepository(uri)
    if scheme in ("mlflow-artifacts", "http", "https"):
        from mltrail.artifacts.http import HttpArtifactRepository

        return HttpArtifactRepository(uri, tracking_uri=tracking_uri)
    raise invalid(
        f"Unsupported artifact URI scheme {scheme!r}: use a local path, file://, s3://, "
        "mlflow-artifacts:/, or an http(s) artifact proxy URL"
    )


def _root_and_path(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """Split a URI naming one artifact into (parent root URI, last path component)."""
    uri = resolve_artifact_uri(artifact_uri, tracking_uri)
    parent, name = split_artifact_uri(uri)
    if not name:  # the URI is a root itself (s3://bucket, mlflow-artifacts:/)
        return uri, ""
    return parent, validate_artifact_path(name)


def _check_target(artifact_uri: str | None, run_id: str | None, what: str) -> None:
    if artifact_uri is None and run_id is None:
        raise invalid(f"{what}: give either artifact_uri or run_id")
    if artifact_uri is not None and run_id is not None:
        raise invalid(f"{what}: give artifact_uri or run_id, not both")


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download an artifact file or directory; return its local path (MLflow's signature).

    Give either ``artifact_uri`` (any supported URI, e.g. ``runs:/<id>/model``)
    or ``run_id`` with an optional ``artifact_path``. ``dst_path`` defaults to
    a new temporary directory.

    Example::

        path = download_artifacts(run_id=run.info.run_id, artifact_path="model")
    """
    _check_target(artifact_uri, run_id, "download_artifacts")
    if artifact_uri is not None:
        if artifact_path is not None:
            raise invalid("download_artifacts: artifact_path goes with run_id, not artifact_uri")
        root, rel = _root_and_path(artifact_uri, tracking_uri)
        return get_artifact_repository(root, tracking_uri).download_artifacts(rel, dst_path)
    rel = validate_artifact_path(artifact_path)
    repo = get_artifact_repository(f"runs:/{run_id}", tracking_uri)
    return repo.download_artifacts(rel, dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """List artifacts one level deep (MLflow's signature and path semantics).

    With ``artifact_uri`` the returned paths are relative to the URI's parent,
    as in MLflow; with ``run_id`` they are relative to the run's artifact root.
    """
    _check_target(artifact_uri, run_id, "list_artifacts")
    if artifact_uri is not None:
        root, rel = _root_and_path(artifact_uri, tracking_uri)
        return get_artifact_repository(root, tracking_uri).list_artifacts(rel)
    repo = get_artifact_repository(f"runs:/{run_id}", tracking_uri)
    return repo.list_artifacts(validate_artifact_path(artifact_path))


def _read_artifact(artifact_uri: str, tracking_uri: str | None = None) -> bytes:
    root, rel = _root_and_path(artifact_uri, tracking_uri)
    if not rel:
        raise invalid(f"{artifact_uri!r} names an artifact root, not a file")
    return get_artifact_repository(root, tracking_uri).read_bytes(rel)


def load_text(artifact_uri: str) -> str:
    """The content of a text artifact (UTF-8).

    Example::

        load_text("runs:/<run_id>/prompts/system.txt")
    """
    return _read_artifact(artifact_uri).decode("utf-8")


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """A JSON or YAML artifact as a dict (YAML for ``.yaml``/``.yml``, else JSON then YAML)."""
    text = load_text(artifact_uri)
    is_yaml = os.path.splitext(urlsplit(artifact_uri).path)[1].lower() in (".yaml", ".yml")
    if not is_yaml:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise MltrailException(
            f"Unable to form a JSON or YAML object from the content of {artifact_uri!r}",
            error_code=BAD_REQUEST,
        )
    return data


def load_image(artifact_uri: str) -> Image:
    """An image artifact as a ``PIL.Image.Image`` (needs Pillow)."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise MltrailException(
            "load_image needs Pillow: pip install pillow", error_code=BAD_REQUEST
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        local = download_artifacts(artifact_uri=artifact_uri, dst_path=tmp)
        with PILImage.open(local) as img:
            img.load()  # read pixels now: the temp file goes away below
            return img.copy()
