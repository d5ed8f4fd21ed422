"""Route coverage against the official server (issue 19, point 6).

The official ``mlflow server``'s routes are read from the installed ``mlflow``
package (:mod:`support.official_routes`: service protos plus the route literals
of its Flask and FastAPI apps). Every one of them must either be served by
mltrail's app or be listed, with its reason and the issue that will bring it, in
``route_coverage_absent.txt``. A listed route that mltrail has started serving
fails too, so the list stays true. Over HTTP, each served route must reach a
handler on a live ``mltrail server`` (no ``ENDPOINT_NOT_FOUND``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from support.live_server import start_server, stop_server
from support.official_routes import normalize, official_routes

ABSENT_FILE = Path(__file__).with_name("route_coverage_absent.txt")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "*"}


@dataclass(frozen=True)
class Absent:
    """One line of the allow-list."""

    method: str
    pattern: str
    issue: str
    reason: str
    line: int

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.pattern)


def read_absent() -> list[Absent]:
    entries = []
    for number, raw in enumerate(ABSENT_FILE.read_text().splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = [p.strip() for p in text.split("|")]
        assert len(parts) == 3, f"line {number}: want 'METHOD GLOB | ISSUE | REASON': {raw!r}"
        route, issue, reason = parts
        method, _, pattern = route.partition(" ")
        assert method in METHODS and pattern.startswith("/"), f"line {number}: bad route {route!r}"
        assert issue and reason, f"line {number}: the issue and the reason are required"
        entries.append(Absent(method, pattern.strip(), issue, reason, number))
    return entries


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """``(METHOD, normalized path)`` of every route the app mounts (table and parameterised)."""
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'routes.db'}", artifacts_destination=str(tmp_path / "art")
    )
    served: set[tuple[str, str]] = set()
    for mounted in create_app(config).routes:
        table = getattr(mounted, "table", None)
        if table is not None:
            served |= {(m, normalize(path)) for path, by_method in table.items() for m in by_method}
            continue
        for route in getattr(mounted, "routes", [mounted]):  # the parameterised paths come as one group
            if isinstance(route, Route):
                served |= {(m, normalize(route.path)) for m in route.methods or ()}
    return served


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> tuple[set, set, list[Absent]]:
    return official_routes(), served_routes(tmp_path_factory.mktemp("routes")), read_absent()


def test_the_official_route_list_is_read_whole(routes: tuple[set, set, list[Absent]]) -> None:
    official, _, _ = routes
    for expected in [
        ("GET", "/api/2.0/mlflow/runs/get"),  # service proto
        ("POST", "/ajax-api/2.0/mlflow/runs/log-batch"),
        ("GET", "/api/3.0/mlflow/traces/{}"),  # a v3 proto path with a parameter
        ("POST", "/api/2.0/mlflow/registered-models/create"),  # registry proto
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{}"),  # artifacts proto and FastAPI router
        ("GET", "/get-artifact"),  # @app.route in mlflow/server/__init__.py
        ("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"),
        ("GET", "/graphql"),  # handlers.get_endpoints literal
        ("GET", "/api/3.0/mlflow/server-info"),  # list comprehension in get_endpoints
        ("PATCH", "/ajax-api/3.0/mlflow/jobs/cancel/{}"),  # handlers.get_job_endpoints
        ("POST", "/v1/traces"),  # the OTLP router (prefix from a constant)
        ("POST", "/gateway/mlflow/v1/chat/completions"),  # the gateway router
        ("POST", "/gateway/typesafe/v1/systemone"),  # PASSTHROUGH_ROUTES[PassthroughAction...]
        ("POST", "/gateway/gemini/v1beta/models/{}:generateContent"),
        ("GET", "/api/3.0/mlflow/mcp-servers/{}"),  # a router mounted at two prefixes
    ]:
        assert expected in official
    assert len(official) > 400


def test_every_official_route_is_served_or_listed_as_absent(routes: tuple[set, set, list[Absent]]) -> None:
    official, served, absent = routes
    unexplained = sorted(
        (path, method)
        for method, path in official - served
        if not any(entry.matches(method, path) for entry in absent)
    )
    assert not unexplained, (
        "routes of the official mlflow server that mltrail neither serves nor lists in "
        f"{ABSENT_FILE.name}:\n" + "\n".join(f"{m} {p}" for p, m in unexplained)
    )


def test_every_absent_line_still_names_a_missing_route(routes: tuple[set, set, list[Absent]]) -> None:
    official, served, absent = routes
    missing = official - served
    stale = [e for e in absent if not any(e.matches(m, p) for m, p in missing)]
    assert not stale, "lines that match no missing route (served now, or a typo): " + ", ".join(
        f"line {e.line}: {e.method} {e.pattern}" for e in stale
    )
    now_served = sorted(
        f"line {e.line}: {m} {p}" for e in absent for m, p in official & served if e.matches(m, p)
    )
    assert not now_served, "allow-list lines that match routes mltrail serves: " + ", ".join(now_served)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("coverage_server"))
    yield server
    stop_server(server)


def test_each_shared_route_reaches_a_handler_over_http(
    routes: tuple[set, set, list[Absent]], live_server
) -> None:
    official, served, _ = routes
    unreached = []
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        for method, path in sorted(official & served, key=lambda r: (r[1], r[0])):
            url = path.replace("{}", "x")
            resp = http.request(method, url, json={} if method in {"POST", "PATCH", "PUT"} else None)
            code = resp.json().get("error_code") if "json" in resp.headers.get("content-type", "") else None
            if resp.status_code == 405 or code == "ENDPOINT_NOT_FOUND":
                unreached.append(f"{method} {path}: {resp.status_code} {resp.text[:120]}")
    assert not unreached, "\n".join(unreached)


def test_openapi_lists_every_endpoint_logins_and_workspaces_included(tmp_path: Path, monkeypatch) -> None:
    """``/openapi.json`` is built from the app's endpoint table: with logins and workspaces on, every
    endpoint is there, the newest routes of issue 19 among them (budgets, guardrails, roles, System One)."""
    from mltrail.server.openapi import build_openapi

    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "an-admin-password-long-enough")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'routes.db'}",
        artifacts_destination=str(tmp_path / "art"),
        app_name="basic-auth",
        enable_workspaces=True,
    )
    app = create_app(config)
    paths = build_openapi(app.state.endpoints)["paths"]
    unlisted = [
        f"{method} {ep.mount_paths()[0]}"
        for ep in app.state.endpoints
        for method in ep.methods
        if method.lower() not in paths.get(ep.mount_paths()[0].replace(":path}", "}"), {})
    ]
    assert not unlisted, unlisted
    for method, path in [
        ("post", "/api/3.0/mlflow/gateway/budgets/create"),
        ("get", "/api/3.0/mlflow/gateway/budgets/windows"),
        ("post", "/api/3.0/mlflow/gateway/guardrails/add-to-endpoint"),
        ("post", "/api/3.0/mlflow/roles/create"),
        ("delete", "/api/3.0/mlflow/roles/unassign"),
        ("post", "/gateway/typesafe/v1/systemone"),
        ("post", "/gateway/mlflow/v1/chat/completions"),
    ]:
        assert method in paths.get(path, {}), (method, path)
