"""The official MLflow server's route list, read from the installed ``mlflow`` package.

The REST services come from the protobuf service descriptors (each method's
``rpc`` option lists its HTTP method, path and API version), exactly as
``mlflow.server.handlers.get_service_endpoints`` builds them. The routes written
as literals (``handlers.get_*_endpoints``, ``@app.route`` in ``mlflow/server/__init__.py``
and the FastAPI routers) are read from the installed sources with :mod:`ast`, so
the Flask and FastAPI apps need not be imported (that takes seconds).

Every route is a ``(METHOD, path)`` pair with path parameters written ``{}``.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import mlflow
from mlflow.protos import databricks_pb2, mlflow_artifacts_pb2, model_registry_pb2, service_pb2, webhooks_pb2

SERVER_DIR = Path(mlflow.__file__).parent / "server"

# The FastAPI routers mounted by mlflow/server/fastapi_app.py: file -> prefixes it is mounted at.
_MCP = ("/ajax-api/3.0/mlflow/mcp-servers", "/api/3.0/mlflow/mcp-servers")
_ROUTERS: dict[str, tuple[str, ...]] = {
    "otel_api.py": ("",),
    "job_api.py": ("",),
    "gateway_api.py": ("",),
    "assistant/api.py": ("",),
    "artifact_router.py": ("",),
    "mcp_server_api.py": _MCP,
    "server_info_api.py": ("",),
}
_CONSTANTS = {"OTLP_TRACES_PATH": "/v1/traces"}
# Served only for the bundled React app's files, not part of the API.
_STATIC = {"/", "/static-files/{}"}


def normalize(path: str) -> str:
    """``/a/<id>/b/<path:p>`` and ``/a/{id}/b/{p:path}`` both become ``/a/{}/b/{}``."""
    path = re.sub(r"<(?:\w+:)?[\w.]+>", "{}", path)
    return re.sub(r"\{[\w.]+(?::\w+)?\}", "{}", path)


def _service_routes() -> set[tuple[str, str]]:
    routes = set()
    services = (
        service_pb2.MlflowService,
        model_registry_pb2.ModelRegistryService,
        mlflow_artifacts_pb2.MlflowArtifactsService,
        webhooks_pb2.WebhookService,
    )
    for service in services:
        for method in service.DESCRIPTOR.methods:
            for ep in method.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                for api in ("/api", "/ajax-api"):
                    routes.add((ep.method, normalize(f"{api}/{ep.since.major}.0{ep.path}")))
    return routes


def _kw(call: ast.Call, name: str, default: object) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value)
    return default


def _paths_of_call(call: ast.AST) -> list[str]:
    """The paths a ``_get_ajax_path(...)``-style call builds, or [] when it is not one."""
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or not call.args:
        return []
    arg = call.args[0]
    if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str):
        return []
    base, version = arg.value, _kw(call, "version", 2)
    name = call.func.id
    if name == "_add_static_prefix":
        return [base]
    if name == "_get_ajax_path":
        return [f"/ajax-api/{version}.0{base}"]
    if name == "_get_rest_path":
        return [f"/api/{version}.0{base}"]
    if name == "_get_paths":
        return [f"/api/{version}.0{base}", f"/ajax-api/{version}.0{base}"]
    return []


def _handler_literal_routes() -> set[tuple[str, str]]:
    """``(path, handler, [methods])`` tuples in ``handlers.get_*endpoints`` functions."""
    tree = ast.parse((SERVER_DIR / "handlers.py").read_text())
    routes = set()
    for fn in tree.body:
        if not (
            isinstance(fn, ast.FunctionDef) and fn.name.startswith("get_") and fn.name.endswith("endpoints")
        ):
            continue
        comp_iters: dict[str, ast.AST] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.ListComp):
                for gen in node.generators:
                    if isinstance(gen.target, ast.Name):
                        comp_iters[gen.target.id] = gen.iter
        for node in ast.walk(fn):
            if not (
                isinstance(node, ast.Tuple) and len(node.elts) == 3 and isinstance(node.elts[2], ast.List)
            ):
                continue
            methods = [e.value for e in node.elts[2].elts if isinstance(e, ast.Constant)]
            first = node.elts[0]
            paths = _paths_of_call(comp_iters.get(first.id) if isinstance(first, ast.Name) else first)
            routes |= {(m, normalize(p)) for p in paths for m in methods}
    return routes


def _flask_app_routes() -> set[tuple[str, str]]:
    """``@app.route(...)`` in ``mlflow/server/__init__.py`` (GET when no methods are given)."""
    tree = ast.parse((SERVER_DIR / "__init__.py").read_text())
    routes = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "route":
                methods = _kw(dec, "methods", ["GET"])
                for path in _paths_of_call(dec.args[0]):
                    if normalize(path) not in _STATIC:
                        routes |= {(m, normalize(path)) for m in methods}
    return routes


@functools.cache
def _passthrough_routes() -> dict[str, str]:
    """The gateway's ``PASSTHROUGH_ROUTES`` table (``PassthroughAction`` member name -> path)."""
    tree = ast.parse((SERVER_DIR.parent / "gateway" / "providers" / "base.py").read_text())
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if (
            isinstance(target, ast.Name)
            and target.id == "PASSTHROUGH_ROUTES"
            and isinstance(node.value, ast.Dict)
        ):
            return {
                key.attr: value.value
                for key, value in zip(node.value.keys, node.value.values, strict=True)
                if isinstance(key, ast.Attribute) and isinstance(value, ast.Constant)
            }
    return {}


def _router_path(arg: ast.AST) -> str:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name) and arg.id in _CONSTANTS:
        return _CONSTANTS[arg.id]
    if (  # PASSTHROUGH_ROUTES[PassthroughAction.NAME]
        isinstance(arg, ast.Subscript)
        and isinstance(arg.value, ast.Name)
        and arg.value.id == "PASSTHROUGH_ROUTES"
        and isinstance(arg.slice, ast.Attribute)
        and arg.slice.attr in (table := _passthrough_routes())
    ):
        return table[arg.slice.attr]
    return "/{}"  # a path computed otherwise: one parameter


def _fastapi_routes() -> set[tuple[str, str]]:
    routes = set()
    for rel, mounts in _ROUTERS.items():
        tree = ast.parse((SERVER_DIR / rel).read_text())
        prefixes: dict[str, str] = {}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "APIRouter"
            ):
                prefix = node.value.keywords and _kw_path(node.value, "prefix")
                prefixes[node.targets[0].id] = prefix or ""
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)):
                    continue
                owner = dec.func.value
                if not (isinstance(owner, ast.Name) and owner.id in prefixes and dec.args):
                    continue
                method = dec.func.attr.upper()
                if method not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                    continue
                path = prefixes[owner.id] + _router_path(dec.args[0])
                routes |= {(method, normalize(mount + path)) for mount in mounts}
    return routes


def _kw_path(call: ast.Call, name: str) -> str:
    for kw in call.keywords:
        if kw.arg == name:
            return _router_path(kw.value)
    return ""


def official_routes() -> set[tuple[str, str]]:
    """Every ``(METHOD, normalized path)`` the official ``mlflow server`` answers on."""
    return _service_routes() | _handler_literal_routes() | _flask_app_routes() | _fastapi_routes()
