"""The OpenAPI 3.1 document, generated from the same route table the app mounts."""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.server.routing import Endpoint
from mltrail.version import __version__

_REF = "#/components/schemas/{name}"


class ErrorResponse(msgspec.Struct):
    """MLflow's error body."""

    error_code: str
    message: str


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


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    """An OpenAPI document describing every JSON endpoint in ``endpoints``."""
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
        path = ep.openapi_path.replace(":path}", "}")
        for method in ep.methods:
            op: dict[str, Any] = {
                "operationId": f"{method.lower()}{path.replace('/', '_').replace('-', '_').replace('{', '').replace('}', '')}",
                "summary": ep.summary or ep.handler.__doc__ or "",
                "tags": list(ep.tags) or [ep.service or "server"],
                "responses": {"default": error},
            }
            params = _path_parameters(ep.openapi_path)
            if ep.request is not None and not ep.raw:
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
            else:
                op["responses"]["200"] = {"description": "OK"}
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "mltrail (MLflow-compatible REST API)", "version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }
