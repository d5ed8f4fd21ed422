"""``--expose-prometheus DIR``: request metrics on ``/metrics`` in Prometheus' text format.

As MLflow's flag: ``DIR`` holds prometheus_client's multiprocess files
(``PROMETHEUS_MULTIPROC_DIR``), so with ``--workers N`` every worker writes its
own file and ``/metrics``, answered by any worker, sums them all. Metric names
are those MLflow's exporter (prometheus_flask_exporter, prefix ``mlflow``)
uses, with the endpoint in a ``path`` label:

* ``mlflow_http_request_total{method, path, status}``: requests answered;
* ``mlflow_http_request_duration_seconds{method, path, status}``: latency histogram;
* ``mlflow_http_request_errors_total{method, path, status}``: answers with status >= 400.

``path`` is the route template (``/api/2.0/mlflow/runs/get``,
``/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}``), never a raw
path with ids in it, and ``other`` for paths no route serves, so the number of
series stays bounded whatever clients send. ``/health``, ``/version`` and
``/metrics`` are not counted (MLflow leaves out the first two as well).

Off by default; when off, nothing here is imported and requests pay nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.scope import USER_SCOPE_KEY

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
EXCLUDED_PATHS = frozenset({"/health", "/version", METRICS_PATH})
OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Finer than prometheus_client's defaults at the low end: most API calls take about a millisecond.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))
# prometheus_client's multiprocess file names: {counter,histogram,gauge_*,summary}_<pid>.db
_FILE_KINDS = ("counter_", "histogram_", "gauge_", "summary_")

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def prepare_directory(directory: str) -> None:
    """Create ``directory`` and clear metric files a previous server left there.

    Run once by the parent process before any worker starts: stale files would
    add an old run's counts to the new one's. Only prometheus_client's own
    ``*.db`` files are removed.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for item in path.iterdir():
        if item.suffix == ".db" and item.name.startswith(_FILE_KINDS):
            item.unlink(missing_ok=True)


def _enable_multiprocess(directory: str) -> None:
    """Point prometheus_client at ``directory`` before any metric is built in this process."""
    os.makedirs(directory, exist_ok=True)
    os.environ[MULTIPROC_ENV] = directory
    from prometheus_client import values

    # The value class is chosen when prometheus_client is first imported; if that
    # happened before the variable was set (an app built in-process), choose again.
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


class Metrics:
    """Request counters and latency histograms of one app, and the ``/metrics`` endpoint."""

    def __init__(self, directory: str, templates: Callable[[Scope], str]) -> None:
        """``templates(scope)`` names the route that served a request (its path template)."""
        _enable_multiprocess(directory)
        from prometheus_client import Counter, Histogram

        self.directory = directory
        self._template = templates
        labels = ("method", "path", "status")
        # registry=None: in multiprocess mode /metrics reads the files, not a registry,
        # and several apps in one process must not collide on registration.
        self.requests = Counter("mlflow_http_request", "Requests answered", labels, registry=None)
        self.errors = Counter(
            "mlflow_http_request_errors", "Requests answered with status >= 400", labels, registry=None
        )
        self.latency = Histogram(
            "mlflow_http_request_duration_seconds",
            "Time to answer a request",
            labels,
            buckets=BUCKETS,
            registry=None,
        )
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def observe(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app`` for this request and record it."""
        if scope["path"] in EXCLUDED_PATHS:
            await app(scope, receive, send)
            return
        status = 500  # what the client sees if the app fails before answering
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            self.record(scope, status, time.perf_counter() - start)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = scope["method"] if scope["method"] in _METHODS else OTHER
        key = (method, self._template(scope), status)
        series = self._series.get(key)
        if series is None:  # labels() validates and locks: once per series, not per request
            labels = (method, key[1], str(status))
            errors = self.errors.labels(*labels) if status >= 400 else None
            series = self._series[key] = (self.requests.labels(*labels), self.latency.labels(*labels), errors)
        series[0].inc()
        series[1].observe(seconds)
        if series[2] is not None:
            series[2].inc()

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics``: every worker's counts, summed, in Prometheus' text format.

        With ``--app-name basic-auth`` only admins may read it: per-route traffic and
        error counts tell an outsider what a team is doing.
        """
        from starlette.concurrency import run_in_threadpool

        user = request.scope.get(USER_SCOPE_KEY)
        if user is not None and not user.is_admin:
            return Response(
                b'{"error_code": "PERMISSION_DENIED", "message": "Only admins may read /metrics"}',
                status_code=403,
                media_type="application/json",
            )

        return Response(await run_in_threadpool(self.render), media_type=_content_type())

    def render(self) -> bytes:
        """The exposition text of all workers' metric files."""
        with LAZY_IMPORTS:  # in a worker thread
            from prometheus_client import CollectorRegistry, generate_latest
            from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        return generate_latest(registry)


def _content_type() -> str:
    from prometheus_client import CONTENT_TYPE_LATEST

    return CONTENT_TYPE_LATEST


def route_templates(fast_paths: dict[str, Any], routes: list[Any]) -> Callable[[Scope], str]:
    """``scope -> template`` for an app: exact API paths are their own template.

    Other requests use the route Starlette matched (``scope["route"]``), or, for
    a request refused before routing, the first route that matches it.
    """

    def template(scope: Scope) -> str:
        path = scope["path"]
        if path in fast_paths:
            return path
        route = scope.get("route")
        if route is None:
            for candidate in routes:
                match, child = candidate.matches(scope)
                if match is Match.FULL:
                    route = child.get("route", candidate)  # a group of routes names the one matched
                    break
        return getattr(route, "path", None) or OTHER

    return template
