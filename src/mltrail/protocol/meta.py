"""The server's meta routes, declared: readiness, version, the OpenAPI document, server-info.

Declared here (not only in :mod:`mltrail.server.handlers.meta`) because more than the
route table needs their paths: the login check lets the readiness probe and MLflow 3's
capability document through without credentials (:mod:`mltrail.server.auth.authn`).
"""

from __future__ import annotations

from mltrail.protocol.routes import Route, RouteSet

META = RouteSet(
    Route("health", "GET", "/health", service="", summary="Readiness probe: 200 once every request can be served"),
    Route("version", "GET", "/version", service="", summary="MLflow API version served"),
    Route("openapi", "GET", "/openapi.json", service="", summary="This API's OpenAPI document"),
    Route("server_info", "GET", "/server-info", versions=("3.0",),
          summary="Server capabilities (store type, multipart artifact transfers)"),
)  # fmt: skip
