"""Server-side checks on client-supplied artifact locations.

Relative artifact paths go through the artifacts package's one check
(:func:`mltrail.artifacts.paths.validate_artifact_path`). Locations a client
names for an experiment get that package's location check plus the server's
rules: a relative folder is pinned to the server's working directory when the
experiment is created (as MLflow's ``resolve_uri_if_local`` does), and a
network path (``//host/…``, ``file://host/…``) is refused because only this
host's disk is addressable.

Accepting a location is not permission to read it: every server read of a
stored location goes through :mod:`mltrail.server.roots`, which refuses
anything outside the server's artifact roots.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mltrail.artifacts.paths import is_local_uri, validate_artifact_location, validate_artifact_path
from mltrail.exceptions import invalid

check_relative_path = validate_artifact_path


def path_param(call: Any, name: str) -> str:
    """The URL path parameter ``name`` ('' if absent); 400 if it carries a control character.

    Route patterns match any character but ``/``, so ``/traces/tr-%00x`` reaches the
    handler; a NUL must not reach the database (PostgreSQL refuses it with an error
    that would otherwise be a 500).

    Example::

        trace_id = path_param(call, "trace_id")
    """
    return no_control_chars(str(call.path_params.get(name) or ""), name)


def no_control_chars(value: str, name: str) -> str:
    """``value``, or 400 if it carries NUL or another control character (``name`` is the field)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise invalid(f"Invalid {name} {value!r}: control characters are not allowed")
    return value


def _pinned(location: str) -> str:
    """A relative local location made absolute against the working directory (MLflow's rule)."""
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        if parts.path.startswith("/"):
            return location
        absolute = os.path.join(os.getcwd(), parts.path).replace(os.sep, "/")
        return urlunsplit(("file", "", absolute, parts.query, ""))
    return location if os.path.isabs(location) else os.path.join(os.getcwd(), location)


def check_artifact_location(location: str) -> str:
    """Return ``location`` (a relative folder made absolute) or raise 400 if it is not a safe URI.

    Example::

        check_artifact_location("s3://bucket/exp")       # "s3://bucket/exp"
        check_artifact_location("runs/exp")              # "<server cwd>/runs/exp"
        check_artifact_location("/srv/a/../../etc")      # raises INVALID_PARAMETER_VALUE
    """
    validate_artifact_location(location, what="artifact location")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if location.startswith("//"):
        raise invalid(f"Invalid artifact location {location!r}: '//' network paths are not allowed")
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        raise invalid(f"Invalid artifact location {location!r}: 'file://<host>' network paths are not allowed")
    if len(scheme) == 1 and os.name != "nt":
        raise invalid(f"Invalid artifact location {location!r}: this server has no drive letters")
    if is_local_uri(location):
        return _pinned(location)
    if scheme != "mlflow-artifacts" and not parts.netloc:
        raise invalid(f"Invalid artifact location {location!r}: it names no bucket or host")
    return location
