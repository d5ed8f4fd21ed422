"""The OpenAPI 3.1 document, generated from the same route table the app mounts.

Rows are :class:`~mltrail.server.routing.Endpoint` (the REST API and the web UI's
own routes, :data:`mltrail.ui.routes.ENDPOINTS`) or bare
:class:`~mltrail.protocol.routes.Route` declarations: both carry path, methods,
wire types and media type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from mltrail.protocol.routes import Route
from mltrail.server.routing import Endpoint
from mltrail.version import __version__

_REF = "#/components/schemas/{name}"


class ErrorResponse(msgspec.Struct):
    """MLflow's error body."""

    error_code: str
    message: str


# One server-sent event (what a text/event-stream answer is a sequence of).
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """GET endpoints take their request fields as query parameters."""
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("type") == "array":
            param["style"] = "form"
            param["explode"] = True
        params.append(param)
    return params


def _path_parameters(path: str) -> list[dict[str, Any]]:
    params = []
    for part in path.split("{")[1:]:
        name = part.split("}")[0].split(":")[0]
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    return params


def build_openapi(endpoints: Sequence[Endpoint | Route]) -> dict[str, Any]:
    """An OpenAPI document describing every endpoint in ``endpoints`` (the app's route table)."""
    types = [ErrorResponse]
    for ep in endpoints:
        types.extend(t for t in (ep.request, ep.response) if t is not None)
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=_REF)
    # msgspec disambiguates same-named types from different modules: map each type to its ref.
    ref_of = {t: r["$ref"] for t, r in zip(unique, refs, strict=True)}

    def component(t: type) -> dict[str, Any]:
        return components[ref_of[t].rsplit("/", 1)[-1]]
    error = {"description": "Error", "content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorResponse")}}}}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        template = ep.mount_paths()[0]
        path = template.replace(":path}", "}")
        for method in ep.methods:
            op: dict[str, Any] = {
                "operationId": f"{method.lower()}{path.replace('/', '_').replace('-', '_').replace('{', '').replace('}', '')}",
                "summary": ep.summary or getattr(getattr(ep, "handler", None), "__doc__", None) or "",
                "tags": list(ep.tags) or [ep.service or "server"],
                "responses": {"default": error},
            }
            params = _path_parameters(template)
            # A raw GET reads its own query, still described by its request type.
            if ep.request is not None and (not ep.raw or method in ("GET", "HEAD")):
                schema = component(ep.request)
                if method in ("GET", "HEAD"):
                    params += _query_parameters(schema)
                else:
                    op["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": ref_of[ep.request]}}},
                    }
            if params:
                op["parameters"] = params
            if ep.response is not None:
                op["responses"]["200"] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": ref_of[ep.response]}}},
                }
            elif ep.media_type != "application/json":  # event streams, CSV
                schema = _SSE_EVENT if ep.media_type == "text/event-stream" else {"type": "string"}
                op["responses"]["200"] = {"description": "OK", "content": {ep.media_type: {"schema": schema}}}
            else:
                op["responses"]["200"] = {"description": "OK"}
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "mltrail (MLflow-compatible REST API)", "version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }
