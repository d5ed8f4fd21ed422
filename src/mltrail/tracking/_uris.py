"""Which tracking and registry URIs the SDK talks to.

Resolution order, as in MLflow: a URI set with :func:`set_tracking_uri`, then
the ``MLTRAIL_TRACKING_URI`` and ``MLFLOW_TRACKING_URI`` environment variables,
then the embedded default ``sqlite:///<cwd>/mltrail.db`` (artifacts in
``<cwd>/mltrail-artifacts``). The default follows the current directory at the
time of each call, so a program that changes directory gets a store there.

The registry URI defaults to the tracking URI (``MLTRAIL_REGISTRY_URI`` /
``MLFLOW_REGISTRY_URI`` override it).

Example::

    import mltrail
    mltrail.set_tracking_uri("postgresql://user@db/mltrail")
    assert mltrail.get_tracking_uri() == "postgresql://user@db/mltrail"
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TRACKING_URI_ENV_VARS = ("MLTRAIL_TRACKING_URI", "MLFLOW_TRACKING_URI")
REGISTRY_URI_ENV_VARS = ("MLTRAIL_REGISTRY_URI", "MLFLOW_REGISTRY_URI")
DEFAULT_DB_FILE = "mltrail.db"
DEFAULT_ARTIFACTS_DIR = "mltrail-artifacts"

_tracking_uri: str | None = None
_registry_uri: str | None = None

# A scheme is letters/digits/+-. before "://" or ":" (but not a one-letter drive).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def default_tracking_uri() -> str:
    """The embedded default: a SQLite file in the current directory."""
    return f"sqlite:///{Path.cwd() / DEFAULT_DB_FILE}"


def _normalize(uri: str | os.PathLike[str]) -> str:
    """Pin relative locations to the current directory, so a later ``chdir`` cannot move the store.

    Plain paths become absolute ``file://`` URIs (as in MLflow) and
    ``sqlite:///relative.db`` becomes ``sqlite:////abs/dir/relative.db``.
    """
    text = os.fspath(uri).strip()
    if text and not _SCHEME.match(text):
        return Path(text).expanduser().resolve().as_uri()
    if text.lower().startswith("sqlite:///"):
        path = text[len("sqlite:///") :]
        if path and not path.startswith(("/", ":memory:", "file:")):
            return f"{text[: len('sqlite:///')]}{Path.cwd() / path}"
    return text


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point the SDK at a store for this process.

    Accepts ``sqlite:///path.db``, ``postgresql://…``, ``mysql://…``,
    ``http(s)://host:port`` (an mltrail or MLflow server), or a local folder
    (``file:///path`` or a plain path), which means ``<folder>/mltrail.db``
    with artifacts in ``<folder>/mltrail-artifacts``. ``None`` or ``""`` go
    back to the environment variables / embedded default.
    """
    global _tracking_uri
    _tracking_uri = _normalize(uri) if uri else None


def is_tracking_uri_set() -> bool:
    """True when a URI was set explicitly or through an environment variable."""
    return _tracking_uri is not None or any(os.environ.get(v) for v in TRACKING_URI_ENV_VARS)


def get_tracking_uri() -> str:
    """The tracking URI in effect (set, from the environment, or the embedded default)."""
    if _tracking_uri is not None:
        return _tracking_uri
    for var in TRACKING_URI_ENV_VARS:
        value = os.environ.get(var)
        if value:
            return _normalize(value)
    return default_tracking_uri()


def resolve_tracking_uri(uri: str | os.PathLike[str] | None = None) -> str:
    """``uri`` normalized when given, else :func:`get_tracking_uri`."""
    return _normalize(uri) if uri else get_tracking_uri()


def set_registry_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point the model registry at a store (defaults to the tracking URI)."""
    global _registry_uri
    _registry_uri = _normalize(uri) if uri else None


def get_registry_uri() -> str:
    """The registry URI in effect: set, from the environment, or the tracking URI."""
    return resolve_registry_uri(None, None)


def resolve_registry_uri(registry_uri: str | None, tracking_uri: str | None) -> str:
    """An explicit registry URI, else the set/env one, else the (resolved) tracking URI."""
    if registry_uri:
        return _normalize(registry_uri)
    if _registry_uri is not None:
        return _registry_uri
    for var in REGISTRY_URI_ENV_VARS:
        value = os.environ.get(var)
        if value:
            return _normalize(value)
    return resolve_tracking_uri(tracking_uri)
