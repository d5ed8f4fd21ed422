"""Request limits: no body, URL or filter makes the server answer 5xx or hang.

* JSON nested past 100 levels on every mounted JSON endpoint (and OTLP) is a 400;
* search filters at their limits run on SQLite, PostgreSQL and MariaDB; one past
  each limit is a 400 naming the limit;
* integers past 64 bits, garbage page tokens, oversized ``order_by`` lists are 400s;
* half-sent requests, huge URLs and huge headers against a live server get
  408/414/431 with MLflow's error JSON, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid

import httpx
import pytest

from mltrail.entities import Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.search.limits import (
    MAX_FILTER_CLAUSES,
    MAX_FILTER_LENGTH,
    MAX_FILTER_NESTING,
    MAX_FILTER_VALUES,
    MAX_ORDER_BY_CLAUSES,
)
from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from mltrail.server.connection import MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_URL_BYTES
from mltrail.server.limits import MAX_JSON_DEPTH
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.basic_auth import ADMIN, ADMIN_PASSWORD, basic_auth_server
from support.live_server import start_server, stop_server
from support.sql_backends import SQL_BACKENDS

JSON = {"Content-Type": "application/json"}
EXPERIMENT_LOCATION = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "0"}}]


def _deep_bodies(depth: int) -> dict[str, bytes]:
    """Bodies nesting ``depth`` levels: bare arrays, objects, and both inside a known or unknown field."""
    arrays = b"[" * depth + b"]" * depth
    objects = b'{"a":' * depth + b"1" + b"}" * depth
    return {
        "arrays": arrays,
        "objects": objects,
        "unknown field": b'{"zzz_unknown": ' + arrays + b"}",
        "free-form field": b'{"trace": ' + objects + b', "assessment": ' + objects + b"}",
    }


def _fill(path: str) -> str:
    """A concrete URL for a route pattern: every ``{param}`` becomes ``x``."""
    out, depth = [], 0
    for ch in path:
        if ch == "{":
            depth += 1
            if depth == 1:
                out.append("x")
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


@pytest.fixture
def app(tmp_path):
    return create_app(
        ServerConfig(
            backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
            artifacts_destination=str(tmp_path / "art"),
        )
    )


async def _post_all(app, bodies: dict[str, bytes]) -> list[tuple[str, str, str, httpx.Response]]:
    answers = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        for ep in app.state.endpoints:
            if ep.raw and ep.path != "/v1/traces":
                continue  # uploads stream their body to storage and never parse it as JSON
            if ep.request is None and not ep.raw:
                continue
            for method in ep.methods:
                if method in ("GET", "HEAD"):
                    continue
                url = _fill(ep.openapi_path)
                for name, body in bodies.items():
                    resp = await c.request(method, url, content=body, headers=JSON)
                    answers.append((method, url, name, resp))
    return answers


def test_deep_json_is_a_400_naming_the_limit_on_every_json_endpoint(app):
    answers = asyncio.run(_post_all(app, _deep_bodies(1000)))
    assert len({(m, u) for m, u, _, _ in answers}) >= 50  # every JSON endpoint, not a handful
    for method, url, name, resp in answers:
        if url == "/v1/traces" or resp.status_code != 400 or "levels deep" not in resp.text:
            # A body that is not even the right shape may be refused for that first; never a 5xx.
            assert 400 <= resp.status_code < 500, (method, url, name, resp.status_code, resp.text)
            assert resp.json()["error_code"], (method, url, name)
        if name in ("unknown field", "objects") or url == "/v1/traces":
            assert resp.status_code == 400, (method, url, name, resp.text)
            body = resp.json()
            assert body["error_code"] == "INVALID_PARAMETER_VALUE", (method, url, name, body)
            assert f"the limit is {MAX_JSON_DEPTH} levels" in body["message"], (method, url, name, body)


def test_free_form_values_are_bounded_exactly_at_the_limit(app):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            # {"trace": {"x": [[...]]}}: the body itself is level 1, "trace" level 2.
            def body(levels: int) -> bytes:
                inner = b"[" * (levels - 2) + b"]" * (levels - 2)
                return b'{"trace": {"trace_info": {}, "zz": ' + inner + b"}}"

            at = await c.post("/api/3.0/mlflow/traces", content=body(MAX_JSON_DEPTH), headers=JSON)
            over = await c.post("/api/3.0/mlflow/traces", content=body(MAX_JSON_DEPTH + 1), headers=JSON)
            return at, over

    at, over = asyncio.run(go())
    assert "levels deep" not in at.text  # at the limit: judged on its content, not its depth
    assert over.status_code == 400
    assert over.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert f"more than {MAX_JSON_DEPTH} levels deep" in over.json()["message"]


def _pb_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            low, n = n & 0x7F, n >> 7
            out.append(low | (0x80 if n else 0))
            if not n:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _otlp_protobuf(any_value_depth: int) -> bytes:
    """An ExportTraceServiceRequest with one span whose attribute nests arrays ``any_value_depth`` deep."""
    value = _pb_field(1, b"leaf")  # AnyValue.string_value
    for _ in range(any_value_depth):
        value = _pb_field(5, _pb_field(1, value))  # AnyValue.array_value.values[0]
    attribute = _pb_field(1, b"k") + _pb_field(2, value)
    span = (
        _pb_field(1, b"\x01" * 16) + _pb_field(2, b"\x02" * 8) + _pb_field(5, b"s") + _pb_field(9, attribute)
    )
    return _pb_field(1, _pb_field(2, _pb_field(2, span)))


def test_otlp_json_and_protobuf_nesting_is_bounded(app):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            pb = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": "0"}
            shallow = await c.post("/v1/traces", content=_otlp_protobuf(3), headers=pb)
            deep = await c.post("/v1/traces", content=_otlp_protobuf(60), headers=pb)
            deeper = await c.post("/v1/traces", content=_otlp_protobuf(3000), headers=pb)
            json_deep = await c.post(
                "/v1/traces", content=b'{"resourceSpans": ' + b"[" * 500 + b"]" * 500 + b"}", headers=JSON
            )
            return shallow, deep, deeper, json_deep

    shallow, *refused = asyncio.run(go())
    assert shallow.status_code == 200, shallow.text
    for resp in refused:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"the limit is {MAX_JSON_DEPTH} levels" in resp.json()["message"]


# ------------------------------------------------------------------ filters on every backend


@pytest.fixture(params=SQL_BACKENDS)
def db_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue(f"{request.param}_uri")


def _refused(fn, *args, **kwargs) -> MltrailException:
    with pytest.raises(MltrailException) as info:
        fn(*args, **kwargs)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE", info.value.message
    assert info.value.get_http_status_code() == 400
    return info.value


def test_run_filters_at_the_limits_run_and_one_more_is_refused(db_uri, tmp_path):
    store = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    exp = store.create_experiment(f"limits-{uuid.uuid4().hex}")
    hit = store.create_run(exp, "u", 0, [], "hit").info.run_id
    miss = store.create_run(exp, "u", 0, [], "miss").info.run_id
    store.log_batch(hit, [Metric("m", 5.0, 0, 0)], [Param("p", "x")], [RunTag("t", "a")])
    store.log_batch(miss, [Metric("m", 0.5, 0, 0)], [Param("p", "y")], [RunTag("t", "b")])

    pool = ["metrics.m > 1", "params.p = 'x'", "tags.t != 'b'", "attributes.run_name = 'hit'"]
    all_of = " AND ".join(pool[i % len(pool)] for i in range(MAX_FILTER_CLAUSES))
    one_of = " OR ".join(["metrics.m > 100"] * (MAX_FILTER_CLAUSES - 1) + ["params.p = 'x'"])
    for text in (all_of, one_of):
        assert [r.info.run_id for r in store.search_runs([exp], text)] == [hit]

    nested = "(" * MAX_FILTER_NESTING + "params.p = 'x'" + ")" * MAX_FILTER_NESTING
    assert [r.info.run_id for r in store.search_runs([exp], nested)] == [hit]
    values = ", ".join(f"'v{i}'" for i in range(MAX_FILTER_VALUES - 1)) + ", 'x'"
    assert [r.info.run_id for r in store.search_runs([exp], f"params.p IN ({values})")] == [hit]

    err = _refused(store.search_runs, [exp], all_of + " AND metrics.m > 1")
    assert f"more than {MAX_FILTER_CLAUSES} clauses; the limit is {MAX_FILTER_CLAUSES}" in err.message
    err = _refused(store.search_runs, [exp], "(" + nested + ")")
    assert f"the limit is {MAX_FILTER_NESTING}" in err.message
    err = _refused(store.search_runs, [exp], f"params.p IN ({values}, 'w')")
    assert f"the limit is {MAX_FILTER_VALUES:,}" in err.message
    err = _refused(store.search_runs, [exp], "params.p = '" + "x" * MAX_FILTER_LENGTH + "'")
    assert f"the limit is {MAX_FILTER_LENGTH:,}" in err.message
    orders = [f"metrics.k{i}" for i in range(MAX_ORDER_BY_CLAUSES)]
    assert len(store.search_runs([exp], None, order_by=orders)) == 2
    err = _refused(store.search_runs, [exp], None, order_by=[*orders, "params.z"])
    assert f"the limit is {MAX_ORDER_BY_CLAUSES}" in err.message
    # Numbers past 64 bits compare instead of overflowing the driver.
    assert (
        store.search_runs([exp], "metrics.m < 99999999999999999999999 AND params.p = 'x'")[0].info.run_id
        == hit
    )
    assert store.search_runs([exp], "attributes.start_time > 99999999999999999999999") == []


def test_experiment_and_registry_filters_at_the_limit(db_uri, tmp_path):
    tag = uuid.uuid4().hex
    store = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    store.create_experiment(f"exp-{tag}")
    text = " AND ".join(
        [f"name = 'exp-{tag}'"] + [f"name != 'other-{i}'" for i in range(MAX_FILTER_CLAUSES - 1)]
    )
    assert [e.name for e in store.search_experiments(filter_string=text)] == [f"exp-{tag}"]
    _refused(store.search_experiments, filter_string=text + " AND name != 'one-more'")
    assert store.search_experiments(filter_string="creation_time > 99999999999999999999999") == []

    registry = SqlRegistryStore(db_uri)
    registry.create_registered_model(f"model-{tag}")
    text = " AND ".join(
        [f"name = 'model-{tag}'"] + [f"name != 'm{i}'" for i in range(MAX_FILTER_CLAUSES - 1)]
    )
    assert [m.name for m in registry.search_registered_models(filter_string=text)] == [f"model-{tag}"]
    _refused(registry.search_registered_models, filter_string=text + " AND name != 'one-more'")
    versions = " OR ".join([f"name = 'model-{tag}'"] * MAX_FILTER_CLAUSES)
    assert list(registry.search_model_versions(filter_string=versions)) == []
    _refused(registry.search_model_versions, filter_string=versions + f" OR name = 'model-{tag}'")


# ------------------------------------------------------------------ a live server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("limits"), None, "--request-timeout", "1")
    yield srv
    stop_server(srv)


def _address(server) -> tuple[str, int]:
    host, port = server.url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def _exchange(server, data: bytes = b"", wait: float = 15) -> bytes:
    """Send ``data`` on a fresh connection, then read until the server closes it (or ``wait`` passes)."""
    with socket.create_connection(_address(server), timeout=wait) as sock:
        if data:
            sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            chunks.append(b"<still open>")
        return b"".join(chunks)


def _status_and_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n",  # headers never finish
        b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: localhost\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": ',  # body stops
    ],
    ids=["silent", "partial-head", "partial-body"],
)
def test_half_sent_requests_get_408_and_are_closed(server, sent):
    raw = _exchange(server, sent)
    assert not raw.endswith(b"<still open>"), raw
    status, error = _status_and_error(raw)
    assert status == 408
    assert error["error_code"] == "BAD_REQUEST"
    assert "1 second (--request-timeout)" in error["message"]


def test_a_slow_but_moving_body_is_not_cut_off(server):
    body = f'{{"name": "slow-{uuid.uuid4().hex}"}}'.encode()
    head = (
        b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(_address(server), timeout=15) as sock:
        sock.sendall(head)
        for i in range(0, len(body), 8):  # about 2 s in all, never 1 s of silence
            sock.sendall(body[i : i + 8])
            time.sleep(0.3)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 200"), raw
    assert b"experiment_id" in raw


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (b"GET /health?q=" + b"a" * (MAX_URL_BYTES + 1) + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (
            b"GET /health HTTP/1.1\r\nHost: localhost\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADER_COUNT + 1))
            + b"\r\n",
            431,
        ),
        (
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: "
            + b"v" * (MAX_HEADER_BYTES + 1)
            + b"\r\n\r\n",
            431,
        ),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
    ],
    ids=["long-url", "many-headers", "huge-header", "garbage"],
)
def test_oversized_or_malformed_request_heads_get_4xx_json(server, sent, status):
    got, error = _status_and_error(_exchange(server, sent))
    assert got == status
    assert error["error_code"] == "BAD_REQUEST"
    assert error["message"]


def test_an_upgrade_request_is_answered_as_plain_http_and_the_connection_closed(server):
    # No route speaks WebSocket: the server ignores the Upgrade header (RFC 9110 allows it),
    # answers the request itself, and closes the connection its parser can read no further.
    raw = _exchange(
        server,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert not raw.endswith(b"<still open>"), raw
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw
    assert b"connection: close" in head.lower()
    assert body == b"OK"
    # The server goes on serving other connections.
    assert _exchange(
        server, b"GET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    ).startswith(b"HTTP/1.1 200")


def test_the_server_keeps_serving_and_big_queries_under_the_limit_work(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/health").status_code == 200
    # A query string near the server's URL limit is an ordinary request.
    query = b"filter=name%3D%27" + b"x" * (MAX_URL_BYTES - 1000) + b"%27"
    raw = _exchange(
        server,
        b"GET /api/2.0/mlflow/registered-models/search?"
        + query
        + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    assert raw.endswith(b'{"registered_models":[]}')


def test_search_limits_over_http(server):
    pages = {
        "/api/2.0/mlflow/runs/search": {"experiment_ids": ["0"]},
        "/api/2.0/mlflow/experiments/search": {},
        "/api/3.0/mlflow/traces/search": {"locations": EXPERIMENT_LOCATION},
        "/api/2.0/mlflow/logged-models/search": {"experiment_ids": ["0"]},
    }
    over = " AND ".join(["tags.t = 'x'"] * (MAX_FILTER_CLAUSES + 1))
    at = " AND ".join(["tags.t = 'x'"] * MAX_FILTER_CLAUSES)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for path, base in pages.items():
            ok = c.post(path, json={**base, "filter": at})
            assert ok.status_code == 200, (path, ok.text)
            resp = c.post(path, json={**base, "filter": over})
            assert resp.status_code == 400, (path, resp.text)
            assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert f"the limit is {MAX_FILTER_CLAUSES}" in resp.json()["message"], path
            resp = c.post(path, json={**base, "page_token": "garbage!"})
            assert resp.status_code == 400, (path, resp.text)
            assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        for path, body in [
            ("/api/2.0/mlflow/runs/create", {"experiment_id": "0", "start_time": 10**23}),
            ("/api/2.0/mlflow/runs/search", {"experiment_ids": [str(10**23)]}),
            ("/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "max_results": 50_001}),
            (
                "/api/2.0/mlflow/experiments/search",
                {"filter": f"experiment_id = '{10**23}'", "max_results": 0},
            ),
        ]:
            resp = c.post(path, json=body)
            assert resp.status_code == 400, (path, body, resp.text)
            assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------------ NUL characters


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_nul_characters_are_a_400_on_every_backend(request, tmp_path, backend):
    uri = (
        f"sqlite:///{tmp_path / 'db.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_uri")
    )
    app = create_app(ServerConfig(backend_store_uri=uri, artifacts_destination=str(tmp_path / "art")))

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            api = "/api/2.0/mlflow"
            name = f"nul-{uuid.uuid4().hex}"
            exp = (await c.post(f"{api}/experiments/create", json={"name": name})).json()["experiment_id"]
            run = (await c.post(f"{api}/runs/create", json={"experiment_id": exp})).json()["run"]["info"][
                "run_id"
            ]
            answers = [
                await c.post(f"{api}/experiments/create", json={"name": "a\x00b"}),
                await c.post(
                    f"{api}/runs/log-parameter", json={"run_id": run, "key": "k", "value": "a\x00b"}
                ),
                await c.post(f"{api}/runs/set-tag", json={"run_id": run, "key": "k", "value": "\x00"}),
                await c.post(
                    f"{api}/runs/search", json={"experiment_ids": [exp], "filter": "params.k = '\x00'"}
                ),
                await c.get(f"{api}/runs/get", params={"run_id": "a\x00b"}),
                await c.get(f"{api}/experiments/get-by-name", params={"experiment_name": "a\x00"}),
                await c.post("/v1/traces", content=b'{"resourceSpans": [], "x": "\\u0000"}', headers=JSON),
            ]
            # A backslash before "u0000" is text, not NUL: stored as given.
            text = await c.post(f"{api}/runs/set-tag", json={"run_id": run, "key": "t", "value": "\\u0000"})
            run_json = (await c.get(f"{api}/runs/get", params={"run_id": run})).json()
            return answers, text, run_json

    answers, text, run_json = asyncio.run(go())
    for resp in answers:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "NUL character" in resp.json()["message"]
    assert text.status_code == 200, text.text
    data = run_json["run"]["data"]
    assert "params" not in data or not data["params"]
    assert {t["key"]: t["value"] for t in data["tags"]}["t"] == "\\u0000"


def test_id_lists_past_the_limit_are_a_400_not_a_driver_error(db_uri, tmp_path):
    from mltrail.search.limits import MAX_IDS_PER_REQUEST
    from mltrail.store.sql.traces import SqlTraceStore

    store = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    exp = store.create_experiment(f"ids-{uuid.uuid4().hex}")
    ids = [exp] + [str(10**9 + i) for i in range(MAX_IDS_PER_REQUEST - 1)]
    assert store.search_runs(ids, None) == []
    err = _refused(store.search_runs, [*ids, "1"], None)
    assert f"the limit is {MAX_IDS_PER_REQUEST:,}" in err.message
    traces = SqlTraceStore(db_uri)
    assert traces.search_traces(ids)[0] == []
    _refused(traces.search_traces, [*ids, "1"])
    _refused(traces.delete_traces, exp, trace_ids=[f"tr-{i}" for i in range(MAX_IDS_PER_REQUEST + 1)])


def test_lone_surrogates_are_malformed_json_not_a_500(app):
    span = (
        b'{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", '
        b'"name": "s\\ud800", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}'
    )
    otlp = b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + b"]}]}]}"

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            bad = [
                await c.post("/v1/traces", content=otlp, headers=JSON),
                await c.post(
                    "/api/2.0/mlflow/experiments/create", content=b'{"name": "a\\udfff"}', headers=JSON
                ),
            ]
            good = await c.post(
                "/v1/traces",
                content=otlp.replace(b"\\ud800", b""),
                headers={**JSON, "x-mlflow-experiment-id": "0"},
            )
            return bad, good

    bad, good = asyncio.run(go())
    for resp in bad:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_control_characters_in_path_parameters_are_refused_before_permission_lookups(
    request, tmp_path, backend
):
    """With logins on, the permission rule looks a trace or model up by its path id: a NUL must
    never reach the database there (PostgreSQL answers a driver error), whatever the route."""
    uri = None if backend == "sqlite" else request.getfixturevalue("postgres_uri")
    with (
        basic_auth_server(tmp_path / "server", users=(), backend=uri) as server,
        httpx.Client(base_url=server.url, auth=(ADMIN, ADMIN_PASSWORD), timeout=30) as c,
    ):
        for url in (
            "/api/3.0/mlflow/traces/tr-%00x",
            "/api/3.0/mlflow/traces/tr-a%01b/info",
            "/api/2.0/mlflow/logged-models/m-%00x",
            "/api/3.0/mlflow/traces/tr-x/assessments/a-%00",
        ):
            resp = c.get(url)
            assert resp.status_code == 400, (url, resp.status_code, resp.text)
            assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert "control characters" in resp.json()["message"].lower()
