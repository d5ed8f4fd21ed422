"""The one path-safety check every artifact call goes through.

Three functions, each raising ``INVALID_PARAMETER_VALUE`` (HTTP 400) with a
clear message:

* :func:`validate_artifact_path` for a path *inside* an artifact root
  (what users pass as ``artifact_path``, what a server receives after
  ``/mlflow-artifacts/artifacts/``, what a remote listing returns);
* :func:`resolve_under` for turning such a path into a real file-system path
  that provably stays under a root, symlinks included;
* :func:`validate_artifact_location` for whole locations: an experiment's
  ``artifact_location``, a model version's ``source``, a server's artifact root.

Example::

    rel = validate_artifact_path("plots/loss.png")        # "plots/loss.png"
    real = resolve_under(Path("/srv/artifacts/0/abc"), rel)
    validate_artifact_location("s3://bucket/exp", allow_local=False)

Why decode repeatedly: MLflow's path-traversal advisories were all variations of
one trick, a payload that only turns into ``../`` after one or two rounds of
percent-decoding somewhere downstream (a proxy, a framework, a storage SDK).
Checking every decoded layer closes the whole family at once.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

from mltrail.exceptions import MltrailException, invalid

__all__ = [
    "is_local_uri",
    "join_artifact_path",
    "resolve_under",
    "split_artifact_uri",
    "validate_artifact_location",
    "validate_artifact_path",
]

# More than a few layers of encoding is never legitimate; stop decoding there.
_MAX_DECODE_ROUNDS = 4
_MAX_PATH_LEN = 4096
# A drive letter ("C:"), a "scheme://" or a "file:" prefix: a URI or a drive, never a
# relative path. Other colons stay legal ("epoch:3.txt" is a fine file name).
_SCHEME_PREFIX = re.compile(r"^(?:[A-Za-z]:|[A-Za-z][A-Za-z0-9+.\-]*://|file:)", re.IGNORECASE)
# Percent-escapes that decode to a separator, a dot, NUL or another control
# character. A real file name has no reason to carry them encoded.
_DANGEROUS_ESCAPE = re.compile(r"%(2[eEfF]|5[cC]|[01][0-9a-fA-F]|7[fF])")


def _control_char(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _shown(text: str) -> str:
    """A short, printable rendering of user input for error messages."""
    return repr(text if len(text) <= 120 else text[:117] + "...")


def _decoded_layers(text: str) -> list[str]:
    """``text`` and each successive percent-decoding of it, until it stops changing."""
    layers = [text]
    for _ in range(_MAX_DECODE_ROUNDS):
        nxt = unquote(layers[-1])
        if nxt == layers[-1]:
            break
        layers.append(nxt)
    return layers


def _path_problem(layer: str) -> str | None:
    """Why one (possibly decoded) form of a relative path is unsafe, or None."""
    if "\x00" in layer:
        return "NUL bytes are not allowed"
    if _control_char(layer):
        return "control characters are not allowed"
    if "\\" in layer:
        return "backslashes are not allowed"
    if _DANGEROUS_ESCAPE.search(layer):
        return "percent-encoded dots, separators or control characters are not allowed"
    if "#" in layer:
        return "'#' fragments are not allowed"
    if ";" in layer:
        return "';' parameters are not allowed"
    if layer.startswith("/") or PurePosixPath(layer).is_absolute() or PureWindowsPath(layer).is_absolute():
        return "absolute paths are not allowed"
    if _SCHEME_PREFIX.match(layer):
        return "URIs and drive letters are not allowed; give a path relative to the artifact root"
    if ".." in layer.split("/"):
        return "'..' segments are not allowed"
    return None


def validate_artifact_path(path: str | None) -> str:
    """Check a path relative to an artifact root and return it normalized.

    Returns a relative POSIX path without ``.`` or empty segments and without a
    trailing slash; ``""`` means the root itself (for ``None``, ``""``, ``"."``).

    Rejects, with ``INVALID_PARAMETER_VALUE``: ``..`` segments, absolute paths
    (``/x``, ``//host/x``, ``C:\\x``, ``C:/x``), URIs (``file://...``),
    backslashes, NUL and other control characters, ``#`` and ``;``, and all of
    these again after one or more rounds of percent-decoding (``%2e%2e%2f``,
    ``%252e%252e%252f``, ``%2F``, ``%5C``, ``%00``).

    Example::

        validate_artifact_path("./model//MLmodel")   # "model/MLmodel"
        validate_artifact_path("../etc/passwd")      # raises MltrailException
    """
    if path is None:
        return ""
    if not isinstance(path, str):
        raise invalid(f"Invalid artifact path: expected a string, got {type(path).__name__}")
    if len(path) > _MAX_PATH_LEN:
        raise invalid(f"Invalid artifact path: longer than {_MAX_PATH_LEN} characters")
    for layer in _decoded_layers(path):
        problem = _path_problem(layer)
        if problem:
            raise invalid(f"Invalid artifact path {_shown(path)}: {problem}")
    return "/".join(seg for seg in path.split("/") if seg not in ("", "."))


def join_artifact_path(*parts: str | None) -> str:
    """Join relative artifact paths with ``/``, skipping empty parts (no validation)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def resolve_under(root: str | os.PathLike[str], rel: str) -> Path:
    """The real path of ``root/rel``, refusing anything that leaves ``root``.

    ``rel`` is checked with :func:`validate_artifact_path` first. Symlinks are
    resolved (the target need not exist yet, so this also guards uploads); a
    link inside the root that points outside it is rejected.

    Example::

        resolve_under(Path("/srv/a"), "x/y.txt")   # Path("/srv/a/x/y.txt")
    """
    clean = validate_artifact_path(rel)
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *clean.split("/")) if clean else real_root)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise invalid(f"Invalid artifact path {_shown(rel)}: it resolves outside the artifact root")
    return Path(real)


