"""Browser protections: the server cannot be turned against itself from a web page.

MLflow 3's security middleware, with its flag names and semantics, in one
check that runs on the raw ASGI ``scope`` before anything else:

* **DNS rebinding**: the ``Host`` header must be an allowed host
  (``--allowed-hosts``; default: the loopback names, private-network IP
  literals and the bound address). ``/health`` and ``/version`` are exempt, as
  in MLflow, so probes that address a pod by any name keep working.
* **Cross-site request forgery**: a state-changing request (POST, PUT, DELETE,
  PATCH) that carries an ``Origin`` is refused unless that origin is this
  server's own or one of ``--cors-allowed-origins``; requests without
  ``Origin`` (the official client, curl, scripts) pass as before.
* **Content types**: POST/PUT to the JSON API must say ``application/json``
  (MLflow's rule), so a ``text/plain`` or form POST, which a browser sends
  cross-site without asking, never reaches a handler. Raw-body endpoints (the
  artifact upload, OTLP ingest) take their own types, but a POST must still
  name one a browser cannot send without a preflight.
* **CORS**: preflights and response headers only for allowed cross-origin
  origins; ``X-Content-Type-Options: nosniff`` and ``X-Frame-Options`` on every
  response.

Per request the cost is one scan of the scope's headers and a dict lookup for
the Host verdict (cached per distinct header value). Example::

    guard = Guard.from_config(config, raw_routes)
    refusal = guard.check(scope)      # a Response to send instead, or None
    send = guard.wrap_send(scope, send)  # adds the security and CORS headers
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Message, Scope, Send

from mltrail.exceptions import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, MltrailException
from mltrail.server.dispatch import error_response

if TYPE_CHECKING:
    from mltrail.server.config import ServerConfig

_log = logging.getLogger("mltrail.server")

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# MLflow checks the body's type on these two only (DELETE/PATCH always need a CORS preflight).
_TYPED_BODY_METHODS = frozenset({"POST", "PUT"})
HOST_EXEMPT_PATHS = frozenset({"/health", "/version"})
API_PREFIXES = ("/api/", "/ajax-api/")
# MLflow's localhost variants: always allowed, whatever --allowed-hosts says.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "0.0.0.0"})
# MLflow's default private-network patterns (10.*, 172.16-31.*, 192.168.*, fc00:*, fd00:*),
# matched as IP literals only, so "10.evil.example" is not mistaken for one.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# The Content-Types a browser sends cross-site without a preflight (the CORS "simple" ones).
_SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
_JSON = "application/json"
CORS_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
_CORS_METHOD_SET = frozenset(CORS_METHODS.split(", "))
_PREFLIGHT_MAX_AGE = b"600"
_HOST_CACHE_SIZE = 1024
_NAME = re.compile(r"^[a-z0-9_.-]+$")
_IPV6 = re.compile(r"^\[[0-9a-f:.]+\]$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
X_FRAME_OPTIONS_CHOICES = ("SAMEORIGIN", "DENY", "NONE")

INVALID_HOST_MSG = "Invalid Host header - possible DNS rebinding attack detected"
CORS_BLOCKED_MSG = "Cross-origin request blocked"


def split_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (MLflow's comma-separated flag format)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def split_host(value: str) -> tuple[str, str] | None:
    """A ``Host`` header as ``(name, port)``, normalized; None when it is not a host.

    Lower-cased (host names are case-insensitive), one trailing dot dropped
    (``localhost.`` is ``localhost``), IPv6 kept in brackets (``[::1]``); the
    port is ``""`` when absent. Anything else (spaces, ``@``, paths, two ports)
    is refused rather than guessed at.
    """
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        name, rest = text[: end + 1], text[end + 1 :]
        if end < 0 or not _IPV6.match(name):
            return None
    else:
        name, sep, port = text.partition(":")
        rest = sep + port
        name = name[:-1] if name.endswith(".") else name
        if not _NAME.match(name) or ".." in name:
            return None
    if rest and not (rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6):
        return None
    return name, rest[1:]


def _ip_literal(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return None


def _wildcard(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for MLflow-style patterns: ``*`` matches anything, the rest literally."""
    parts = [re.escape(p.lower()).replace(r"\*", ".*") for p in patterns]
    return re.compile("^(?:" + "|".join(parts) + ")$") if parts else None


