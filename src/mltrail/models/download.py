"""Turn any model URI into a local model directory."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException


def local_path_of(uri: str) -> Path | None:
    """The local directory a plain path or ``file://`` URI names, else ``None``."""
    if uri.startswith("file:"):
        parsed = urlparse(uri)
        return Path(parsed.path)
    if "://" in uri or uri.startswith(("runs:/", "models:/", "mlflow-artifacts:")):
        return None
    return Path(uri)


def download_model(
    model_uri: str, dst_path: str | os.PathLike | None = None, tracking_uri: str | None = None
) -> Path:
    """A local directory holding the model at ``model_uri`` (downloaded when remote)."""
    local = local_path_of(str(model_uri))
    if local is None:
        from mltrail.models.uri import resolve_model_uri

        concrete = resolve_model_uri(str(model_uri), tracking_uri=tracking_uri)
        local = local_path_of(concrete)
        if local is None:
            from mltrail.artifacts import download_artifacts
            from mltrail.tracking import get_tracking_uri

            # mlflow-artifacts:/ URIs without a host are relative to the tracking server in use.
            return Path(
                download_artifacts(
                    artifact_uri=concrete,
                    dst_path=str(dst_path) if dst_path else None,
                    tracking_uri=tracking_uri or get_tracking_uri(),
                )
            )
    if not local.exists():
        raise MltrailException(f"No model found at '{model_uri}'", error_code=RESOURCE_DOES_NOT_EXIST)
    return local
