"""Turning route-table endpoints into ASGI apps: parse, call, encode, map errors.

This is the one place where exceptions become ``{"error_code", "message"}``
responses with MLflow's HTTP statuses.
"""

from __future__ import annotations

import inspect
import logging
import threading
import typing
from collections.abc import Callable
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from mltrail.exceptions import (
    ENDPOINT_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    MltrailException,
    invalid,
)
from mltrail.server.auth.rules import auth_enabled, guard, rule_for
from mltrail.server.bodies import locked_call, read_body
from mltrail.server.config import ServerConfig
from mltrail.server.db_thread import DbThread, FastRepeats, timed_call
from mltrail.server.limits import check_depth, has_free_form, has_nul, might_be_deep, nul_refused, too_deep
from mltrail.server.routing import Call, Endpoint
from mltrail.server.validation import no_control_chars
from mltrail.store.replica import replica_reads
from mltrail.store.workspace_scope import active_workspace

_log = logging.getLogger("mltrail.server")
_encode = msgspec.json.Encoder().encode
_JSON = "application/json"
_JSON_BYTES = _JSON.encode("latin-1")
_EMPTY = b"{}"


class JsonOk(Response):
    """A 200 response with a JSON body already encoded: the headers Starlette's
    ``Response(body, media_type="application/json")`` sends (content-length, then
    content-type), without its generic header building on every answer."""

    media_type = _JSON

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", _JSON_BYTES),
        ]


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response encoded once with msgspec."""
    return Response(_encode(payload), status_code=status, media_type=_JSON)


def error_response(err: MltrailException, status: int | None = None) -> Response:
    """MLflow's error body ``{"error_code", "message"}`` (and the error's extra fields) with its status."""
    body = err.to_dict()
    return Response(_encode(body), status_code=status or err.get_http_status_code(), media_type=_JSON)


def http_error_response(request: Request, exc: HTTPException) -> Response:
    """Starlette's routing errors (no such path, wrong method) in MLflow's error shape."""
    path = request.scope["path"]
    if exc.status_code == 405:
        err = MltrailException(
            f"Method {request.method} is not allowed on {path}", error_code=ENDPOINT_NOT_FOUND
        )
        return error_response(err, status=405)
    if exc.status_code == 404 and any(ord(c) < 32 or ord(c) == 127 for c in path):
        # Route patterns never match control characters; say why instead of "no endpoint".
        return error_response(invalid("Control characters are not allowed in URL paths"))
    if exc.status_code == 404:
        return error_response(
            MltrailException(f"No endpoint {request.method} {path}", error_code=ENDPOINT_NOT_FOUND)
        )
    return error_response(MltrailException(str(exc.detail), error_code="BAD_REQUEST"), status=exc.status_code)


def query_pairs(query: bytes) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a query string, as ``parse_qsl(..., keep_blank_values=True)`` gives them.

    A plain query (no ``%`` escape, no ``+``: ``run_id=...``, what clients send on the hot
    GETs) is split directly; anything else goes through ``parse_qsl``.
    """
    text = query.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    pairs = []
    for part in text.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key, value))
    return pairs


def _list_fields(struct_type: type) -> frozenset[str]:
    """Fields of a Struct that take a list (repeated query params fill them)."""
    names = set()
    hints = typing.get_type_hints(struct_type)
    for field in msgspec.structs.fields(struct_type):
        hint = hints.get(field.name, field.type)
        origins = {typing.get_origin(hint)} | {typing.get_origin(a) for a in typing.get_args(hint)}
        if list in origins or hint is list:
            names.add(field.name)
    return frozenset(names)


def _validation_error(path: str, err: Exception) -> MltrailException:
    msg = str(err).replace("`", "'")
    return MltrailException(f"Invalid request to {path}: {msg}", error_code=INVALID_PARAMETER_VALUE)


