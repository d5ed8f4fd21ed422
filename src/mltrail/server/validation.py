"""Server-side checks on client-supplied artifact locations.

Relative artifact paths go through the artifacts package's one check
(:func:`mltrail.artifacts.paths.validate_artifact_path`). Locations a client
names for an experiment get that package's location check plus two server
rules: a location on this machine must be absolute (a relative path would be
resolved against the server's working directory), and ``file://host/…`` is
refused (only this host's disk is addressable).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mltrail.artifacts.paths import validate_artifact_location, validate_artifact_path
from mltrail.exceptions import invalid

check_relative_path = validate_artifact_path


def check_artifact_location(location: str) -> str:
    """Return ``location`` or raise 400 if it is not a safe artifact root URI.

    Example::

        check_artifact_location("s3://bucket/exp")       # ok
        check_artifact_location("/srv/a/../../etc")      # raises INVALID_PARAMETER_VALUE
    """
    validate_artifact_location(location, what="artifact location")
    bad = invalid(f"Invalid artifact location {location!r}: a local location must be an absolute path")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if location.startswith("//"):
        raise invalid(f"Invalid artifact location {location!r}: '//' network paths are not allowed")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise bad
    elif (not scheme or len(scheme) == 1) and not location.startswith("/"):
        raise bad
    elif scheme and scheme not in ("file", "mlflow-artifacts") and len(scheme) > 1 and not parts.netloc:
        raise invalid(f"Invalid artifact location {location!r}: it names no bucket or host")
    return location
