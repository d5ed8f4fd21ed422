"""The server's meta routes, declared: readiness, version, the OpenAPI document, server-info.

Declared here (not only in :mod:`mltrail.server.handlers.meta`) because more than the
route table needs their paths: the login check lets the readiness probe and MLflow 3's
capability document through without credentials (:mod:`mltrail.server.auth.authn`).
"""

from __future__ import annotations

from mltrail.protocol.routes import Route, RouteSet

#: Set by ``mltrail server`` on its ``/version`` answer (mltrail's version). ``/version``'s body is the
#: MLflow API level (``3.17.2``), the same as a real MLflow server's, so the header is how a client
#: tells the two apart (e.g. live traces are sent only to mltrail, ``tracing/export.py``).
SERVER_HEADER = "X-Mltrail-Version"

META = RouteSet(
    Route("health", "GET", "/health", service="", summary="Readiness probe: 200 once every request can be served"),
    Route("version", "GET", "/version", service="", summary="MLflow API version served"),
    Route("openapi", "GET", "/openapi.json", service="", summary="This API's OpenAPI document"),
    Route("server_info", "GET", "/server-info", versions=("3.0",),
          summary="Server capabilities (store type, multipart artifact transfers)"),
)  # fmt: skip