def _make_parser(ep: Endpoint, config: ServerConfig) -> Callable[[Request], Any] | None:
    """Build the coroutine that turns a request into ``ep.request`` (or None)."""
    req_type = ep.request
    if req_type is None or ep.raw:
        return None
    limit = config.max_body_bytes
    path = ep.openapi_path
    what = f"the request body to {path}"
    # What the type says about parsing, worked out on the endpoint's first request: a server
    # has ~130 typed endpoints, and resolving every type's hints up front cost a sixth of its
    # start-up. (list fields, the body decoder, whether a field is free-form JSON)
    prepared: list[Any] = []

    def prepare() -> list[Any]:
        if not prepared:
            # Only free-form fields can nest without bound after decoding (see server.limits).
            decoder = msgspec.json.Decoder(req_type, strict=False)
            prepared[:] = [_list_fields(req_type), decoder, has_free_form(req_type)]
        return prepared

    async def parse(request: Request) -> Any:
        list_fields, decoder, free_form = prepared or prepare()
        if request.method in ("GET", "HEAD"):
            if b"%00" in request.scope["query_string"]:
                raise nul_refused(f"the query string of {path}")
            data: dict[str, Any] = {}
            # The pairs Starlette's ``request.query_params`` holds, without building its multidict.
            for key, value in query_pairs(request.scope["query_string"]):
                if key in list_fields:
                    data.setdefault(key, []).append(value)
                else:
                    data[key] = value
            try:
                return msgspec.convert(data, req_type, strict=False)
            except msgspec.ValidationError as err:
                raise _validation_error(path, err) from None
        raw = await read_body(request, limit)
        if not raw.strip():
            raw = _EMPTY
        if has_nul(raw):
            raise nul_refused(what)
        try:
            body = decoder.decode(raw)
        except msgspec.ValidationError as err:
            raise _validation_error(path, err) from None
        except msgspec.DecodeError as err:
            raise MltrailException(
                f"Malformed JSON in request body to {path}: {err}", error_code=INVALID_PARAMETER_VALUE
            ) from None
        except RecursionError:  # msgspec skipping or decoding a value nested ~1,000 deep
            raise too_deep(what) from None
        if free_form and might_be_deep(raw):
            check_depth(body, what)
        return body

    return parse


