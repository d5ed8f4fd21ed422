"""Hostile input: path traversal on artifact and run endpoints, malformed requests, big bodies."""

from __future__ import annotations

import asyncio
import http.client
from urllib.parse import urlsplit

import httpx
import pytest

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig

# Every path-traversal shape from MLflow's security advisories, as a relative artifact path.
BAD_PATHS = [
    "../etc/passwd",
    "a/../../etc/passwd",
    "..",
    "%2e%2e%2fetc%2fpasswd",
    "%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "..\\..\\windows\\win.ini",
    "\\..\\x",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "x.txt#frag",
    "x.txt;param=1",
    "file:///etc/passwd",
    "//evil/share/x",
    "a\x00b.txt",
    "a\x01b.txt",
    "a\nb.txt",
    "a\x7fb.txt",
]

# The same family as whole artifact locations (experiment creation).
BAD_LOCATIONS = [
    "/tmp/../etc",
    "s3://bucket/../other",
    "s3://bucket/a/%2e%2e/b",
    "s3://bucket/a/%252e%252e/b",
    "/srv/a\\..\\b",
    "s3://bucket/x#frag",
    "s3://bucket/x;param",
    "file://evil/share",
    "file:///tmp/../etc",
    "//evil/share",
    "/tmp/a\x00b",
    "/tmp/a\x01b",
    "runs:/abc/artifacts",
]


@pytest.fixture(scope="module")
def run_id(live_server):
    with httpx.Client(base_url=live_server.url) as c:
        exp = c.post("/api/2.0/mlflow/experiments/create", json={"name": "hardening"}).json()["experiment_id"]
        run = c.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp, "start_time": 1}).json()
        return run["run"]["info"]["run_id"]


def _assert_400(resp: httpx.Response) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    body = resp.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["message"]


@pytest.mark.parametrize("bad", BAD_PATHS, ids=repr)
def test_artifact_endpoints_reject_traversal(api, run_id, bad):
    # Every byte percent-encoded, so the HTTP client cannot normalise dot segments away.
    encoded = "".join(f"%{b:02X}" for b in bad.encode())
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    _assert_400(api.get(f"{proxy}/{encoded}"))
    _assert_400(api.put(f"{proxy}/{encoded}", content=b"x"))
    _assert_400(api.delete(f"{proxy}/{encoded}"))
    _assert_400(api.post(f"/api/2.0/mlflow-artifacts/mpu/create/{encoded}", json={}))
    _assert_400(api.get(proxy, params={"path": bad}))
    _assert_400(api.get("/get-artifact", params={"run_uuid": run_id, "path": bad}))
    _assert_400(api.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": bad}))


@pytest.mark.parametrize("bad", BAD_LOCATIONS, ids=repr)
def test_experiment_artifact_location_rejected(api, bad):
    resp = api.post("/api/2.0/mlflow/experiments/create", json={"name": f"loc-{bad!r}", "artifact_location": bad})
    _assert_400(resp)
    # Nothing half-written: the name is still free.
    assert api.get("/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": f"loc-{bad!r}"}).status_code == 404


def test_relative_experiment_location_is_pinned_like_mlflow(api, live_server):
    """MLflow accepts a relative folder and stores it against the server's working directory."""
    for given, stored in [("relative/folder", live_server.root / "relative" / "folder"),
                          ("file:rel/dir", f"file://{live_server.root}/rel/dir")]:
        resp = api.post("/api/2.0/mlflow/experiments/create", json={"name": f"rel-{given}", "artifact_location": given})
        assert resp.status_code == 200, resp.text
        exp = api.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": resp.json()["experiment_id"]})
        assert exp.json()["experiment"]["artifact_location"] == str(stored)


def test_raw_dot_segments_never_escape(live_server):
    """A client that does not normalise ``../`` (raw HTTP) still cannot leave the root."""
    (live_server.root / "secret.txt").write_text("top secret")
    host = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    for path in ("/api/2.0/mlflow-artifacts/artifacts/../../secret.txt",
                 "/api/2.0/mlflow-artifacts/artifacts/0/../../secret.txt",
                 "/get-artifact?path=../../secret.txt&run_uuid=x"):
        conn.request("GET", path)
        resp = conn.getresponse()
        data = resp.read()
        assert b"top secret" not in data
        assert resp.status in (400, 404), (path, resp.status, data)
    conn.close()


