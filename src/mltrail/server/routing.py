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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing only: keep this module import-light
    from starlette.requests import Request

    from mltrail.server.config import ServerConfig
    from mltrail.store.tracking import TrackingStore

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
    tags: tuple[str, ...] = ()
    # Also mounted without "/api/<v>" on the ajax prefix only (MLflow UI helpers).
    ajax_only: bool = False

    def mount_paths(self) -> list[str]:
        """Every absolute URL path this endpoint answers on."""
        if not self.service:
            return [self.path]
        paths = []
        for version in self.versions:
            roots = ("/ajax-api",) if self.ajax_only else ("/api", "/ajax-api")
            for root in roots:
                paths.append(f"{root}/{version}/{self.service}{self.path}")
                if self.preview:
                    paths.append(f"{root}/{version}/preview/{self.service}{self.path}")
        return paths

    @property
    def openapi_path(self) -> str:
        """The canonical path used in ``/openapi.json``."""
        return self.mount_paths()[0]


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
    def config(self) -> ServerConfig:
        return self.request.app.state.config

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def query(self) -> Any:
        return self.request.query_params
