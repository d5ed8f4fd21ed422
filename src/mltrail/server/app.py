"""``create_app(config)``: the one ASGI app behind ``mltrail server``.

The app is a Starlette instance whose routes come from the route table
(:mod:`mltrail.server.routing`). Exact API paths are found with one dict lookup
(:class:`~mltrail.server.dispatch.TableRoute`) instead of Starlette's linear
regex scan, because the API has a few hundred mounted paths and ``runs/get``
must stay sub-millisecond. Paths with parameters (artifact downloads, traces)
use ordinary Starlette routes. The UI engineer's routes are appended last.

No module-level mutable state: stores, locks and settings hang off
``app.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from mltrail.exceptions import ENDPOINT_NOT_FOUND, INTERNAL_ERROR, MltrailException
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.artifact_files import destination_for
from mltrail.server.auth.rules import auth_enabled
from mltrail.server.auth.ui_rules import protect_ui_routes
from mltrail.server.config import ServerConfig
from mltrail.server.db_thread import DbThread
from mltrail.server.dispatch import (
    DeferredRoutes,
    TableRoute,
    asgi_endpoint,
    error_response,
    http_error_response,
    make_request_handler,
)
from mltrail.server.guard import Guard, raw_routes_of
from mltrail.server.metrics import METRICS_PATH, Metrics, route_templates
from mltrail.server.prefix import keep_redirects_under, strip_prefix
from mltrail.server.routing import HANDLER_MODULES, Endpoint
from mltrail.server.scope import USER_SCOPE_KEY
from mltrail.server.webhook_events import resume_pending
from mltrail.server.workspaces import WorkspaceResolver
from mltrail.store.replica import use_read_replica
from mltrail.store.workspace_scope import in_workspace

_log = logging.getLogger("mltrail.server")

# Handler modules the artifacts-only mode keeps (everything else needs the DB).
_ARTIFACTS_ONLY_MODULES = ("mltrail.server.handlers.meta", "mltrail.server.handlers.artifacts")
_PROXY_SERVICE = "mlflow-artifacts"
_META_PATHS = ("/health", "/version", "/openapi.json")
# Answered while the stores open (probes); every other request waits for readiness.
_UNGATED_PATHS = frozenset({"/health", "/version"})
# How long a request that arrives during start-up waits before trying the store itself.
_READY_WAIT_SECONDS = 60.0
# Objects allocated between first-generation collections (CPython's default is 700).
_GC_GEN0_THRESHOLD = 20_000


class LazyStore:
    """Builds a store on first use, once, then forwards every attribute to it.

    Keeps start-up under a second (no DB connection until the first request)
    and lets ``--artifacts-only`` servers run without a database at all.
    """

    def __init__(self, factory: Any, what: str) -> None:
        self._factory = factory
        self._what = what
        self._store: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The underlying store, built now if needed."""
        store = self._store
        if store is None:
            with self._lock:
                if self._store is None:
                    try:
                        self._store = self._factory()
                    except MltrailException:
                        raise
                    except Exception as err:  # a driver error: logged in full, summarised to clients
                        _log.error("Cannot open the %s store: %s", self._what, err)
                        raise MltrailException(
                            f"The server cannot open its {self._what} store ({type(err).__name__}); "
                            "see the server log",
                            error_code="TEMPORARILY_UNAVAILABLE",
                        ) from None
                store = self._store
        return store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def __repr__(self) -> str:
        return f"<LazyStore {self._what} built={self._store is not None}>"


def _tracking_store_factory(config: ServerConfig) -> Any:
    def build() -> Any:
        with LAZY_IMPORTS:  # in the store-opening thread, or a request's when an opening failed
            from mltrail.store.sql.tracking import SqlTrackingStore

        return SqlTrackingStore(config.backend_store_uri, config.effective_artifact_root())

    return build


def _registry_store_factory(config: ServerConfig) -> Any:
    def build() -> Any:
        if importlib.util.find_spec("mltrail.store.sql.registry") is None:
            raise MltrailException("The model registry is not available in this build", "NOT_IMPLEMENTED")
        with LAZY_IMPORTS:
            from mltrail.store.sql.registry import SqlRegistryStore

        return SqlRegistryStore(config.effective_registry_uri())

    return build


