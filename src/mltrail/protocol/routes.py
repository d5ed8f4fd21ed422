"""What a REST endpoint is, written once for the server and the REST client.

A :class:`Route` says where an endpoint lives (method, path, service, API
versions, prefixes) and what it takes and answers (request and response
``msgspec.Struct`` types). The server attaches a handler to it
(:func:`mltrail.server.routing.implement`) to build its route table and the
OpenAPI document; the REST stores send requests through it
(:meth:`mltrail.store._http.HttpSession.send`). This module imports only
msgspec and the standard library: the client install has no web framework.

Example::

    GET_RUN = Route("get_run", "GET", "/runs/get", RunRef, RunResponse)
    GET_RUN.url()                       # "/api/2.0/mlflow/runs/get"
    session.send(GET_RUN, RunRef(run_id="abc"))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import msgspec

#: The REST roots MLflow serves every service under: the API, and the same API for its web UI.
API_ROOT = "/api"
AJAX_ROOT = "/ajax-api"
#: MLflow's tracking, registry, trace and logged-model service.
MLFLOW = "mlflow"
#: The artifact proxy service.
ARTIFACTS = "mlflow-artifacts"
#: mltrail's own additions (API tokens).
MLTRAIL = "mltrail"
#: Where the web UI's own JSON, event streams and exports live (no API version: UI-only).
UI_PREFIX = f"{AJAX_ROOT}/{MLTRAIL}"


def service_root(version: str = "2.0", service: str = MLFLOW, root: str = API_ROOT) -> str:
    """The prefix of a service's endpoints: ``service_root()`` is ``"/api/2.0/mlflow"``."""
    return f"{root}/{version}/{service}"


class Message(msgspec.Struct, omit_defaults=True):
    """Base of request types: fields left at their default are not sent.

    Decoding (the server side) is unaffected; encoding (the client side) sends
    only what the caller set, as protobuf JSON does, so a request is as small as
    the one the official client sends.
    """


def mount_paths(
    path: str, service: str, versions: tuple[str, ...], preview: bool = False, ajax_only: bool = False
) -> list[str]:
    """Every absolute URL path an endpoint answers on (see :meth:`Route.mount_paths`)."""
    if not service:
        return [path]
    roots = (AJAX_ROOT,) if ajax_only else (API_ROOT, AJAX_ROOT)
    paths = []
    for version in versions:
        for root in roots:
            paths.append(f"{service_root(version, service, root)}{path}")
            if preview:
                paths.append(f"{root}/{version}/preview/{service}{path}")
    return paths


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint's declaration: name, method, path, request and response types.

    ``path`` is relative to the service prefix (``"/runs/get"``); with
    ``service=""`` it is absolute (``"/v1/traces"``). Path parameters are
    written ``{name}``. ``client_version`` is the API version the official
    client calls (default: the first of ``versions``). ``raw`` endpoints read
    their body (or stream their answer) themselves; ``media_type`` is what they
    answer with.
    """

    name: str
    method: str
    path: str
    request: type | None = None
    response: type | None = None
    service: str = MLFLOW
    versions: tuple[str, ...] = ("2.0",)
    preview: bool = False
    ajax_only: bool = False
    raw: bool = False
    media_type: str = "application/json"
    summary: str = ""
    tags: tuple[str, ...] = ()
    client_version: str = ""
    # The path the client calls, computed once (per-call cost: one attribute read).
    client_path: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        version = self.client_version or self.versions[0]
        root = AJAX_ROOT if self.ajax_only else API_ROOT
        path = f"{service_root(version, self.service, root)}{self.path}" if self.service else self.path
        object.__setattr__(self, "client_path", path)

    @property
    def methods(self) -> tuple[str, ...]:
        """``(method,)``: the shape the server's route table uses."""
        return (self.method,)

    def mount_paths(self) -> list[str]:
        """Every absolute URL path this endpoint answers on."""
        return mount_paths(self.path, self.service, self.versions, self.preview, self.ajax_only)

    def url(self, **path_params: str) -> str:
        """The client's path with ``{name}`` parameters filled in (each URL-quoted)."""
        path = self.client_path
        for key, value in path_params.items():
            path = path.replace("{" + key + "}", quote(str(value), safe=""))
        return path


class RouteSet:
    """Declarations by name, e.g. ``TRACKING.get_run`` (plain attributes: a lookup is one dict read)."""

    def __init__(self, *routes: Route) -> None:
        self.all: tuple[Route, ...] = routes
        for route in routes:
            if route.name in self.__dict__:
                raise ValueError(f"duplicate route name {route.name!r}")
            setattr(self, route.name, route)

    def __iter__(self) -> Iterator[Route]:
        return iter(self.all)

    def __getattr__(self, name: str) -> Route:  # only reached for unknown names
        raise AttributeError(f"no route named {name!r}")
