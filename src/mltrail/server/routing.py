"""The route table: how REST endpoints are declared and plugged into the server.

Every domain module ``mltrail.server.handlers.<domain>`` exposes
``ENDPOINTS: list[Endpoint]``. :func:`mltrail.server.app.create_app` imports the
modules named in :data:`HANDLER_MODULES` (skipping optional ones that do not
exist yet), and mounts each endpoint under every prefix MLflow serves it at:

* ``/api/<v>/<service><path>`` and ``/ajax-api/<v>/<service><path>`` for each
  version in ``Endpoint.versions`` (MLflow 2 uses ``2.0``; MLflow 3 serves
  logged models and traces v3 under ``3.0``),
* plus ``/api/<v>/preview/<service><path>`` (and ajax) when ``preview=True``,
* or the bare ``path`` when ``service=""`` (``/health``, ``/get-artifact``).

Writing a handler
-----------------
A handler takes one :class:`Call` and returns the response body::

    class GetRun(msgspec.Struct):
        run_id: str = ""
        run_uuid: str = ""

    def get_run(call: Call) -> dict:
        run = call.tracking_store.get_run(call.body.run_id or call.body.run_uuid)
        return {"run": run.to_dict()}

    ENDPOINTS = [Endpoint("/runs/get", ("GET",), get_run, request=GetRun, response=GetRunResponse)]

  Endpoints the REST client calls are declared in :mod:`mltrail.protocol` (path,
  method, wire types, written once for both sides) and made rows with
  :func:`implement`: ``implement(TRACKING.get_run, get_run, inline=True)``.

* ``call.body`` is the validated ``request`` Struct. For GET it is built from the
  query string (``?run_id=…``; repeated keys fill list fields; strings are
  converted to the field types); for other methods from the JSON body. A body
  that is not JSON, a wrong type or a missing required field becomes a 400
  ``INVALID_PARAMETER_VALUE`` before the handler runs.
* ``call.tracking_store`` / ``call.registry_store`` are the stores
  (``app.state.tracking_store`` / ``app.state.registry_store``, built on first
  use); ``call.config`` is the :class:`~mltrail.server.config.ServerConfig`;
  ``call.request`` is the Starlette request and ``call.path_params`` its path
  parameters.
* Return a ``dict``, a ``msgspec.Struct``, ``None`` (``{}``) or a Starlette
  ``Response`` (passed through untouched). JSON is encoded once, by msgspec.
* Raise :class:`~mltrail.exceptions.MltrailException` for user errors; the app
  turns it into ``{"error_code", "message"}`` with MLflow's status. Anything
  else becomes a 500 ``INTERNAL_ERROR`` (logged, no traceback sent).
* A plain ``def`` handler runs in a worker thread (store calls are blocking); an
  ``async def`` handler runs on the event loop (use it for streaming).
* Set ``write=True`` on endpoints that change data: with SQLite the app runs
  them one at a time so clients never see "database is locked".
* Set ``raw=True`` when the handler reads the request body itself (uploads):
  no JSON parsing and no body size limit; ``call.body`` is ``None``.
* Set ``inline=True`` on cheap, bounded calls (get one run, log one value): with
  SQLite they run on the event loop instead of a worker thread, which saves the
  thread hop (measured: ~2.5x the requests/s for a trivial handler). Never on
  searches or anything whose cost grows with the data.
* Set ``db_only=True`` on plain handlers that do nothing but database work
  (searches, histories): with SQLite they share one dedicated thread, which
  serves ~2x the requests/s of many threads contending for the GIL.
* Set ``inline_if_fast=True`` on reads whose cost grows with the data (searches):
  with SQLite a request runs on the event loop when the very same request (body,
  user, workspace) took under 2 ms the last time it ran, else on its thread; a
  request seen for the first time always goes to the thread (see
  :class:`mltrail.server.db_thread.FastRepeats`). Never with ``write`` or ``inline``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # typing only: keep this module import-light
    from starlette.requests import Request

    from mltrail.server.config import ServerConfig
    from mltrail.store.tracking import TrackingStore

from mltrail.exceptions import invalid
from mltrail.protocol.routes import Route, mount_paths
from mltrail.server.scope import USER_SCOPE_KEY

Handler = Callable[["Call"], Any] | Callable[["Call"], Awaitable[Any]]

# Handler modules, in mounting order. Optional ones are skipped while they do not exist,
# so another engineer can add e.g. the registry module without touching the app.
HANDLER_MODULES: tuple[str, ...] = (
    "mltrail.server.handlers.meta",
    "mltrail.server.handlers.tracking",
    "mltrail.server.handlers.artifacts",
    "mltrail.server.handlers.registry",
    "mltrail.server.handlers.logged_models",
    "mltrail.server.handlers.traces",
    "mltrail.server.handlers.traces_v2",
    "mltrail.server.handlers.trace_metrics",
    "mltrail.server.handlers.ajax",
    "mltrail.server.handlers.graphql_api",
    "mltrail.server.handlers.datasets",
    "mltrail.server.handlers.scorers",
    "mltrail.server.handlers.offline",
    "mltrail.server.handlers.webhooks",
    "mltrail.server.handlers.gateway",
    "mltrail.server.handlers.gateway_policies",
    "mltrail.server.handlers.review",
    "mltrail.server.handlers.workspaces",
    # The web UI's JSON, event-stream and CSV routes (declared in mltrail.protocol.ui), named
    # here rather than imported: the UI sits above the server.
    "mltrail.ui.routes",
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint: where it lives, what it takes, what it answers.

    ``path`` is relative to the service prefix, e.g. ``"/runs/get"``; with
    ``service=""`` it is the absolute path (``"/health"``). Starlette path
    parameters are allowed (``"/artifacts/{artifact_path:path}"``).
    ``request``/``response`` are ``msgspec.Struct`` types used for validation
    and for the OpenAPI document.
    """

    path: str
    methods: tuple[str, ...]
    handler: Handler
    request: type | None = None
    response: type | None = None
    summary: str = ""
    service: str = "mlflow"
    versions: tuple[str, ...] = ("2.0",)
    preview: bool = False
    write: bool = False
    raw: bool = False
    inline: bool = False
    # The handler only talks to the database (no artifact or network I/O): on SQLite it
    # runs on the app's one database thread instead of the shared thread pool.
    db_only: bool = False
    # A read that runs on the event loop when the same request was fast last time (SQLite only).
    inline_if_fast: bool = False
    tags: tuple[str, ...] = ()
    # Also mounted without "/api/<v>" on the ajax prefix only (MLflow UI helpers).
    ajax_only: bool = False
    # The declaration's name (:class:`mltrail.protocol.routes.Route`), "" for undeclared rows.
    name: str = ""
    # What a ``raw`` endpoint answers with (event streams, CSV), for the OpenAPI document.
    media_type: str = "application/json"

    def __post_init__(self) -> None:
        if self.inline_if_fast and (self.write or self.inline):
            raise ValueError(f"{self.path}: inline_if_fast is for reads that are not always inline")

    def mount_paths(self) -> list[str]:
        """Every absolute URL path this endpoint answers on."""
        return mount_paths(self.path, self.service, self.versions, self.preview, self.ajax_only)

    @property
    def openapi_path(self) -> str:
        """The canonical path used in ``/openapi.json``."""
        return self.mount_paths()[0]


