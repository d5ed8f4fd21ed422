"""Real servers for the artifact tests: a local S3-compatible server (moto) and a
small HTTP server that speaks MLflow's ``mlflow-artifacts`` protocol on loopback.

The HTTP server stores files with :class:`LocalArtifactRepository` (real code,
real disk); it exists so the HTTP client can be tested without the full
``mltrail server`` and can misbehave on demand (503s, hostile listings).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mltrail.artifacts.local import LocalArtifactRepository
from mltrail.artifacts.paths import validate_artifact_path
from mltrail.exceptions import MltrailException
from support.live_server import free_port, running_server

API = "/api/2.0/mlflow-artifacts/artifacts"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked request bodies
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: ProxyServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: MltrailException) -> None:
        self._json(err.get_http_status_code(), err.to_dict())

    def _body_chunks(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    raise ConnectionError("client went away mid-upload")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ConnectionError("client went away mid-upload")
                self.rfile.readline()
                yield data
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            data = self.rfile.read(min(remaining, 65536))
            if not data:
                raise ConnectionError("client went away mid-upload")
            remaining -= len(data)
            yield data

    def _route(self) -> tuple[str | None, dict]:
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "port": self.client_address[1],
            }
        )
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == API:
            return None, query
        if not parts.path.startswith(API + "/"):
            return "\0bad", query
        return unquote(parts.path[len(API) + 1 :]), query

    def _fail_if_asked(self) -> bool:
        """Answer early: plain-text 404 off the API (like a reverse proxy), or a planned 503."""
        path = urlsplit(self.path).path
        if path != API and not path.startswith(API + "/"):
            body = b"<html><body>404 Not Found</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return True
        with self.server.lock:
            if self.server.fail_next > 0:
                self.server.fail_next -= 1
                self._json(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try again"})
                return True
        return False

    def _checked(self, raw: str | None) -> str | None:
        try:
            return validate_artifact_path(raw)
        except MltrailException as err:
            self._error(err)
            return None

    def do_PUT(self) -> None:
        raw, _ = self._route()
        if self._fail_if_asked():
            self.close_connection = True
            return
        rel = self._checked(raw)
        if rel is None:
            return
        try:
            self.server.repo.write_stream(rel, self._body_chunks())
        except ConnectionError:
            self.close_connection = True
            return
        self._json(200, {})

    def do_GET(self) -> None:
        raw, query = self._route()
        if self._fail_if_asked():
            return
        if raw is None:  # listing
            rel = self._checked(query.get("path", [""])[0])
            if rel is None:
                return
            if self.server.hostile_listing:
                files = [{"path": "../../escaped.txt", "is_dir": False, "file_size": 1}]
            else:
                files = [
                    {**f.to_dict(), "path": f.path.rsplit("/", 1)[-1]}
                    for f in self.server.repo.list_artifacts(rel)
                ]
            self._json(200, {"files": files})
            return
        rel = self._checked(raw)
        if rel is None:
            return
        try:
            chunks = self.server.repo.open_stream(rel)
        except MltrailException as err:
            self._error(err)
            return
        size = (self.server.repo.root / rel).stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)

    def do_DELETE(self) -> None:
        raw, _ = self._route()
        if self._fail_if_asked():
            return
        rel = self._checked(raw)
        if rel is None:
            return
        self.server.repo.delete_artifacts(rel)
        self._json(200, {})


class ProxyServer(ThreadingHTTPServer):
    """An mlflow-artifacts server on a loopback port, storing under ``root``."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.repo = LocalArtifactRepository(str(root))
        self.lock = threading.Lock()
        self.fail_next = 0
        self.hostile_listing = False
        self.seen: list[dict] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        self.fail_next = 0
        self.hostile_listing = False
        self.seen.clear()


@pytest.fixture(scope="session")
def proxy_server(tmp_path_factory) -> Iterator[ProxyServer]:
    server = ProxyServer(tmp_path_factory.mktemp("proxy-root"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(proxy_server, monkeypatch) -> ProxyServer:
    """The shared proxy server, reset, with fast retries for this test."""
    proxy_server.reset()
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    return proxy_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3-compatible server on a free loopback port; yields its endpoint URL."""
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch) -> str:
    """A fresh bucket on the local S3 server, with the environment pointing at it."""
    import boto3

    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "MLTRAIL_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def _run_mltrail_server(root: Path, destination: str, extra_env: dict[str, str]) -> Iterator[str]:
    """Run the real ``mltrail server`` (artifact proxy on) in a subprocess; yield its URL."""
    pytest.importorskip("mltrail.server.app")
    with running_server(root, None, "--artifacts-destination", destination, env=extra_env) as server:
        yield server.url


@pytest.fixture(scope="session")
def mltrail_server(tmp_path_factory) -> Iterator[str]:
    """The real ``mltrail server`` storing proxied artifacts in a local folder."""
    root = tmp_path_factory.mktemp("mltrail-server")
    yield from _run_mltrail_server(root, str(root / "artifacts"), {})


@pytest.fixture(scope="session")
def mltrail_s3_server(tmp_path_factory, s3_server) -> Iterator[str]:
    """The real ``mltrail server`` whose artifact destination is a bucket on the local S3 server."""
    import boto3

    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    bucket = f"proxied-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("mltrail-s3-server")
    env = {**creds, "MLFLOW_S3_ENDPOINT_URL": s3_server}
    yield from _run_mltrail_server(root, f"s3://{bucket}/proxied", env)


@pytest.fixture(params=["local", "s3", "http", "mltrail-server", "mltrail-s3-server"])
def repo_uri(request, tmp_path) -> str:
    """An empty artifact root URI on each backend in turn. The HTTP client runs
    against the small proxy above and against the real ``mltrail server``, whose
    own storage is a folder or (through the S3 repository) a bucket."""
    if request.param == "local":
        return str(tmp_path / "artifacts")
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return f"s3://{bucket}/exp/0/run/artifacts"
    if request.param.startswith("mltrail-"):
        url = request.getfixturevalue(request.param.replace("-", "_"))
        return f"mlflow-artifacts://{url.removeprefix('http://')}/{uuid.uuid4().hex}/artifacts"
    server = request.getfixturevalue("proxy")
    return f"{server.url}{API}/{uuid.uuid4().hex}/artifacts"
