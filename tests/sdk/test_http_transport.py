"""The SDK's HTTP transport (mltrail.store._transport) under HttpSession, over real sockets.

A loopback HTTP/1.1 server (the standard library's, as the provider fakes use) plays the
awkward server: one that answers 503, is slow, closes idle connections, drops a request on
a reused connection, sends chunked or gzip bodies, sets a cookie. A real ``mltrail server``
sits behind a TLS terminator (a self-signed CA made with ``cryptography``) and behind an
HTTP forward proxy, for the SDK end to end over TLS and over the httpx fallback.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mltrail.exceptions import MltrailException, RestException
from mltrail.protocol import tracking as w
from mltrail.protocol.tracking import TRACKING
from mltrail.store._http import HttpSession
from mltrail.store._transport import HttpxTransport, LeanTransport, _target, encode_query
from mltrail.store.reachability import ServerUnreachable
from mltrail.store.rest import RestTrackingStore
from support.live_server import free_port, start_server, stop_server


# --------------------------------------------------------------------------- servers
class _Handler(BaseHTTPRequestHandler):
    """Behaviour chosen by the path; every request is recorded with its client port."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        srv: Any = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        srv.per_conn[self.client_address] = srv.per_conn.get(self.client_address, 0) + 1
        record = {
            "method": self.command,
            "path": self.path,
            "port": self.client_address[1],
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode(),
        }
        srv.requests.append(record)
        route = url.path.rsplit("/", 1)[-1]
        if route == "flaky":
            key = query["key"][0]
            srv.counts[key] = srv.counts.get(key, 0) + 1
            if srv.counts[key] <= int(query["fails"][0]):
                return self._answer(503, b"busy, try again")
        if route == "slow":
            time.sleep(float(query["s"][0]))
        if route == "drop-idle":  # answered as keep-alive, then closed without saying so
            self.close_connection = True
        if route == "die-on-reuse" and srv.per_conn[self.client_address] > 1:
            self.close_connection = True  # the request on a reused connection: no answer at all
            return None
        if route == "gzip":
            return self._answer(200, gzip.compress(json.dumps(record).encode()), {"Content-Encoding": "gzip"})
        if route == "chunked":
            data = json.dumps(record).encode()
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                part = data[i : i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if route == "error":
            return self._answer(400, json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": "no"}).encode())
        if route == "cookie":
            return self._answer(200, b"{}", {"Set-Cookie": "affinity=node-2; Path=/"})
        return self._answer(200, json.dumps(record).encode())

    do_GET = do_POST = do_DELETE = do_PATCH = _handle


class _Server:
    """A threaded loopback server in a daemon thread; ``ssl_ctx`` makes it speak TLS."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], ssl_ctx: ssl.SSLContext | None = None) -> None:
        ThreadingHTTPServer.daemon_threads = True
        self.httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if ssl_ctx is not None:
            self.httpd.socket = ssl_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.requests, self.httpd.counts, self.httpd.per_conn = [], {}, {}
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.httpd.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.httpd.requests

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _forwarding_handler(upstream: str) -> type[BaseHTTPRequestHandler]:
    """A handler that passes each request on to ``upstream`` (a TLS terminator or a forward proxy)."""
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            self.server.requests.append({"method": self.command, "path": self.path})  # type: ignore[attr-defined]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            path = self.path
            if path.startswith("http://"):  # a forward proxy's request line names the whole URL
                parts = urlsplit(path)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            skip = {"host", "connection", "proxy-connection", "accept-encoding", "keep-alive"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            conn.request(self.command, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _forward

    return Forward


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mltrail test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def mltrail_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("transport-server"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def odd():
    server = _Server(_Handler)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory, mltrail_server):
    """A TLS terminator in front of the live mltrail server, and the CA that signed its certificate."""
    ca, cert, key = _certificates(tmp_path_factory.mktemp("tls"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = _Server(_forwarding_handler(mltrail_server.url), ctx)
    yield server, ca
    server.stop()


@pytest.fixture
def quiet_env(monkeypatch):
    """No tracking settings, proxies or workspace from the machine; quick retries."""
    for name in ("TRACKING_TOKEN", "TRACKING_USERNAME", "TRACKING_PASSWORD", "TRACKING_INSECURE_TLS",
                 "TRACKING_SERVER_CERT_PATH", "HTTP_REQUEST_TIMEOUT", "HTTP_REQUEST_MAX_RETRIES", "WORKSPACE"):
        monkeypatch.delenv(f"MLFLOW_{name}", raising=False)
        monkeypatch.delenv(f"MLTRAIL_{name}", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("MLTRAIL_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    return monkeypatch


def _ports(server: _Server, since: int) -> list[int]:
    return [r["port"] for r in server.requests[since:]]


# --------------------------------------------------------------------------- keep-alive
def test_calls_from_one_thread_share_one_connection_and_threads_get_their_own(odd, quiet_env):
    session = HttpSession(odd.url)
    assert isinstance(session.transport, LeanTransport)
    start = len(odd.requests)
    for i in range(5):
        assert session.call("POST", "/echo", json={"i": i})["body"] == json.dumps({"i": i}, separators=(",", ":"))
    assert len(set(_ports(odd, start))) == 1
    start = len(odd.requests)
    ports: list[list[int]] = []

    def worker() -> None:
        mine = []
        for _ in range(3):
            mine.append(session.call("GET", "/echo")["port"])
        ports.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(set(p)) == 1 for p in ports)  # each thread keeps its connection
    assert ports[0][0] != ports[1][0]  # and the two do not share one
    session.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(odd, quiet_env):
    session = HttpSession(odd.url, max_retries=0)  # no retries: the transport itself must recover
    start = len(odd.requests)
    for _ in range(3):
        session.call("GET", "/drop-idle")
        time.sleep(0.05)  # the server's FIN arrives before the next call
    ports = _ports(odd, start)
    assert len(ports) == 3 and len(set(ports)) == 3
    session.close()


def test_a_request_dropped_on_a_reused_connection_is_sent_again_on_a_new_one(odd, quiet_env):
    session = HttpSession(odd.url, max_retries=0)
    start = len(odd.requests)
    first = session.call("POST", "/die-on-reuse", json={"n": 1})
    second = session.call("POST", "/die-on-reuse", json={"n": 2})  # dropped once, then answered
    assert first["port"] != second["port"]
    assert [r["body"] for r in odd.requests[start:]] == ['{"n":1}', '{"n":2}', '{"n":2}']
    session.close()


# --------------------------------------------------------------------------- retries and errors
def test_503_is_retried_until_it_passes_and_the_last_one_is_an_error(odd, quiet_env):
    session = HttpSession(odd.url, max_retries=3)
    assert session.call("GET", "/flaky", params={"key": "a", "fails": 2})["method"] == "GET"
    assert odd.httpd.counts["a"] == 3
    with pytest.raises(ServerUnreachable, match="answered HTTP 503: busy, try again"):
        session.call("GET", "/flaky", params={"key": "b", "fails": 9})
    assert odd.httpd.counts["b"] == 4  # one try and three retries
    session.close()


def test_refused_connections_are_retried_then_reported(quiet_env):
    session = HttpSession(f"http://127.0.0.1:{free_port()}", max_retries=2)
    with pytest.raises(ServerUnreachable, match="after 3 attempts") as err:
        session.call("GET", "/health")
    assert err.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert not session.reachable()


def test_a_server_slower_than_the_timeout_is_not_retried(odd, quiet_env):
    quiet_env.setenv("MLTRAIL_HTTP_REQUEST_TIMEOUT", "0.3")
    session = HttpSession(odd.url, max_retries=3)
    start = len(odd.requests)
    with pytest.raises(ServerUnreachable, match="did not answer GET /slow"):
        session.call("GET", "/slow", params={"s": 1.5})
    assert len(odd.requests) - start == 1  # it may have arrived: sent once
    assert session.call("GET", "/echo")["path"] == "/echo"  # the session goes on with a new connection
    session.close()


def test_server_errors_keep_their_code(odd, quiet_env):
    session = HttpSession(odd.url)
    with pytest.raises(RestException) as err:
        session.call("POST", "/error", json={})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    session.close()


# --------------------------------------------------------------------------- the request on the wire
def test_headers_query_and_prefix_are_what_httpx_sent(odd, quiet_env):
    quiet_env.setenv("MLTRAIL_TRACKING_TOKEN", "t0ken")
    quiet_env.setenv("MLFLOW_WORKSPACE", "team-a")
    session = HttpSession(odd.url + "/prefix/")
    got = session.call("GET", "/api/2.0/x", params={"ids": ["1", "2"], "deleted": True, "q": "a b&c", "none": None})
    assert got["path"] == "/prefix/api/2.0/x?ids=1&ids=2&deleted=true&q=a+b%26c&none="
    headers = got["headers"]
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["x-mlflow-workspace"] == "team-a"
    assert headers["user-agent"] == "mltrail"
    assert headers["host"] == odd.url.removeprefix("http://")
    posted = session.call("POST", "/echo", json={"k": "välue"})
    assert posted["headers"]["content-type"] == "application/json"
    assert json.loads(posted["body"]) == {"k": "välue"}
    assert session.call("POST", "/echo")["headers"]["content-length"] == "0"
    assert session.call("GET", "/a path/ü")["path"] == "/prefix/a%20path/%C3%BC"
    session.close()


def test_chunked_and_gzip_answers_and_cookies(odd, quiet_env):
    session = HttpSession(odd.url)
    assert session.call("GET", "/chunked", params={"x": "1"})["path"] == "/chunked?x=1"
    assert session.call("GET", "/gzip")["headers"]["accept-encoding"] == "gzip, deflate"
    assert "cookie" not in session.call("GET", "/echo")["headers"]
    session.call("GET", "/cookie")
    assert session.call("GET", "/echo")["headers"]["cookie"] == "affinity=node-2"
    resp = session.request("GET", "/echo")
    assert resp.status_code == 200 and "Content-Type" in resp.headers and resp.json()["method"] == "GET"
    session.close()


def test_header_values_cannot_inject_lines(odd, quiet_env):
    session = HttpSession(odd.url)
    with pytest.raises(ValueError, match="Illegal header"):
        session.request("GET", "/echo", headers={"X-Experiment": "1\r\nX-Evil: yes"})
    session.close()


# --------------------------------------------------------------------------- TLS, end to end
def test_the_sdk_over_tls_with_the_servers_ca(tls, quiet_env):
    proxy, ca = tls
    quiet_env.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(ca))
    store = RestTrackingStore(proxy.url)
    assert isinstance(store.http.transport, LeanTransport)
    exp = store.create_experiment("over-tls")
    assert store.get_experiment(exp).name == "over-tls"
    run = store.create_run(exp, "tester", 0, [], "tls-run")
    assert store.get_run(run.info.run_id).info.run_name == "tls-run"
    store.http.close()


def test_tls_without_the_ca_fails_and_insecure_tls_skips_the_check(tls, quiet_env):
    proxy, _ = tls
    session = HttpSession(proxy.url, max_retries=0)
    with pytest.raises(ServerUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        session.send(TRACKING.search_experiments, w.SearchExperiments(max_results=1))
    quiet_env.setenv("MLTRAIL_TRACKING_INSECURE_TLS", "true")
    session = HttpSession(proxy.url, max_retries=0)
    assert "experiments" in session.send(TRACKING.search_experiments, w.SearchExperiments(max_results=5))
    session.close()


# --------------------------------------------------------------------------- proxy fallback
def test_a_proxy_from_the_environment_goes_through_httpx(mltrail_server, quiet_env):
    proxy = _Server(_forwarding_handler(mltrail_server.url))
    try:
        quiet_env.setenv("HTTP_PROXY", proxy.url)
        store = RestTrackingStore(mltrail_server.url)
        assert isinstance(store.http.transport, HttpxTransport)
        exp = store.create_experiment("via-proxy")
        assert store.get_experiment(exp).name == "via-proxy"
        paths = [r["path"] for r in proxy.requests]
        assert any(p.startswith(mltrail_server.url + "/api/2.0/mlflow/experiments/create") for p in paths), paths
        with pytest.raises(MltrailException) as err:
            store.get_experiment("424242")
        assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        store.http.close()
    finally:
        proxy.stop()


def test_queries_and_paths_are_written_as_httpx_writes_them():
    params = {"a": "b c", "ids": ["1", "2"], "x": True, "n": False, "y": None, "z": 1.5, "ü": "é&=+", "t": ("q~", "a/b")}
    assert encode_query(params) == str(httpx.QueryParams(params))
    client = httpx.Client(base_url="http://h/p")
    for path in ("/api/x", "/a path/ü", "/x/%41b", "/artifacts/a+b@c:d", "/x/[y]", "/x?y=1/2?3", "/x?a=[1]"):
        assert _target("/p", path) == client.build_request("GET", path).url.raw_path.decode()
    client.close()


def test_query_and_target_escape_exactly_the_characters_outside_their_plain_sets() -> None:
    from urllib.parse import quote_plus

    from mltrail.store._transport import _PATH_SAFE, _target, encode_query

    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    plain = set(alnum + _PATH_SAFE + "?")
    chars = [chr(i) for i in range(0x3000) if not 0xD800 <= i < 0xE000] + ["\U0001f600"]
    for c in chars:
        assert encode_query({c: c * 3}) == f"{quote_plus(c)}={quote_plus(c * 3)}"
        target = _target("/p", f"/run{c}x")
        if c in plain and c != "%":
            assert target == f"/p/run{c}x"
        else:
            assert target != f"/p/run{c}x"
    assert encode_query({"run_id": "a1-b2_c3.d4~"}) == "run_id=a1-b2_c3.d4~"
    assert _target("", "/runs/get?run_id=abc") == "/runs/get?run_id=abc"
