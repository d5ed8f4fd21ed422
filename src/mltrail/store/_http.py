"""One HTTP session to a tracking server: keep-alive, auth, retries, clear errors.

Honours MLflow's environment variables so existing setups keep working:
``MLFLOW_TRACKING_TOKEN`` (bearer), ``MLFLOW_TRACKING_USERNAME`` +
``MLFLOW_TRACKING_PASSWORD`` (basic), ``MLFLOW_TRACKING_INSECURE_TLS=true``
(skip certificate checks), ``MLFLOW_TRACKING_SERVER_CERT_PATH`` (CA bundle),
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` (seconds,
doubled per retry) and ``MLFLOW_HTTP_REQUEST_TIMEOUT``; each
also under the ``MLTRAIL_`` prefix, which wins.
"""

from __future__ import annotations

import random
import time
from typing import Any

import msgspec

from mltrail.credentials import tracking_authorization, tracking_env
from mltrail.exceptions import TEMPORARILY_UNAVAILABLE, MltrailException, RestException
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.protocol.routes import Route
from mltrail.store._transport import (
    ConnectFailed,
    Dropped,
    Response,
    TimedOut,
    encode_query,
    open_transport,
    ssl_context,
)
from mltrail.store.reachability import UNREACHABLE_STATUS, ServerUnreachable, unreachable
from mltrail.store.workspace_scope import WORKSPACE_HEADER, client_workspace

__all__ = [
    "UNREACHABLE_STATUS",
    "HttpSession",
    "Response",
    "ServerUnreachable",
    "env",
    "error_from",
    "unreachable",
]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_JSON_HEADERS = {"Content-Type": "application/json"}
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_to_builtins = msgspec.to_builtins