def implement(route: Route, handler: Handler, **flags: Any) -> Endpoint:
    """The route-table row for ``route`` served by ``handler``.

    ``route`` (from :mod:`mltrail.protocol`) gives the method, path, service,
    versions and wire types, written once for the server and the REST client;
    ``flags`` are how the server runs it (``write``, ``inline``, ``db_only``,
    ``inline_if_fast``, ``raw``, ``summary``, ``tags``)::

        ENDPOINTS = [implement(TRACKING.get_run, get_run, inline=True)]
    """
    flags.setdefault("raw", route.raw)
    flags.setdefault("summary", route.summary)
    flags.setdefault("tags", route.tags)
    return Endpoint(
        route.path,
        route.methods,
        handler,
        request=route.request,
        response=route.response,
        service=route.service,
        versions=route.versions,
        preview=route.preview,
        ajax_only=route.ajax_only,
        name=route.name,
        media_type=route.media_type,
        **flags,
    )


S = TypeVar("S")
_side_store_lock = threading.Lock()


def required(value: Any, field: str) -> Any:
    """``value``, or 400 ``INVALID_PARAMETER_VALUE`` naming ``field`` when it is missing or empty."""
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{field}'.")
    return value


class Call:
    """What a handler gets: the validated body, the request and the stores."""

    __slots__ = ("body", "request")

    def __init__(self, request: Request, body: Any) -> None:
        self.request = request
        self.body = body

    @property
    def state(self) -> Any:
        """``app.state`` of the running app."""
        return self.request.app.state

    @property
    def tracking_store(self) -> TrackingStore:
        return self.request.app.state.tracking_store

    @property
    def registry_store(self) -> Any:
        return self.request.app.state.registry_store

    @property
    def trace_store(self) -> Any:
        """The trace store (same database as tracking; opening it opens the tracking store first)."""
        return self.request.app.state.trace_store

    @property
    def logged_model_store(self) -> Any:
        """The logged-model store (same database as tracking)."""
        return self.request.app.state.logged_model_store

    @property
    def config(self) -> ServerConfig:
        return self.request.app.state.config

    @property
    def user(self) -> str | None:
        """The signed-in user's name (with logins on), else ``None``."""
        user = self.request.scope.get(USER_SCOPE_KEY)
        return getattr(user, "username", None) if user is not None else None

    def side_store(self, name: str, open_store: Callable[[str], S]) -> S:
        """A store of the app on the tracking database beside the four core ones (scorers,
        review, workspaces, gateway …), opened once per app as ``app.state.<name>`` by
        ``open_store(backend_store_uri)``, after the tracking store brought the schema to head."""
        store = getattr(self.state, name, None)
        if store is None:
            with _side_store_lock:
                store = getattr(self.state, name, None)
                if store is None:
                    self.state.tracking_store.get()
                    store = open_store(self.config.backend_store_uri)
                    setattr(self.state, name, store)
        return store

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def query(self) -> Any:
        return self.request.query_params
