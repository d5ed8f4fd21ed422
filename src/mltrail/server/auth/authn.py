"""Who is calling: HTTP Basic (username/password) and Bearer (per-user API token) credentials.

``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` reach the server as
``Authorization: Basic …``; ``MLFLOW_TRACKING_TOKEN`` as ``Authorization: Bearer …``.
MLflow 3.17's basic-auth app accepts only Basic; mltrail also accepts a Bearer
token created with ``POST /api/2.0/mlflow/users/tokens/create`` (see
:mod:`.handlers`).

A verified credential is remembered per process for ``auth_cache_ttl_seconds``,
keyed by a keyed BLAKE2 digest of the header (never the clear text), bounded in
size; the entries of a user are dropped at once when this process changes or
deletes that user. So only the first request of a credential pays the password
hash (tens of ms) and later ones cost a dict lookup.

Never log a password, a hash or an ``Authorization`` header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.protocol.meta import META
from mltrail.server.auth.store import AuthStore, User

# MLflow's 401 body and challenge: the realm makes a browser show its login dialog.
UNAUTHENTICATED_MESSAGE = (
    "You are not authenticated. Please see "
    "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
    "on how to authenticate."
)
CHALLENGE = 'Basic realm="mlflow"'
# MLflow 3.17's unprotected routes: health checks, the public capability document (both
# declared in mltrail.protocol.meta), the favicon and the UI's static assets (page routes of
# mltrail.ui.routes, not API declarations). Everything else needs a login.
PUBLIC_PATHS = frozenset({*META.health.mount_paths(), *META.server_info.mount_paths(), "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
# The password older MLflow versions shipped for `admin`: MLflow 3.17 refuses admin logins with it.
LEGACY_DEFAULT_ADMIN_PASSWORD = "password1234"


def is_public(path: str) -> bool:
    """True for the paths anyone may request without credentials."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def unauthenticated_response() -> Response:
    """MLflow's 401: its message and ``WWW-Authenticate: Basic realm="mlflow"``."""
    return Response(
        UNAUTHENTICATED_MESSAGE,
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": CHALLENGE},
    )


def authorization_header(scope: dict[str, Any]) -> bytes | None:
    """The raw ``Authorization`` header of an ASGI scope, if any."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return value
    return None


def parse_basic(value: bytes) -> tuple[str, str] | None:
    """``(username, password)`` from ``Basic <base64>``, or None if it is not one."""
    scheme, _, encoded = value.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def parse_bearer(value: bytes) -> str | None:
    """The token of ``Bearer <token>``, or None."""
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    try:
        text = token.strip().decode("ascii")
    except UnicodeDecodeError:
        return None
    return text or None


class CredentialCache:
    """Verified credentials: digest of the header -> (expiry, user). Thread-safe, bounded."""

    def __init__(self, ttl_seconds: float, max_size: int) -> None:
        self.ttl = ttl_seconds
        self.max_size = max_size
        self._key = secrets.token_bytes(32)  # per process: digests are useless outside it
        self._entries: dict[bytes, tuple[float, User]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def digest(self, header: bytes) -> bytes:
        return hashlib.blake2b(header, key=self._key, digest_size=32).digest()

    def get(self, digest: bytes) -> User | None:
        entry = self._entries.get(digest)  # one atomic read: no lock on the request path
        if entry is None or entry[0] <= time.monotonic():
            return None  # an expired entry is replaced by the next put (writers hold the lock)
        return entry[1]

    def generation(self) -> int:
        return self._generation

    def put(self, digest: bytes, user: User, generation: int) -> None:
        """Remember ``user`` unless the user store changed since ``generation`` was read."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return  # the user changed while we verified: do not cache the old state
            if len(self._entries) >= self.max_size:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl, user)

    def forget_user(self, username: str) -> None:
        """Drop every cached credential of ``username`` (password, admin flag, deletion, tokens)."""
        with self._lock:
            self._generation += 1
            for digest in [d for d, (_, user) in self._entries.items() if user.username == username]:
                self._entries.pop(digest, None)


class Authenticator:
    """Turns a request's ``Authorization`` header into a :class:`User`, or MLflow's 401."""

    def __init__(self, store: AuthStore, *, ttl_seconds: float, max_size: int) -> None:
        self.store = store
        self.cache = CredentialCache(ttl_seconds, max_size)
        store.on_user_changed.append(self.cache.forget_user)

    def cached_user(self, header: bytes) -> User | None:
        """The user of an already verified header (no I/O), or None."""
        return self.cache.get(self.cache.digest(header))

    async def authenticate(self, scope: dict[str, Any]) -> User | Response:
        """The caller of ``scope``, or a 401 response. Verifies off the event loop on a cache miss."""
        header = authorization_header(scope)
        if not header:
            return unauthenticated_response()
        digest = self.cache.digest(header)
        user = self.cache.get(digest)
        if user is not None:
            return user
        generation = self.cache.generation()
        user = await run_in_threadpool(self.verify, header)
        if user is None:
            return unauthenticated_response()
        self.cache.put(digest, user, generation)
        return user

    def verify(self, header: bytes) -> User | None:
        """Check a header against the store (blocking: a database read and a password hash)."""
        basic = parse_basic(header)
        if basic is not None:
            username, password = basic
            if not username:
                return None
            user = self.store.authenticate(username, password)
            if user is not None and user.is_admin and password == LEGACY_DEFAULT_ADMIN_PASSWORD:
                return None  # MLflow 3.17: the publicly known default admin password is refused
            return user
        token = parse_bearer(header)
        if token is not None:
            return self.store.user_for_token(token)
        return None