def test_safe_headers_on_downloads(api, run_id):
    api.put("/api/2.0/mlflow-artifacts/artifacts/safe/page.html", content=b"<script>alert(1)</script>")
    resp = api.get("/api/2.0/mlflow-artifacts/artifacts/safe/page.html")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"
    run = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    rel = run["artifact_uri"].split(":", 1)[1].lstrip("/")
    api.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/chart.svg", content=b"<svg onload=alert(1)>")
    resp = api.get("/get-artifact", params={"run_uuid": run_id, "path": "chart.svg"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "/api/2.0/mlflow/experiments/create", {"content": b"{not json"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/experiments/create", {"content": b"[1, 2]"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/experiments/create", {"json": {"name": 42}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/experiments/create", {"json": {}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/experiments/create", {"json": {"name": ""}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/log-metric", {"json": {"run_id": "x", "key": "k"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/log-metric",
         {"json": {"run_id": "x", "key": "k", "value": "abc", "timestamp": 1}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/log-batch", {"json": {"run_id": "x", "metrics": "nope"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/log-batch",
         {"json": {"run_id": "0" * 32, "metrics": [{"key": "k", "value": 1, "timestamp": 1}] * 1001}},
         400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/search", {"json": {"max_results": -1}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/search", {"json": {"max_results": "many"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/search", {"json": {"run_view_type": "SOME"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/update", {"json": {"run_id": "x", "status": "DONE"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.0/mlflow/runs/get", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.0/mlflow/runs/get", {"params": {"run_id": "0" * 32}}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/api/2.0/mlflow/experiments/get", {"params": {"experiment_id": "999999"}}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/api/2.0/mlflow/experiments/get-by-name", {"params": {"experiment_name": "nope"}}, 404,
         "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/api/2.0/mlflow/metrics/get-history", {"params": {"run_id": "0" * 32}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.0/mlflow/metrics/get-history", {"params": {"run_id": "0" * 32, "metric_key": "m",
                                                                    "max_results": "x"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.0/mlflow/runs/delete", {"json": {"run_id": "0" * 32}}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "/api/2.0/mlflow/experiments/delete", {"json": {"experiment_id": "424242"}}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/api/2.0/mlflow/no-such-thing", {}, 404, "ENDPOINT_NOT_FOUND"),
        ("GET", "/api/2.0/mlflow/runs/create", {}, 405, "ENDPOINT_NOT_FOUND"),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/missing/file.txt", {}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_bad_requests_get_clear_json_errors(api, method, path, kwargs, status, code):
    resp = api.request(method, path, **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in resp.text


def test_unknown_ids_on_every_run_write(api):
    ghost = "0" * 32
    for path, body in [
        ("/runs/log-metric", {"run_id": ghost, "key": "k", "value": 1, "timestamp": 1}),
        ("/runs/log-parameter", {"run_id": ghost, "key": "k", "value": "v"}),
        ("/runs/set-tag", {"run_id": ghost, "key": "k", "value": "v"}),
        ("/runs/log-batch", {"run_id": ghost, "metrics": [{"key": "k", "value": 1, "timestamp": 1}]}),
        ("/runs/update", {"run_id": ghost, "status": "FINISHED"}),
        ("/runs/restore", {"run_id": ghost}),
    ]:
        resp = api.post("/api/2.0/mlflow" + path, json=body)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_oversized_bodies_are_refused(tmp_path):
    asyncio.run(_oversized(tmp_path))


async def _oversized(tmp_path):
    app = create_app(ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", max_body_bytes=1024,
                                  artifacts_destination=str(tmp_path / "art")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        big = {"name": "x" * 5000}
        resp = await c.post("/api/2.0/mlflow/experiments/create", json=big)
        assert resp.status_code == 413
        assert resp.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
        assert "1024 bytes" in resp.json()["message"]

        async def chunked():  # no Content-Length: the limit is enforced while reading
            for _ in range(10):
                yield b" " * 512

        resp = await c.post("/api/2.0/mlflow/experiments/create", content=chunked(),
                            headers={"Content-Type": "application/json"})
        assert resp.status_code == 413
        # Artifact uploads stream and are not bound by the JSON limit.
        resp = await c.put("/api/2.0/mlflow-artifacts/artifacts/big.bin", content=b"0" * 10_000)
        assert resp.status_code == 200
        assert (tmp_path / "art" / "big.bin").stat().st_size == 10_000


def test_model_version_artifact_download(api, run_id):
    run = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    rel = run["artifact_uri"].split(":", 1)[1].lstrip("/")
    api.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/model/MLmodel", content=b"flavors: {}\n")
    assert api.post("/api/2.0/mlflow/registered-models/create", json={"name": "hardening-model"}).status_code == 200
    mv = api.post("/api/2.0/mlflow/model-versions/create",
                  json={"name": "hardening-model", "source": f"{run['artifact_uri']}/model", "run_id": run_id})
    assert mv.status_code == 200, mv.text
    version = mv.json()["model_version"]["version"]
    params = {"name": "hardening-model", "version": version, "path": "MLmodel"}
    resp = api.get("/model-versions/get-artifact", params=params)
    assert resp.status_code == 200 and resp.content == b"flavors: {}\n"
    assert resp.headers["x-content-type-options"] == "nosniff"
    for bad in ("../../../secret.txt", "%2e%2e/x", "/etc/passwd"):
        _assert_400(api.get("/model-versions/get-artifact", params={**params, "path": bad}))


def test_dropped_upload_leaves_nothing_behind(live_server):
    """A client that disconnects mid-upload leaves no file and no temp file."""
    import socket
    import time

    host = urlsplit(live_server.url)
    with socket.create_connection((host.hostname, host.port)) as sock:
        sock.sendall(b"PUT /api/2.0/mlflow-artifacts/artifacts/dropped/part.bin HTTP/1.1\r\n"
                     b"Host: x\r\nContent-Length: 10000000\r\n\r\n" + b"0" * 3_000_000)
    folder = live_server.artifacts / "dropped"

    def entries() -> list:
        return list(folder.iterdir()) if folder.exists() else []

    # The server may not have started on the request yet: let it create its temp file first
    # (checking too early would pass before the upload even began)...
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not entries():
        time.sleep(0.02)
    # ...then it must notice the dropped connection and remove what it wrote.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and entries():
        time.sleep(0.05)
    assert entries() == []
    with httpx.Client(base_url=live_server.url) as c:
        assert c.get("/health").text == "OK"  # and the server is fine
    assert "Traceback" not in (live_server.root / "server.log").read_text()
