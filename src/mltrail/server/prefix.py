"""``--static-prefix``: the whole server answers under one URL path, for a proxy that forwards it.

MLflow's semantics: with ``--static-prefix /mlflow`` every route (the REST API,
``/ajax-api``, the artifact proxy, ``/health``, ``/version``, OTLP's
``/v1/traces``, the UI and its assets) is served at ``/mlflow/<route>``, and
nothing answers outside it. Clients use ``http://host:port/mlflow`` as their
tracking URI. The prefix must start with ``/``, must not end with ``/`` and may
not hold ``{`` or ``}`` (MLflow's checks), nor characters a URL path cannot
carry as they are, or that would need escaping in the page (spaces, ``?``, ``#``,
``%``, quotes, ``<``, ``>``, control characters).

The app strips the prefix once, on the raw ASGI scope, before anything else
looks at the path (browser guard, login, metrics, routing), and records it
under :data:`PREFIX_KEY` so the UI can put it into the page it serves. Redirects
to this server (the router's trailing-slash one builds its URL from the stripped
path) get the prefix back on their way out (:func:`keep_redirects_under`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.types import Message, Send

from mltrail.exceptions import invalid

#: Where the stripped prefix is kept in the ASGI scope (the UI's page shell reads it).
PREFIX_KEY = "mltrail.static_prefix"
_FORBIDDEN = frozenset("{}?#% \t\\\"'<>")


def validate_static_prefix(value: str | None) -> str:
    """``value`` checked as MLflow checks ``--static-prefix``; ``""`` for none.

    Raises :class:`~mltrail.exceptions.MltrailException` (``INVALID_PARAMETER_VALUE``)
    with the reason.
    """
    if not value:
        return ""
    if not value.startswith("/"):
        raise invalid("--static-prefix must begin with a '/'.")
    if value.endswith("/"):
        raise invalid("--static-prefix should not end with a '/'.")
    if "{" in value or "}" in value:
        raise invalid("--static-prefix must not contain '{' or '}'.")
    bad = sorted({c for c in value if c in _FORBIDDEN or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise invalid(f"--static-prefix must be a plain URL path; it contains {''.join(bad)!r}.")
    if "//" in value:
        raise invalid("--static-prefix must not contain an empty path segment ('//').")
    return value


def strip_prefix(scope: dict[str, Any], prefix: str) -> dict[str, Any] | str | None:
    """The HTTP/WebSocket ``scope`` with ``prefix`` taken off its path.

    Returns the new scope when the path lies under the prefix, the URL to
    redirect to when the path is exactly the prefix (``/mlflow`` goes to
    ``/mlflow/``, where the UI lives), and ``None`` when the path is outside it.
    """
    path: str = scope["path"]
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    if not rest:
        query = scope.get("query_string") or b""
        return prefix + "/" + ("?" + query.decode("latin-1") if query else "")
    if rest[0] != "/":  # /mlflowx is not under /mlflow
        return None
    new = dict(scope)
    new["path"] = rest
    raw = scope.get("raw_path")
    encoded = prefix.encode()
    if raw is not None:
        new["raw_path"] = raw[len(encoded) :] if raw.startswith(encoded) else rest.encode()
    new[PREFIX_KEY] = prefix
    return new


def keep_redirects_under(prefix: str, scope: dict[str, Any], send: Send) -> Send:
    """``send`` that puts ``prefix`` back on a redirect to this server that left it out.

    Nothing answers outside the prefix, so a ``Location`` on this server's host (or a
    bare path) that does not start with ``<prefix>/`` can only be one built from the
    stripped path: it gets the prefix in front. Other hosts' URLs pass as they are.
    """
    host = next((value for key, value in scope["headers"] if key == b"host"), None)

    async def send_redirect(message: Message) -> None:
        if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
            message["headers"] = [
                (key, _under_prefix(value, prefix, host) if key.lower() == b"location" else value)
                for key, value in message.get("headers", ())
            ]
        await send(message)

    return send_redirect


def _under_prefix(location: bytes, prefix: str, host: bytes | None) -> bytes:
    parts = urlsplit(location.decode("latin-1"))
    if parts.netloc and (host is None or parts.netloc.encode("latin-1").lower() != host.lower()):
        return location  # another server's URL
    if not parts.path.startswith("/") or parts.path == prefix or parts.path.startswith(prefix + "/"):
        return location
    return urlunsplit(parts._replace(path=prefix + parts.path)).encode("latin-1")