def _trace_store_factory(config: ServerConfig, tracking: LazyStore) -> Any:
    """The trace store, opened after the tracking store (on the same database).

    The tracking store brings the schema to head and seeds the Default experiment;
    the store built here shares its :class:`~mltrail.store.sql.database.Database`.
    """

    def build() -> Any:
        tracking.get()
        with LAZY_IMPORTS:
            from mltrail.store.sql.traces import SqlTraceStore

        return SqlTraceStore(config.backend_store_uri)

    return build


def _logged_model_store_factory(config: ServerConfig, tracking: LazyStore) -> Any:
    """The logged-model store, opened after the tracking store (on the same database)."""

    def build() -> Any:
        tracking.get()
        with LAZY_IMPORTS:
            from mltrail.store.sql.logged_models import SqlLoggedModelStore

        return SqlLoggedModelStore(config.backend_store_uri)

    return build


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def collect_endpoints(config: ServerConfig | None = None) -> list[Endpoint]:
    """Every endpoint of every handler module that exists, in mounting order."""
    names = HANDLER_MODULES
    artifacts_only = config is not None and config.artifacts_only
    if artifacts_only:
        names = tuple(n for n in HANDLER_MODULES if n in _ARTIFACTS_ONLY_MODULES)
    endpoints: list[Endpoint] = []
    for name in names:
        if _module_exists(name):
            endpoints.extend(importlib.import_module(name).ENDPOINTS)
    if config is not None and not config.serve_artifacts:
        endpoints = [ep for ep in endpoints if ep.service != _PROXY_SERVICE]
    if artifacts_only:  # no database: only the proxy and the meta endpoints
        endpoints = [ep for ep in endpoints if ep.service == _PROXY_SERVICE or ep.path in _META_PATHS]
    if config is not None and auth_enabled(config):  # MLflow's auth REST API (users, permissions)
        endpoints.extend(importlib.import_module("mltrail.server.auth.handlers").ENDPOINTS)
    return endpoints


def _ui_routes(config: ServerConfig) -> list[BaseRoute]:
    if config.artifacts_only or not _module_exists("mltrail.ui.routes"):
        return []
    routes = list(importlib.import_module("mltrail.ui.routes").ui_routes())
    return protect_ui_routes(routes, auth_enabled(config))  # with auth on, UI JSON checks permissions too


def build_routes(endpoints: list[Endpoint], config: ServerConfig) -> list[BaseRoute]:
    """Exact paths into one table route; parameterised paths as Starlette routes, built on first use."""
    table: dict[str, dict[str, Any]] = {}
    param_routes: list[tuple[str, Callable[..., Any], list[str]]] = []
    for ep in endpoints:
        handler = make_request_handler(ep, config)
        app = asgi_endpoint(handler)
        for path in ep.mount_paths():
            if "{" in path:
                param_routes.append((path, handler, list(ep.methods)))
                continue
            by_method = table.setdefault(path, {})
            for method in ep.methods:
                by_method[method.upper()] = app
    return [TableRoute(table), DeferredRoutes(param_routes)]


def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error_response(request, exc)


def _internal_error(request: Request, exc: Exception) -> Response:
    _log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(MltrailException("Internal server error", error_code=INTERNAL_ERROR))