def is_local_uri(uri: str) -> bool:
    """True for plain paths, ``file:`` URIs and ``//`` network paths (anything on this host's disk)."""
    if uri.startswith("//"):
        return True
    scheme = urlsplit(uri).scheme.lower()
    # A one-letter "scheme" is a Windows drive letter.
    return scheme in ("", "file") or len(scheme) == 1


def _redacted(uri: str) -> str:
    """A URI safe to show: no user-info (credentials), query or fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme and netloc else parts.path
    if parts.scheme and not netloc:
        shown = f"{parts.scheme}:{parts.path}"
    return _shown(shown)


def validate_artifact_location(
    uri: str | None, *, allow_local: bool = True, what: str = "artifact location"
) -> str:
    """Check a whole artifact location or model source URI; return it unchanged.

    For experiment ``artifact_location``s, ``--default-artifact-root`` and model
    version ``source``s. Rejects, with ``INVALID_PARAMETER_VALUE``:

    * empty values, NUL and other control characters;
    * ``#`` fragments and ``;`` parameters anywhere (they split the location
      differently for different parsers);
    * ``..`` segments in the path or query, also percent-encoded (once or more);
    * backslashes (Windows-style traversal such as ``\\..\\``);
    * ``runs:`` URIs (a location must be concrete, as in MLflow);
    * with ``allow_local=False``: plain paths, ``file:`` URIs and ``//`` network
      paths. Registry servers pass this for model sources that are not tied to
      a run, so a client cannot point a model at the server's own disk.

    ``what`` names the field in the error message (e.g. ``"model version source"``).
    Credentials in the URI are never echoed.

    Example::

        validate_artifact_location("s3://bucket/models/1")                    # ok
        validate_artifact_location("file:///etc", allow_local=False)          # raises
        validate_artifact_location("s3://b/x#frag")                           # raises
    """
    if uri is None or not isinstance(uri, str) or not uri.strip():
        raise invalid(f"Invalid {what}: must be a non-empty string")
    if len(uri) > _MAX_PATH_LEN:
        raise invalid(f"Invalid {what}: longer than {_MAX_PATH_LEN} characters")

    def bad(reason: str) -> MltrailException:
        return invalid(f"Invalid {what} {_redacted(uri)}: {reason}")

    for layer in _decoded_layers(uri):
        if "\x00" in layer:
            raise bad("NUL bytes are not allowed")
        if _control_char(layer):
            raise bad("control characters are not allowed")
        if "#" in layer:
            raise bad("'#' fragments are not allowed")
        if ";" in layer:
            raise bad("';' parameters are not allowed")
        if "\\" in layer:
            raise bad("backslashes are not allowed")
        try:
            parts = urlsplit(layer)
        except ValueError as err:
            raise bad(f"not a valid URI ({err})") from None
        if ".." in parts.path.split("/") or ".." in re.split(r"[/&=]", parts.query):
            raise bad("'..' segments are not allowed")
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "runs":
        raise bad("'runs:' URIs cannot be used as a location; use the run's artifact URI")
    if not allow_local and is_local_uri(uri):
        raise bad("local paths, 'file:' URIs and '//' network paths are not allowed here")
    return uri


def split_artifact_uri(uri: str) -> tuple[str, str]:
    """Split a URI into its parent and last path component (``"s3://b/x/y"`` -> ``("s3://b/x", "y")``)."""
    parts = urlsplit(uri)
    head, tail = posixpath.split(parts.path.rstrip("/"))
    parent = parts._replace(path=head).geturl() if parts.scheme else (head or ".")
    return parent, tail
