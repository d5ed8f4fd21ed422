"""The server's artifact roots, and the one check every stored or client-named location passes.

A tracking server reads files on behalf of clients: a run's artifacts
(``/get-artifact``, ``artifacts/list``), a model version's files, a logged
model's listing, a trace's ``traces.json``. Where those live is a location a
client influenced (an experiment's ``artifact_location``, a model version's
``source``, a trace tag). Without a check, a client that names ``/etc`` or
``s3://someone-elses-bucket`` makes the server read there with its own rights.

The roots are:

* the artifacts destination (``--artifacts-destination``), which
  ``mlflow-artifacts:/`` URIs map into;
* the default artifact root (``--default-artifact-root``) when it is a folder
  or a remote store (``s3://bucket/prefix``);
* whatever the operator adds with ``--allowed-artifact-roots``.

A location is inside a root when, for a local one, its real path (``file://``
decoded, ``..`` and symlinks resolved) is the root's real path or below it; for
a remote one, when scheme, bucket/host and query are the root's and its key
starts with the root's key prefix, segment by segment. Anything else answers
``INVALID_PARAMETER_VALUE`` (400, as MLflow's host policy does) and nothing is
read. Example::

    roots = ArtifactRoots.from_config(config)
    roots.resolve("s3://bucket/exp/1/abc/artifacts")    # a Destination, or a 400
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mltrail.artifacts.paths import is_local_uri, validate_artifact_location
from mltrail.exceptions import invalid
from mltrail.server.artifact_files import Destination, LocalDestination, RepoDestination

__all__ = ["ArtifactRoots", "local_path", "roots_for"]

_PROXY_SCHEME = "mlflow-artifacts"
_FLAG = "--allowed-artifact-roots"


def local_path(uri: str) -> str:
    """The file-system path a local location names (``file:`` URIs percent-decoded once).

    Refuses what is not this machine's disk: ``//host/share`` and
    ``file://host/…`` network paths, and Windows drive letters on a POSIX server.

    Example::

        local_path("file:///srv/a%20b")    # "/srv/a b"
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if uri.startswith("//") or (scheme == "file" and parts.netloc not in ("", "localhost")):
        raise invalid(f"Artifact location {uri!r} is a network path; only this machine's disk is served")
    if len(scheme) == 1 and os.name != "nt":
        raise invalid(f"Artifact location {uri!r} names a Windows drive; this server's disk has none")
    if scheme == "file":
        return unquote(parts.path) or "/"
    return uri


@dataclass(frozen=True, slots=True)
class _Remote:
    """A remote root, split for comparison: ``s3://bucket/a/b`` -> ("s3", "bucket", ("a", "b"), "")."""

    scheme: str
    netloc: str
    keys: tuple[str, ...]
    query: str

    @classmethod
    def parse(cls, uri: str) -> _Remote:
        parts = urlsplit(uri)
        keys = tuple(k for k in parts.path.split("/") if k)
        return cls(parts.scheme.lower(), parts.netloc.lower(), keys, parts.query)

    def contains(self, other: _Remote) -> bool:
        return (
            other.scheme == self.scheme
            and other.netloc == self.netloc
            and other.query == self.query
            and other.keys[: len(self.keys)] == self.keys
        )


class ArtifactRoots:
    """The places this server may read and write artifacts (see the module docstring)."""

    def __init__(self, uris: Iterable[str | None], proxy: Destination | None = None) -> None:
        self.proxy = proxy
        self.local: list[str] = []
        self.remote: list[_Remote] = []
        for uri in uris:
            if not uri or urlsplit(uri).scheme.lower() == _PROXY_SCHEME:
                continue  # mlflow-artifacts:/ maps into the destination, itself a root
            if is_local_uri(uri):
                real = os.path.realpath(local_path(uri))
                if real not in self.local:
                    self.local.append(real)
            else:
                self.remote.append(_Remote.parse(uri))

    @classmethod
    def from_config(cls, config: Any, proxy: Destination | None = None) -> ArtifactRoots:
        """The roots of a :class:`~mltrail.server.config.ServerConfig`."""
        extra = getattr(config, "allowed_artifact_roots", ()) or ()
        return cls([config.artifacts_destination, config.default_artifact_root, *extra], proxy)

    def describe(self) -> list[str]:
        """The roots, for messages and logs."""
        remote = [f"{r.scheme}://{r.netloc}/{'/'.join(r.keys)}" for r in self.remote]
        return [*self.local, *remote]

    def _outside(self, uri: str, what: str) -> Exception:
        return invalid(
            f"The {what} {uri!r} is outside this server's artifact roots, so the server does not read "
            f"or write there. An operator can allow it with 'mltrail server {_FLAG}'."
        )

    def local_real_path(self, uri: str, what: str = "artifact location") -> str:
        """The real path of a local ``uri`` if it lies inside a local root; 400 otherwise."""
        real = os.path.realpath(local_path(uri))
        for root in self.local:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return real
        raise self._outside(uri, what)

    def check(self, uri: str, what: str = "artifact location") -> str:
        """Return ``uri`` if the server may read it, else raise ``INVALID_PARAMETER_VALUE``.

        ``mlflow-artifacts:`` URIs are always inside (their path is checked when joined
        to the destination); ``what`` names the field in the message.
        """
        validate_artifact_location(uri, what=what)
        if urlsplit(uri).scheme.lower() == _PROXY_SCHEME:
            return uri
        if is_local_uri(uri):
            self.local_real_path(uri, what)
            return uri
        target = _Remote.parse(uri)
        if not any(root.contains(target) for root in self.remote):
            raise self._outside(uri, what)
        return uri

    def resolve(self, uri: str, what: str = "artifact location") -> Destination:
        """The :class:`Destination` for a location inside the roots (a 400 for anything else)."""
        validate_artifact_location(uri, what=what)
        parts = urlsplit(uri)
        if parts.scheme.lower() == _PROXY_SCHEME:
            if self.proxy is None:
                raise invalid(f"The {what} {uri!r} needs the artifact proxy, which this server does not run")
            return self.proxy.child(parts.path.lstrip("/"))
        if is_local_uri(uri):
            return LocalDestination(Path(self.local_real_path(uri, what)))
        self.check(uri, what)
        return RepoDestination(uri)


def roots_for(state: Any, config: Any) -> ArtifactRoots:
    """The app's :class:`ArtifactRoots`, built on first use and kept on ``app.state``."""
    roots = getattr(state, "artifact_roots", None)
    if roots is None:
        roots = ArtifactRoots.from_config(config, getattr(state, "artifact_destination", None))
        state.artifact_roots = roots  # built the same by any thread: a race only repeats the work
    return roots