async def in_worker_thread(executor: DbThread | None, fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking ``fn(*args)`` off the event loop: on ``executor``, or the shared pool if None.

    ``executor`` is the app's one database thread on SQLite (``app.state.db_executor``):
    with anyio's pool of up to 40 threads, 8 concurrent searches fought over the GIL
    and served about half the requests per second that one thread does.
    """
    if executor is None:
        return await run_in_threadpool(fn, *args)
    return await executor.run(fn, *args)  # in a copy of the request's context, as run_in_threadpool


async def _inline_call(lock: Any, handler: Callable[[Call], Any], call: Call) -> Any:
    if lock is None:
        return handler(call)
    # Never block the event loop on the lock: if another write holds it, wait in a thread.
    if lock.acquire(blocking=False):
        try:
            return handler(call)
        finally:
            lock.release()
    return await run_in_threadpool(locked_call, lock, handler, call)


async def _timed_run(
    repeats: FastRepeats, executor: DbThread | None, handler: Callable[[Call], Any], call: Call
) -> Any:
    """Run a read on the event loop if the same request was fast last time, else on its thread;
    either way remember how long it took (see :class:`~mltrail.server.db_thread.FastRepeats`).

    The key is everything that decides the work: the parsed body (so key order and spacing
    do not matter), the signed-in user (permission filters) and the workspace. A body over
    ``FAST_REPEAT_KEY_BYTES`` encoded is not remembered and always goes to the thread."""
    body = _encode(call.body)
    if len(body) > repeats.key_bytes:  # not worth remembering: the thread, untimed
        return await in_worker_thread(executor, handler, call)
    key = (body, call.user, active_workspace())
    if repeats.fast(key):
        started = perf_counter()
        try:
            return handler(call)
        finally:
            repeats.record(key, started, perf_counter())
    result, started, ended = await in_worker_thread(executor, timed_call, handler, call)
    repeats.record(key, started, ended)
    return result


def to_response(result: Any) -> Response:
    """Turn what a handler returned into a response."""
    if type(result) is dict:  # the common case first
        return JsonOk(_encode(result))
    if isinstance(result, Response):
        return result
    if result is None:
        return JsonOk(_EMPTY)
    if isinstance(result, bytes):
        return JsonOk(result)
    return JsonOk(_encode(result))


# POST endpoints that only read, by the last segment of their path (runs/search, traces/batchGetInfos,
# registered-models/get-latest-versions, ...); every GET endpoint only reads.
_READ_POST_VERBS = ("search", "get", "batchget")


def reads_only(ep: Endpoint) -> bool:
    """Whether ``ep`` never writes: its reads may go to a read replica (``--read-replica-backend-store-uri``)."""
    if ep.write:
        return False
    if all(m in ("GET", "HEAD") for m in ep.methods):
        return True
    last = ep.path.rstrip("/").rsplit("/", 1)[-1].lower()
    return all(m == "POST" for m in ep.methods) and last.startswith(_READ_POST_VERBS)


def make_request_handler(ep: Endpoint, config: ServerConfig) -> Callable[[Request], Any]:
    """Wrap one endpoint's handler into ``async (Request) -> Response`` with parsing and error mapping."""
    parse = _make_parser(ep, config)
    handler = ep.handler
    if auth_enabled(config):  # each endpoint's permission rule, checked in the handler's own thread
        handler = guard(rule_for(ep), handler)
    if config.read_replica_backend_store_uri and reads_only(ep):
        return _on_replica(_handler_endpoint(ep, config, parse, handler))
    return _handler_endpoint(ep, config, parse, handler)


def _on_replica(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """``endpoint`` with its reads on the read replica (see :mod:`mltrail.store.replica`)."""

    async def on_replica(request: Request) -> Response:
        with replica_reads():
            return await endpoint(request)

    return on_replica


def _handler_endpoint(
    ep: Endpoint, config: ServerConfig, parse: Callable[[Request], Any] | None, handler: Callable[[Call], Any]
) -> Callable[[Request], Any]:
    """The endpoint's ``async (Request) -> Response``: parse, run the handler where it belongs, map errors."""
    is_async = inspect.iscoroutinefunction(handler)
    write = ep.write
    # SQLite calls are local and short: running the cheap ones on the loop thread beats
    # the hop to a worker thread. Networked databases always go to the thread pool.
    inline = ep.inline and config.backend_store_uri.startswith("sqlite")
    db_only = ep.db_only
    # Searches: inline when the same request was fast last time (never writes: see routing.py).
    repeats = (
        FastRepeats()
        if ep.inline_if_fast and not write and config.backend_store_uri.startswith("sqlite")
        else None
    )
    # Route patterns match any character but '/', so a NUL can arrive in a path parameter:
    # refuse it here, before the permission rule or the handler looks anything up with it.
    has_path_params = "{" in ep.path

    async def endpoint(request: Request) -> Response:
        try:
            if has_path_params:
                for name, value in request.path_params.items():
                    no_control_chars(value, name)
            body = await parse(request) if parse is not None else None
            call = Call(request, body)
            if is_async:
                result = await handler(call)
            elif inline:
                result = await _inline_call(request.app.state.write_lock if write else None, handler, call)
            elif repeats is not None:
                executor = request.app.state.db_executor if db_only else None
                result = await _timed_run(repeats, executor, handler, call)
            else:
                lock = request.app.state.write_lock if write else None
                executor = request.app.state.db_executor if db_only else None
                if lock is not None:
                    result = await in_worker_thread(executor, locked_call, lock, handler, call)
                else:
                    result = await in_worker_thread(executor, handler, call)
            return to_response(result)
        except MltrailException as err:
            return error_response(err)
        except HTTPException as exc:
            return http_error_response(request, exc)
        except ClientDisconnect:
            # The client went away mid-request (e.g. a dropped upload, already cleaned up):
            # nobody is left to answer, and it is not a server fault.
            _log.info("Client disconnected during %s %s", request.method, request.url.path)
            return Response(status_code=499)
        except Exception:
            _log.exception("Unhandled error on %s %s", request.method, request.url.path)
            return error_response(MltrailException("Internal server error", error_code=INTERNAL_ERROR))

    return endpoint


def asgi_endpoint(endpoint: Callable[[Request], Any]) -> Callable[[Scope, Receive, Send], Any]:
    """``async (Request) -> Response`` as a bare ASGI app.

    Unlike Starlette's ``request_response`` it needs no exception-middleware
    scope keys, so the app can call it straight from its fast path; the endpoint
    already turns every error into a response.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class TableRoute(BaseRoute):
    """All exact-path endpoints behind one dict lookup (path -> method -> ASGI app)."""

    def __init__(self, table: dict[str, dict[str, Any]]) -> None:
        self.table = table
        for methods in table.values():
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        methods = self.table.get(scope["path"])
        if methods is None:
            return Match.NONE, {}
        if scope["method"] not in methods:
            return Match.PARTIAL, {}
        return Match.FULL, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.table[scope["path"]].get(scope["method"])
        if app is None:
            raise HTTPException(status_code=405)
        await app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


class DeferredRoutes(BaseRoute):
    """Starlette routes for the parameterised API paths, built when a request first needs them.

    A Starlette :class:`~starlette.routing.Route` compiles its path into a regex when it is
    built: for the API's ~100 parameterised paths that was about 2% of the instructions
    ``mltrail server`` spends before it is ready, for routes a fresh server may not see
    for a while. Matching is Starlette's own, route by route in order (the first full match
    wins, else the first partial one, which answers 405). The matched route goes into the
    child scope as ``"route"``: Starlette's router applies the child scope after setting
    ``scope["route"]`` to this object, so the request (and the Prometheus path template)
    sees the real route.
    """

    def __init__(self, specs: list[tuple[str, Callable[..., Any], list[str]]]) -> None:
        self._specs = specs
        self._routes: list[Route] | None = None
        self._lock = threading.Lock()

    @property
    def routes(self) -> list[Route]:
        """The Starlette routes, built on first use (regex compilation only: no imports)."""
        routes = self._routes
        if routes is None:
            with self._lock:
                if self._routes is None:
                    self._routes = [
                        Route(path, handler, methods=methods) for path, handler, methods in self._specs
                    ]
                routes = self._routes
        return routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, "route": route}
            if match is Match.PARTIAL and partial is None:
                partial = (match, {**child, "route": route})
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.get("route")
        if not isinstance(route, Route):  # not reached through a router that applied matches()
            match, child = self.matches(scope)
            if match is Match.NONE:
                raise HTTPException(status_code=404)
            scope.update(child)
            route = child["route"]
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)