def default_allowed_hosts(bind_host: str) -> list[str]:
    """What ``--allowed-hosts`` means when not given: private IPs plus the bound address.

    The loopback names are always allowed on top of any list.
    """
    hosts = ["<private-ip>"]
    if bind_host not in ("0.0.0.0", "::", ""):
        hosts.append(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return hosts


class Guard:
    """The per-request browser protections of one app (see the module docstring)."""

    def __init__(
        self,
        allowed_hosts: list[str],
        allowed_origins: list[str],
        x_frame_options: str = "SAMEORIGIN",
        raw_routes: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """``allowed_hosts``: patterns (``*`` wildcards; ``"<private-ip>"`` for private IP literals).

        ``allowed_origins``: ``--cors-allowed-origins`` entries (exact, ``*`` wildcards,
        or ``"*"`` for every origin). ``raw_routes``: path (or path prefix ending in
        ``/``) -> methods of endpoints that read their own body instead of JSON.
        """
        self.any_host = "*" in allowed_hosts
        self.private_ips = "<private-ip>" in allowed_hosts
        self._host_pattern = _wildcard(h for h in allowed_hosts if h not in ("*", "<private-ip>"))
        self.any_origin = "*" in allowed_origins
        self._origin_pattern = _wildcard(o.rstrip("/") for o in allowed_origins if o != "*")
        self._host_cache: dict[bytes, tuple[str, str] | None] = {}
        raw = dict(raw_routes or {})
        self._raw_exact = {p: m for p, m in raw.items() if not p.endswith("/")}
        self._raw_prefixes = tuple((p, m) for p, m in raw.items() if p.endswith("/"))
        headers = [(b"x-content-type-options", b"nosniff")]
        xfo = (x_frame_options or "").strip().upper()
        if xfo and xfo != "NONE":
            headers.append((b"x-frame-options", xfo.encode("latin-1")))
        self._security_headers = headers
        self._security_names = frozenset(key for key, _ in headers)

    @classmethod
    def from_config(cls, config: ServerConfig, raw_routes: Mapping[str, frozenset[str]] | None = None) -> Guard | None:
        """The guard ``config`` asks for; None with ``--disable-security-middleware``."""
        if config.disable_security_middleware:
            return None
        hosts = split_list(config.allowed_hosts) or default_allowed_hosts(config.host)
        return cls(hosts, split_list(config.cors_allowed_origins), config.x_frame_options, raw_routes)

    # ------------------------------------------------------------------ hosts
    def host_allowed(self, raw: bytes) -> tuple[str, str] | None:
        """The normalized ``(name, port)`` of an allowed Host header value, else None (cached)."""
        try:
            return self._host_cache[raw]
        except KeyError:
            pass
        verdict = self._judge_host(raw.decode("latin-1"))
        if len(self._host_cache) < _HOST_CACHE_SIZE:  # bounded: refused values may be endless
            self._host_cache[raw] = verdict
        return verdict

    def _judge_host(self, value: str) -> tuple[str, str] | None:
        parsed = split_host(value)
        if parsed is None:
            return None
        if self.any_host:
            return parsed
        name, port = parsed
        if name in LOOPBACK_NAMES:
            return parsed
        ip = _ip_literal(name)
        # Any loopback literal is this machine; private literals can never be a rebound name.
        if ip is not None and (ip.is_loopback or (self.private_ips and any(ip in n for n in PRIVATE_NETWORKS))):
            return parsed
        pattern = self._host_pattern
        if pattern is not None and (pattern.match(name) or (port and pattern.match(f"{name}:{port}"))):
            return parsed
        return None

    # ---------------------------------------------------------------- origins
    def origin_allowed(self, origin: str) -> bool:
        """Whether a cross-origin ``Origin`` is one of ``--cors-allowed-origins``."""
        if self.any_origin:
            return True
        pattern = self._origin_pattern
        return pattern is not None and pattern.match(origin.lower()) is not None

    @staticmethod
    def same_origin(origin: str, host: tuple[str, str]) -> bool:
        """Whether ``origin`` names the server the request reached (its Host), any scheme.

        Behind a TLS proxy the browser's origin is ``https://name`` while the
        Host header says ``name``: the scheme's default port stands in.
        """
        scheme, sep, authority = origin.partition("://")
        if not sep:
            return False  # "null" (sandboxed frames, file: pages) and garbage
        parsed = split_host(authority)
        if parsed is None:
            return False
        name, port = parsed
        default = _DEFAULT_PORTS.get(scheme.lower(), "")
        port = port or default
        host_name, host_port = host
        return name == host_name and (port == host_port or (not host_port and port == default))

    # ------------------------------------------------------------------ check
    def check(self, scope: Scope) -> Response | None:
        """The response that refuses (or answers, for a CORS preflight) this request, or None.

        Leaves ``scope["mltrail.cors"]`` set to the origin to echo in CORS headers
        when the request comes from an allowed other origin.
        """
        host = origin = ctype = acrm = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"origin":
                origin = value
            elif key == b"content-type":
                ctype = value
            elif key == b"access-control-request-method":
                acrm = value
        path = scope["path"]
        host_parts = self.host_allowed(host) if host is not None else None
        if host_parts is None and path not in HOST_EXEMPT_PATHS:
            _log.warning("Refused a request with Host header %r", host)
            shown = "none" if host is None else repr(host.decode("latin-1")[:100])
            return _refuse(
                f"{INVALID_HOST_MSG}: Host {shown} is not allowed (start the server with "
                "--allowed-hosts to accept it)",
                PERMISSION_DENIED,
            )
        method = scope["method"]
        if origin is not None:
            origin_text = origin.decode("latin-1").strip()
            same = host_parts is not None and self.same_origin(origin_text, host_parts)
            if not same:
                allowed = self.origin_allowed(origin_text)
                if allowed:
                    scope["mltrail.cors"] = origin_text
                if method == "OPTIONS" and acrm is not None:
                    return self._preflight(scope, origin_text, acrm, allowed)
                if method in STATE_CHANGING_METHODS and not allowed:
                    _log.warning("Refused a cross-origin %s %s from %r", method, path, origin_text)
                    return _refuse(
                        f"{CORS_BLOCKED_MSG}: origin {origin_text[:100]!r} may not send {method} requests "
                        "to this server (start it with --cors-allowed-origins to allow it)",
                        PERMISSION_DENIED,
                    )
        if method in _TYPED_BODY_METHODS:
            return self._check_content_type(path, method, ctype)
        return None

    def _check_content_type(self, path: str, method: str, ctype: bytes | None) -> Response | None:
        media = ctype.decode("latin-1").split(";", 1)[0].strip().lower() if ctype is not None else None
        raw_methods = self._raw_exact.get(path)
        if raw_methods is None:
            for prefix, methods in self._raw_prefixes:
                if path.startswith(prefix):
                    raw_methods = methods
                    break
        if raw_methods is not None and method in raw_methods:
            # A raw body: its own types, but a POST must not be one a browser sends unasked.
            if method == "POST" and (media is None or media in _SIMPLE_TYPES):
                return _refuse(
                    f"Bad Request. Content-Type {media or 'missing'} is not accepted on {path}",
                    INVALID_PARAMETER_VALUE,
                )
            return None
        if not path.startswith(API_PREFIXES):
            return None
        if media is None:
            return _refuse("Bad Request. Content-Type header is missing.", INVALID_PARAMETER_VALUE)
        if media != _JSON:
            return _refuse(f"Bad Request. Content-Type must be one of ['{_JSON}'].", INVALID_PARAMETER_VALUE)
        return None

    def _preflight(self, scope: Scope, origin: str, acrm: bytes, allowed: bool) -> Response:
        requested = acrm.decode("latin-1").strip().upper()
        if not allowed or requested not in _CORS_METHOD_SET:
            what = f"origin {origin[:100]!r}" if not allowed else f"method {requested[:20]!r}"
            return _refuse(f"Disallowed CORS {what} (see --cors-allowed-origins)", INVALID_PARAMETER_VALUE)
        headers = {
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE.decode(),
        }
        for key, value in scope["headers"]:
            if key == b"access-control-request-headers":
                headers["Access-Control-Allow-Headers"] = value.decode("latin-1")
        return Response(status_code=204, headers=headers)

    # ---------------------------------------------------------------- headers
    def wrap_send(self, scope: Scope, send: Send) -> Send:
        """``send`` that adds the security headers (and CORS headers for an allowed origin)."""
        extra, names = self._security_headers, self._security_names
        cors = scope.get("mltrail.cors")
        if cors is not None:
            extra = [*extra, *self._cors_headers(cors)]
            names = frozenset(key for key, _ in extra)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or ()
                for key, _ in headers:
                    if key.lower() in names:  # the response set its own (e.g. X-Frame-Options: DENY)
                        present = {k.lower() for k, _ in headers}
                        message["headers"] = [*headers, *(h for h in extra if h[0] not in present)]
                        break
                else:  # the common case: a plain concatenation
                    message["headers"] = [*headers, *extra]
            await send(message)

        return send_with_headers

    def _cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        if self.any_origin:  # MLflow: a wildcard never goes with credentials
            return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"*")]
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", b"*"),
            (b"vary", b"Origin"),
        ]


def _refuse(message: str, error_code: str) -> Response:
    return error_response(MltrailException(message, error_code=error_code))


def raw_routes_of(endpoints: Iterable[object]) -> dict[str, frozenset[str]]:
    """Paths (or ``/``-ended prefixes before the first path parameter) of raw-body endpoints."""
    out: dict[str, frozenset[str]] = {}
    for ep in endpoints:
        if not getattr(ep, "raw", False):
            continue
        for path in ep.mount_paths():  # type: ignore[attr-defined]
            key = path.split("{", 1)[0] if "{" in path else path
            out[key] = out.get(key, frozenset()) | frozenset(m.upper() for m in ep.methods)  # type: ignore[attr-defined]
    return out
