"""What the artifact layer asks of the layers above it, registered by them (dependency inversion).

``runs:/`` and ``models:/`` URIs name things in the tracking store and the
model registry, and a host-less ``mlflow-artifacts:/`` URI depends on the
tracking URI in effect. Those live in :mod:`mltrail.tracking`, which sits
above this package, so this package never imports it: ``mltrail.tracking``
calls :func:`register` when it is imported. Code that uses ``mltrail.artifacts``
alone (``import mltrail; mltrail.artifacts.download_artifacts("runs:/…")``)
gets the SDK loaded by name on first need, as a plugin would be.

Example::

    register(
        resolvers={"runs": resolve_runs_uri},
        tracking_uri=get_tracking_uri,
        embedded_root=embedded_artifact_root,
    )
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

#: The package whose import registers the hooks below.
PROVIDER = "mltrail.tracking"

#: URI scheme -> ``resolve(uri, tracking_uri)``: the storage URI behind a ``runs:/`` or ``models:/`` URI.
_resolvers: dict[str, Callable[[str, str | None], str]] = {}
_tracking_uri: Callable[[], str] | None = None
_embedded_root: Callable[[str | None], str | None] | None = None


def register(
    resolvers: Mapping[str, Callable[[str, str | None], str]],
    tracking_uri: Callable[[], str],
    embedded_root: Callable[[str | None], str | None],
) -> None:
    """Install the SDK's answers: URI resolvers by scheme, the tracking URI in effect, and
    ``embedded_root(tracking_uri)``, the folder a server on an embedded store keeps
    ``mlflow-artifacts:/`` files in (``None`` when the tracking URI is a server)."""
    global _tracking_uri, _embedded_root
    _resolvers.update(resolvers)
    _tracking_uri = tracking_uri
    _embedded_root = embedded_root


def _load() -> None:
    if _tracking_uri is None:
        importlib.import_module(PROVIDER)  # its __init__ calls register()
    if _tracking_uri is None or _embedded_root is None:
        raise RuntimeError(f"{PROVIDER} did not register the artifact hooks")


def resolver(scheme: str) -> Callable[[str, str | None], str] | None:
    """The registered resolver for ``scheme`` (``"runs"``, ``"models"``), or ``None``."""
    _load()
    return _resolvers.get(scheme)


def current_tracking_uri() -> str:
    """The SDK's tracking URI in effect (``set_tracking_uri``, the environment, the default)."""
    _load()
    return _tracking_uri()  # type: ignore[misc]  # set by _load()


def embedded_root(tracking_uri: str | None) -> str | None:
    """Where a server on the same database keeps ``mlflow-artifacts:/`` files, ``None`` over HTTP."""
    _load()
    return _embedded_root(tracking_uri)  # type: ignore[misc]  # set by _load()