class Readiness:
    """Whether the app can serve every request: its stores are open, migrated and seeded.

    Opening the tracking store brings the schema to head and creates the Default
    experiment; until that is done, a call served by another store (a logged
    model in experiment 0, say) could find the tables but not the experiment.
    So ``/health`` answers 200 only once every store has opened, and requests
    that arrive earlier wait for it (:meth:`gate`). A failed opening (database
    down) is retried on the next ``/health`` probe; requests then go to the
    stores themselves, which answer ``TEMPORARILY_UNAVAILABLE``.
    """

    def __init__(self, stores: tuple[LazyStore, ...], on_ready: Callable[[], None] | None = None) -> None:
        self._stores = stores
        self._on_ready = on_ready
        self.ready = not stores
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def opening(self) -> bool:
        """Whether the stores are being opened right now."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Open the stores in a background thread, unless done or under way."""
        with self._lock:
            if self.ready or self.opening:
                return
            self._thread = threading.Thread(target=self._open, name="mltrail-open-stores", daemon=True)
            self._thread.start()

    def _open(self) -> None:
        try:
            for store in self._stores:
                store.get()
        except Exception as err:  # LazyStore already logged it; /health reports it
            self.error = str(err)
            gc.enable()  # if start-up turned it off (run_server); settled once an opening succeeds
            return
        _settle_gc()
        self.error = None
        self.ready = True
        if self._on_ready is not None:  # once the stores are open: work that needs them (never raises)
            self._on_ready()

    async def wait(self, timeout: float) -> None:
        """Return once ready, once an opening has ended without success, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.opening and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def gate(self, scope: Scope) -> None:
        """Hold a request that arrives while the stores open (probes pass at once).

        An app run without lifespan events (an ASGI test client) opens its stores on
        its first request the same way; after a failed opening requests pass straight
        on to the stores, which retry and answer for themselves.
        """
        if scope["type"] == "http" and scope["path"] not in _UNGATED_PATHS:
            if self._thread is None:
                self.start()
            await self.wait(_READY_WAIT_SECONDS)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    # Open the database at once, in the background: uvicorn binds the socket meanwhile,
    # /health says 503 until every store is ready and early requests wait for it.
    if app.state.readiness.ready:  # nothing to open (--artifacts-only)
        _settle_gc()
    app.state.readiness.start()
    yield
    if app.state.db_executor is not None:
        app.state.db_executor.shutdown()


def _settle_gc() -> None:
    """Tune the garbage collector for a long-lived server, once its modules are loaded.

    Everything loaded so far (modules, SQLAlchemy's compiled caches) lives as long as
    the process: frozen, full collections stop re-scanning it. A raised first threshold
    lets a request that builds 10,000 entities finish before the collector looks:
    both took a 10k-point history from a 30-100 ms spread to a steady ~30 ms.

    No full collection first: start-up leaves a few thousand garbage objects (some
    hundred kB, frozen with the rest), and scanning the whole heap for them cost a
    tenth of the start-up time. ``mltrail server`` turns the collector off while it
    imports and opens its stores (:func:`mltrail.cli.server.run_server`); this turns
    it back on.
    """
    gc.freeze()
    gc.set_threshold(_GC_GEN0_THRESHOLD, 20, 20)
    gc.enable()


class MltrailApp(Starlette):
    """Starlette, plus a fast path: an exact API path goes straight to its endpoint.

    The endpoints map every error to a response themselves, so Starlette's
    error and exception middleware and its router add nothing for them but
    time (a measurable share of a ``runs/get``). Everything else (404/405,
    parameterised paths, the UI, lifespan) takes the ordinary Starlette route.
    """

    fast_paths: dict[str, dict[str, Any]] = {}
    guard: Guard | None = None
    metrics: Any = None  # mltrail.server.metrics.Metrics with --expose-prometheus
    readiness: Readiness = Readiness(())
    auth: Any = None  # mltrail.server.auth.AuthService with --app-name basic-auth
    static_prefix: str = ""  # --static-prefix (server/prefix.py)
    workspaces: WorkspaceResolver | None = None  # --enable-workspaces (server/workspaces.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.static_prefix and scope["type"] in ("http", "websocket"):
            stripped = strip_prefix(scope, self.static_prefix)
            if not isinstance(stripped, dict):
                await self._outside_prefix(stripped, scope, receive, send)
                return
            scope = stripped
            if scope["type"] == "http":
                send = keep_redirects_under(self.static_prefix, scope, send)
        if self.metrics is not None and scope["type"] == "http":
            await self.metrics.observe(self._serve, scope, receive, send)
            return
        await self._serve(scope, receive, send)

    async def _outside_prefix(self, redirect: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        """The bare prefix redirects to the UI under it; any other path outside it is not found."""
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        if redirect is not None:
            response: Response = Response(status_code=307, headers={"Location": redirect})
        else:
            where = f"No endpoint {scope['method']} {scope['path']}: this server answers under {self.static_prefix}/"
            response = error_response(MltrailException(where, error_code=ENDPOINT_NOT_FOUND))
        await response(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            guard = self.guard
            if guard is not None:  # browser protections (server/guard.py): Host, Origin, Content-Type
                refusal = guard.check(scope)
                send = guard.wrap_send(scope, send)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            auth = self.auth
            if auth is not None and not auth.is_public(scope["path"]):  # login (server/auth/authn.py)
                user = await auth.authenticate(scope)
                if isinstance(user, Response):
                    await user(scope, receive, send)
                    return
                scope[USER_SCOPE_KEY] = user
            if not self.readiness.ready:
                await self.readiness.gate(scope)
            if self.workspaces is not None:  # the stores filter by the request's workspace
                bound = await self.workspaces.resolve(scope)
                if isinstance(bound, Response):
                    await bound(scope, receive, send)
                    return
                with in_workspace(bound):
                    await self._route(scope, receive, send)
                return
        await self._route(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self.fast_paths.get(scope["path"])
            endpoint = methods.get(scope["method"]) if methods is not None else None
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app_from_env() -> Starlette:
    """``create_app`` with settings from ``MLTRAIL_SERVER_CONFIG`` (for multi-worker uvicorn)."""
    data = json.loads(os.environ.get("MLTRAIL_SERVER_CONFIG", "{}"))
    return create_app(ServerConfig(**data))


def create_app(config: ServerConfig | None = None) -> Starlette:
    """Build the server app: REST API, artifact proxy, meta endpoints and the UI.

    Example::

        from mltrail.server.app import create_app
        from mltrail.server.config import ServerConfig

        app = create_app(ServerConfig(backend_store_uri="sqlite:///mltrail.db"))
        # uvicorn.run(app, port=5000)
    """
    config = config or ServerConfig()
    if config.read_replica_backend_store_uri:  # read-only requests read there (mltrail.store.replica)
        use_read_replica(config.backend_store_uri, config.read_replica_backend_store_uri)
    auth = None
    if auth_enabled(config):  # each worker opens the auth database and checks the admin user itself
        from mltrail.server.auth import AuthService

        auth = AuthService.from_config()
    endpoints = collect_endpoints(config)
    routes = build_routes(endpoints, config)
    metrics = None
    if config.expose_prometheus:
        metrics = Metrics(config.expose_prometheus, route_templates(routes[0].table, routes))
        routes.append(Route(METRICS_PATH, metrics.endpoint, methods=["GET"]))
    routes += _ui_routes(config)
    app = MltrailApp(
        routes=routes,
        exception_handlers={HTTPException: _not_found, Exception: _internal_error},
        lifespan=_lifespan,
    )
    app.fast_paths = routes[0].table if isinstance(routes[0], TableRoute) else {}
    app.guard = Guard.from_config(config, raw_routes_of(endpoints))
    app.metrics = metrics
    app.static_prefix = config.static_prefix
    app.workspaces = (
        WorkspaceResolver(app.state) if config.enable_workspaces and not config.artifacts_only else None
    )
    app.auth = app.state.auth = auth
    app.state.config = config
    app.state.endpoints = endpoints
    app.state.tracking_store = LazyStore(_tracking_store_factory(config), "tracking")
    app.state.registry_store = LazyStore(_registry_store_factory(config), "registry")
    # Built with the others so every store of the app is known (and opened) up front; the
    # trace and logged-model handlers find them on app.state.
    app.state.trace_store = LazyStore(_trace_store_factory(config, app.state.tracking_store), "trace")
    app.state.logged_model_store = LazyStore(
        _logged_model_store_factory(config, app.state.tracking_store), "logged model"
    )
    stores: tuple[LazyStore, ...] = ()
    on_ready = None
    if not config.artifacts_only:
        stores = (app.state.tracking_store,)
        if _module_exists("mltrail.store.sql.registry"):
            stores += (app.state.registry_store,)
            # Webhook deliveries a stopped server left PENDING are sent by this one.
            on_ready = functools.partial(resume_pending, app.state)
        stores += (app.state.trace_store, app.state.logged_model_store)
    app.readiness = app.state.readiness = Readiness(stores, on_ready)
    # SQLite has one writer at a time: serializing writes in-process means clients
    # never wait on SQLite's busy timeout or see "database is locked".
    is_sqlite = config.backend_store_uri.startswith("sqlite")
    app.state.write_lock = threading.Lock() if is_sqlite else None
    # One thread for database-only work on SQLite (see Endpoint.db_only); threads start lazily.
    app.state.db_executor = DbThread("mltrail-db") if is_sqlite else None
    app.state.artifact_destination = destination_for(config.artifacts_destination)
    return app