def env(name: str, default: str | None = None) -> str | None:
    """``MLTRAIL_<name>`` or else ``MLFLOW_<name>``."""
    return tracking_env(name) or default


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class HttpSession:
    """JSON calls to ``base_url`` with keep-alive connections and retries.

    Retries (exponential backoff with jitter) on 429/5xx answers and on dropped
    or refused connections; other errors are raised at once as
    :class:`~mltrail.exceptions.RestException` carrying the server's
    ``error_code``. Requests go over :mod:`mltrail.store._transport`: its lean
    keep-alive transport (one connection per thread), or httpx where that one
    does not apply (a proxy from the environment, credentials in the URL).

    Example::

        session = HttpSession("http://127.0.0.1:5000")
        session.send(TRACKING.get_run, RunRef(run_id=run_id))
    """

    def __init__(self, base_url: str, max_retries: int | None = None, backoff: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = int(env("HTTP_REQUEST_MAX_RETRIES", "5")) if max_retries is None else max_retries
        self.backoff = float(env("HTTP_REQUEST_BACKOFF_FACTOR", "0.1")) if backoff is None else backoff
        headers = {"User-Agent": "mltrail"}
        authorization = tracking_authorization()
        if authorization:
            headers["Authorization"] = authorization
        verify: bool | str = True
        if _truthy(env("TRACKING_INSECURE_TLS")):
            verify = False
        elif env("TRACKING_SERVER_CERT_PATH"):
            verify = env("TRACKING_SERVER_CERT_PATH") or True
        timeout = float(env("HTTP_REQUEST_TIMEOUT", "120") or 120)
        self.transport = open_transport(self.base_url, headers, verify, timeout, min(timeout, 10.0))
        self._settings = (headers, verify, timeout)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """An ``httpx.Client`` with this session's settings (made on first use; for streaming callers)."""
        if self._client is None:
            with LAZY_IMPORTS:  # the SDK's export threads may be first
                import httpx

            headers, verify, timeout = self._settings
            self._client = httpx.Client(
                base_url=self.base_url,
                headers=headers,
                verify=verify if isinstance(verify, bool) else ssl_context(verify),
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(max_keepalive_connections=16, keepalive_expiry=30),
            )
        return self._client

    def close(self) -> None:
        self.transport.close()
        if self._client is not None:
            self._client.close()

    def reachable(self) -> bool:
        """One quick ``GET /health`` without retries: whether the server answers 200 now."""
        try:
            return self.transport.send("GET", "/health", None, None, timeout=5).status_code == 200
        except (ConnectFailed, Dropped, TimedOut):
            return False

    def _sleep(self, attempt: int) -> None:
        delay = min(self.backoff * (2**attempt), 5.0)
        time.sleep(delay * (0.5 + random.random() / 2))

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | str | None = None,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One HTTP request with retries; raises a clear error when the server is unreachable.

        ``content`` is the raw body (``json``: a value sent as JSON), ``params`` the query
        (a mapping; list values repeat the key), ``headers`` are added to the session's.
        """
        workspace = client_workspace()
        if workspace is not None:  # mltrail.set_workspace / MLFLOW_WORKSPACE, as MLflow's client sends it
            headers = {WORKSPACE_HEADER: workspace, **(headers or {})}
        if json is not None:
            content = _encode(json)
            headers = {**_JSON_HEADERS, **(headers or {})}
        elif isinstance(content, str):
            content = content.encode()
        if params:
            query = encode_query(params)
            if query:
                path += ("&" if "?" in path else "?") + query
        send = self.transport.send
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                resp = send(method, path, content, headers, timeout)
            except (ConnectFailed, Dropped) as err:
                last = err
            except TimedOut as err:  # the request may have arrived: not retried here
                raise ServerUnreachable(
                    f"The tracking server at {self.base_url} did not answer {method} {path} in time: {err}",
                    error_code=TEMPORARILY_UNAVAILABLE,
                ) from err
            else:
                if resp.status_code not in _RETRY_STATUS or attempt == self.max_retries:
                    return resp
                last = None
            if attempt < self.max_retries:
                self._sleep(attempt)
        raise ServerUnreachable(
            f"Cannot reach the tracking server at {self.base_url} ({method} {path}) after "
            f"{self.max_retries + 1} attempts: {last}",
            error_code=TEMPORARILY_UNAVAILABLE,
        )

    def send(self, route: Route, body: Any = None, **path_params: str) -> dict[str, Any]:
        """Call a declared endpoint: its method and path, ``body`` as query (GET) or JSON.

        ``body`` is an instance of ``route.request``; fields left at their default
        are not sent. ``path_params`` fill the route's ``{name}`` parameters.
        """
        content = self.send_raw(route, body, **path_params)
        return _decode(content) if content else {}

    def send_raw(self, route: Route, body: Any = None, **path_params: str) -> bytes:
        """:meth:`send` without decoding: the success answer's JSON bytes (``b""`` when empty).

        For callers that decode straight into typed records (``mltrail.store.rest_answers``).
        """
        path = route.url(**path_params) if path_params else route.client_path
        if body is None:
            return self.call_raw(route.method, path)
        if route.method == "GET":
            return self.call_raw("GET", path, params=_to_builtins(body))
        return self.call_raw(route.method, path, json=body)

    def call(self, method: str, path: str, json: Any = None, params: Any = None) -> dict[str, Any]:
        """A JSON API call; returns the decoded answer or raises the server's error."""
        content = self.call_raw(method, path, json, params)
        return _decode(content) if content else {}

    def call_raw(self, method: str, path: str, json: Any = None, params: Any = None) -> bytes:
        """A JSON API call; returns the answer's undecoded body or raises the server's error."""
        if json is not None:
            resp = self.request(method, path, content=_encode(json), headers=_JSON_HEADERS, params=params)
        else:
            resp = self.request(method, path, params=params)
        if 200 <= resp.status_code < 300:  # 201 / 204: MLflow's workspace create and delete
            return resp.content
        raise error_from(resp, self.base_url + path)


def error_from(resp: Response, url: str) -> MltrailException:
    """The exception for an error answer: the server's code and message when it sent JSON."""
    try:
        payload = _decode(resp.content)
    except msgspec.DecodeError:
        payload = None
    if isinstance(payload, dict) and "error_code" in payload:
        return RestException(payload, status=resp.status_code)
    text = resp.text[:200].strip()
    if resp.status_code in UNREACHABLE_STATUS:  # a gateway with no server behind it
        return ServerUnreachable(
            f"{url} answered HTTP {resp.status_code}: {text or resp.reason_phrase}",
            error_code=TEMPORARILY_UNAVAILABLE,
        )
    return MltrailException(
        f"{url} answered HTTP {resp.status_code}: {text or resp.reason_phrase}",
        error_code="ENDPOINT_NOT_FOUND" if resp.status_code == 404 else TEMPORARILY_UNAVAILABLE,
    )
