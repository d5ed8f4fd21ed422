"""Browser protections over a live server: CSRF, DNS rebinding, content types, CORS, security headers.

A web page on another origin can make the user's browser send "simple" requests
(a POST with ``text/plain`` or form content) to ``127.0.0.1:5000`` without
asking; DNS rebinding lets it talk to the server under its own host name. Each
test sends exactly what such a browser would and checks the server refuses it
(and that nothing changed), while the official client, curl-style requests
and the server's own pages keep working.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from support.live_server import start_server, stop_server

EVIL = "https://evil.example"
API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("guard"))
    yield server
    stop_server(server)


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _new_run(api) -> str:
    resp = api.post(f"{API}/runs/create", json={"experiment_id": "0"})
    assert resp.status_code == 200, resp.text
    return resp.json()["run"]["info"]["run_id"]


def _stage(api, run_id: str) -> str:
    return api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]["lifecycle_stage"]


def _refused(resp: httpx.Response, status: int, code: str, words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code and words in body["message"], body


def test_cross_origin_text_plain_post_cannot_delete_a_run(api):
    run_id = _new_run(api)
    # What fetch(url, {method: "POST", mode: "no-cors", body: JSON.stringify(...)}) sends from evil.example.
    resp = api.post(f"{API}/runs/delete", content=json.dumps({"run_id": run_id}),
                    headers={"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"})
    _refused(resp, 403, "PERMISSION_DENIED", "Cross-origin request blocked")
    assert "--cors-allowed-origins" in resp.json()["message"]
    assert _stage(api, run_id) == "active"
    # The same body as text/plain without an Origin (an old browser, a proxy stripping it): still refused.
    resp = api.post(f"{API}/runs/delete", content=json.dumps({"run_id": run_id}),
                    headers={"Content-Type": "text/plain"})
    _refused(resp, 400, "INVALID_PARAMETER_VALUE", "Content-Type must be one of ['application/json']")
    assert _stage(api, run_id) == "active"


def test_form_posts_are_refused(api):
    run_id = _new_run(api)
    form = {"run_id": run_id}
    _refused(api.post(f"{API}/runs/delete", data=form, headers={"Origin": EVIL}), 403, "PERMISSION_DENIED",
             "Cross-origin")
    _refused(api.post(f"{API}/runs/delete", data=form), 400, "INVALID_PARAMETER_VALUE", "Content-Type")
    _refused(api.post(f"{API}/runs/delete", files={"run_id": (None, run_id)}), 400, "INVALID_PARAMETER_VALUE",
             "Content-Type")
    # No Content-Type at all (a Blob body): MLflow's message.
    _refused(api.post(f"{API}/runs/delete", content=b'{"run_id": "%s"}' % run_id.encode()), 400,
             "INVALID_PARAMETER_VALUE", "Content-Type header is missing")
    assert _stage(api, run_id) == "active"


def test_foreign_origin_refused_on_every_kind_of_route(api, server):
    run_id = _new_run(api)
    model = api.post(f"{API}/logged-models", json={"experiment_id": "0", "name": "m"}).json()["model"]
    model_id = model["info"]["model_id"]
    bad = {"Origin": EVIL}
    attempts = [
        # the fast path (exact API path)
        ("POST", f"{API}/runs/set-tag", {"json": {"run_id": run_id, "key": "k", "value": "v"}}),
        # a Starlette route with path parameters
        ("POST", f"{API}/logged-models/{model_id}/params", {"json": {"params": [{"key": "p", "value": "1"}]}}),
        ("DELETE", f"{API}/logged-models/{model_id}", {}),
        # the artifact upload (raw body) and its delete
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/evil.txt", {"content": b"x"}),
        ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/evil.txt", {}),
        # the UI's ajax API, and the UI's own routes
        ("POST", "/ajax-api/2.0/mlflow/runs/delete", {"json": {"run_id": run_id}}),
        ("POST", "/ajax-api/mltrail/experiments/columns", {"json": {}}),
        # OTLP ingest
        ("POST", "/v1/traces", {"content": b"\x00", "headers": {"Content-Type": "application/x-protobuf",
                                                                 "x-mlflow-experiment-id": "0"}}),
    ]
    for method, path, kw in attempts:
        headers = {**bad, **kw.pop("headers", {})}
        resp = api.request(method, path, headers=headers, **kw)
        _refused(resp, 403, "PERMISSION_DENIED", "Cross-origin request blocked")
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["info"]["lifecycle_stage"] == "active" and "k" not in {t["key"] for t in run["data"].get("tags", [])}
    got = api.get(f"{API}/logged-models/{model_id}").json()["model"]
    assert got["info"].get("lifecycle_stage", "active") == "active" and not got["data"].get("params")
    assert not (server.artifacts / "evil.txt").exists()
    # A cross-origin GET is answered (reading it is what CORS forbids the page) but gets no CORS header.
    resp = api.get(f"{API}/runs/get", params={"run_id": run_id}, headers=bad)
    assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers


def test_same_origin_and_no_origin_requests_pass(api, server):
    same = {"Origin": server.url}
    run_id = _new_run(api)
    resp = api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k", "value": "v"}, headers=same)
    assert resp.status_code == 200, resp.text
    assert "access-control-allow-origin" not in resp.headers  # same-origin needs no CORS
    assert api.put("/api/2.0/mlflow-artifacts/artifacts/same/a.txt", content=b"hi", headers=same).status_code == 200
    # The artifact upload takes whatever type the file has (MLflow's client sends its guessed MIME type).
    resp = api.put("/api/2.0/mlflow-artifacts/artifacts/same/b.txt", content=b"hi",
                   headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200
    assert api.post("/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 1}, headers=same).status_code == 200
    # OTLP with its own content types, from a script (no Origin): reaches the handler.
    resp = api.post("/v1/traces", json={"resourceSpans": []}, headers={"x-mlflow-experiment-id": "0"})
    assert resp.status_code == 400 and "no spans found" in resp.text, resp.text  # MLflow's answer to no spans
    # OTLP refuses a type a page could send unasked, and a missing one.
    _refused(api.post("/v1/traces", content=b"{}", headers={"Content-Type": "text/plain"}), 400,
             "INVALID_PARAMETER_VALUE", "Content-Type")
    _refused(api.post("/v1/traces", content=b"{}"), 400, "INVALID_PARAMETER_VALUE", "Content-Type")
    # Behind a TLS proxy: Origin https://name and Host name are the same site.
    port = server.url.rsplit(":", 1)[1]
    resp = api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k2", "value": "v"},
                    headers={"Host": "localhost", "Origin": "https://localhost"})
    assert resp.status_code == 200, resp.text
    # Another port on the same machine is another origin.
    resp = api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k3", "value": "v"},
                    headers={"Origin": f"http://127.0.0.1:{int(port) + 1}"})
    assert resp.status_code == 403
    _refused(api.post(f"{API}/runs/set-tag", json={"run_id": run_id, "key": "k4", "value": "v"},
                      headers={"Origin": "null"}), 403, "PERMISSION_DENIED", "Cross-origin")


@pytest.mark.parametrize("host", [
    "evil.example", "EVIL.EXAMPLE", "evil.example.", "evil.example:5000", "127.0.0.1.evil.com",
    "localhost.evil.com", "10.evil.example", "192.168.1.5.nip.io", "[::2]", "8.8.8.8", "127.0.0.1:5000:80",
    "user@127.0.0.1", "127.0.0.1/x", "", "[::1", "local host",
])
def test_dns_rebinding_hosts_are_refused(api, host):
    resp = api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Host": host})
    _refused(resp, 403, "PERMISSION_DENIED", "Invalid Host header - possible DNS rebinding attack detected")
    assert "--allowed-hosts" in resp.json()["message"]


@pytest.mark.parametrize("host", [
    "127.0.0.1", "LOCALHOST", "localhost.", "Localhost:5000", "[::1]", "[::1]:5000", "127.0.0.2:80", "0.0.0.0",
    "10.1.2.3", "192.168.0.7:5000", "172.20.0.1", "[fd00::1]",
])
def test_loopback_and_private_hosts_are_accepted(api, host):
    resp = api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Host": host})
    assert resp.status_code == 200, resp.text


def test_rebinding_is_refused_everywhere_but_the_probes(api):
    run_id = _new_run(api)
    evil = {"Host": "evil.example"}
    for path in ("/", "/static/x/app.js", f"/ajax-api/mltrail/runs/{run_id}/events",
                 "/get-artifact?path=a&run_uuid=" + run_id, "/api/2.0/mlflow-artifacts/artifacts/same/a.txt",
                 "/openapi.json", "/no/such/page"):
        assert api.get(path, headers=evil).status_code == 403, path
    resp = api.post(f"{API}/runs/delete", json={"run_id": run_id}, headers=evil)
    assert resp.status_code == 403 and _stage(api, run_id) == "active"
    # /health and /version answer whatever the Host (load balancers probe by pod IP or name), as MLflow.
    assert api.get("/health", headers=evil).text == "OK"
    assert api.get("/version", headers=evil).status_code == 200


def test_security_headers_on_every_response(api, server):
    run_id = _new_run(api)
    for resp in (
        api.get(f"{API}/runs/get", params={"run_id": run_id}),  # fast path
        api.get(f"{API}/runs/get", params={"run_id": "nope"}),  # an error
        api.get("/"),  # a UI page
        api.get("/no/such/page"),  # Starlette's 404
        api.post(f"{API}/runs/delete", data={"run_id": run_id}),  # a refusal
    ):
        assert resp.headers["x-content-type-options"] == "nosniff", resp.request.url
        assert resp.headers.get_list("x-frame-options") in (["SAMEORIGIN"], ["DENY"]), resp.request.url
    # A server-sent-event stream gets them too, and is not held up by the guard.
    with api.stream("GET", f"/ajax-api/mltrail/runs/{run_id}/events") as stream:
        assert stream.status_code == 200 and stream.headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts_and_cors_origins_are_honoured(tmp_path):
    app_origin = "https://app.example.com"
    server = start_server(
        tmp_path, None, "--allowed-hosts", "mlflow.example.com, *.corp.example", "--x-frame-options", "deny",
        env={"MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": f"{app_origin},https://*.tools.example"},
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            def get(host):
                return api.get(f"{API}/experiments/get", params={"experiment_id": "0"}, headers={"Host": host})

            for ok in ("mlflow.example.com", "MLflow.Example.com:443", "a.corp.example", "b.c.corp.example",
                       "localhost", "127.0.0.1"):
                assert get(ok).status_code == 200, ok
            # A given list replaces MLflow's private-network default; other names stay refused.
            for bad in ("evil.example", "corp.example.evil", "mlflow.example.com.evil", "10.0.0.1"):
                assert get(bad).status_code == 403, bad
            assert get("localhost").headers["x-frame-options"] == "DENY"

            # Preflight from an allowed origin: 204 with the CORS answer.
            pre = api.options(f"{API}/runs/create", headers={
                "Origin": app_origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,authorization"})
            assert pre.status_code == 204, pre.text
            assert pre.headers["access-control-allow-origin"] == app_origin
            assert pre.headers["access-control-allow-credentials"] == "true"
            assert "POST" in pre.headers["access-control-allow-methods"]
            assert pre.headers["access-control-allow-headers"] == "content-type,authorization"
            assert "origin" in pre.headers["vary"].lower()
            # ... and a refusal from any other origin.
            pre = api.options(f"{API}/runs/create", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
            _refused(pre, 400, "INVALID_PARAMETER_VALUE", "Disallowed CORS origin")
            assert "access-control-allow-origin" not in pre.headers

            # The real request from the allowed origins, wildcard included.
            for origin in (app_origin, "https://nb.tools.example"):
                resp = api.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers={"Origin": origin})
                assert resp.status_code == 200, resp.text
                assert resp.headers["access-control-allow-origin"] == origin
            # The JSON rule still holds for allowed origins.
            resp = api.post(f"{API}/runs/create", content=b'{"experiment_id": "0"}',
                            headers={"Origin": app_origin, "Content-Type": "text/plain"})
            assert resp.status_code == 400
            resp = api.post(f"{API}/runs/create", json={"experiment_id": "0"}, headers={"Origin": EVIL})
            assert resp.status_code == 403
    finally:
        stop_server(server)


def test_disabled_middleware_and_wildcards(tmp_path):
    async def go(config):
        app = create_app(config)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://evil.example") as c:
            return await c.post(f"{API}/experiments/create", json={"name": "x"},
                                headers={"Origin": "https://page.example"})

    base = {"backend_store_uri": f"sqlite:///{tmp_path / 'db.sqlite'}", "artifacts_destination": str(tmp_path / "a")}
    resp = asyncio.run(go(ServerConfig(**base)))
    assert resp.status_code == 403
    resp = asyncio.run(go(ServerConfig(**base, disable_security_middleware=True)))
    assert resp.status_code == 200 and "x-frame-options" not in resp.headers
    # '*' for both: every host and every origin, and CORS without credentials (MLflow's wildcard mode).
    resp = asyncio.run(go(ServerConfig(**{**base, "backend_store_uri": f"sqlite:///{tmp_path / 'db2.sqlite'}"},
                                       allowed_hosts="*", cors_allowed_origins="*", x_frame_options="NONE")))
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in resp.headers
    assert "x-frame-options" not in resp.headers and resp.headers["x-content-type-options"] == "nosniff"


def test_official_client_works_unchanged(server, tmp_path):
    mlflow.set_tracking_uri(server.url)
    try:
        client = MlflowClient(server.url)
        exp_id = client.create_experiment("guard-official")
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_param("p", 1)
            mlflow.log_metric("m", 0.5)
            mlflow.set_tag("t", "v")
            (tmp_path / "notes.txt").write_text("hello")
            mlflow.log_artifact(str(tmp_path / "notes.txt"))  # PUT with Content-Type text/plain
            mlflow.log_dict({"a": 1}, "d.json")

            @mlflow.trace
            def traced(x):
                return x + 1

            assert traced(1) == 2
        got = client.get_run(run.info.run_id)
        assert got.data.params == {"p": "1"} and got.data.metrics == {"m": 0.5}
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"notes.txt", "d.json"}
        assert client.download_artifacts(run.info.run_id, "notes.txt", str(tmp_path / "dl")).endswith("notes.txt")
        mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None
        assert client.search_traces(locations=[exp_id]) or client.search_traces(experiment_ids=[exp_id])
        client.delete_run(run.info.run_id)
        assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    finally:
        mlflow.set_tracking_uri(None)


def test_help_and_flags_use_mlflow_names():
    from click.testing import CliRunner

    from mltrail.cli.main import cli
    from mltrail.cli.server import build_config

    result = CliRunner().invoke(cli, ["server", "--help"])
    assert result.exit_code == 0
    for flag in ("--allowed-hosts", "--cors-allowed-origins", "--x-frame-options", "--disable-security-middleware",
                 "--expose-prometheus"):
        assert flag in result.output
    bad = CliRunner().invoke(cli, ["server", "--x-frame-options", "ALLOWALL"])
    assert bad.exit_code != 0 and "x-frame-options" in bad.output.lower()
    cfg = build_config(allowed_hosts="a.example", cors_allowed_origins="https://b.example", x_frame_options="deny",
                       disable_security_middleware=False, expose_prometheus="prom")
    assert (cfg.allowed_hosts, cfg.cors_allowed_origins, cfg.x_frame_options) == ("a.example", "https://b.example",
                                                                                  "DENY")
    assert cfg.expose_prometheus is not None and cfg.expose_prometheus.endswith("/prom")
