"""Authorization over a live ``mltrail server --app-name basic-auth``: every route family checks.

One server per module (default permission NO_PERMISSIONS), users alice, bob and
carol made by the admin; each test creates its own resources. Alice's resources
are hers (creator gets MANAGE); bob sees nothing of them until granted, then
exactly what the grant allows.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.live_server import LiveServer

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
UI = "/ajax-api/mltrail"


def _start(root: Path, default_permission: str) -> AbstractContextManager[LiveServer]:
    """The module's server (``support.basic_auth``): users alice, bob and carol, proxied artifacts."""
    return basic_auth_server(
        root, "--artifacts-destination", str(root / "artifacts"),
        users=("alice", "bob", "carol"), default_permission=default_permission,
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with _start(tmp_path_factory.mktemp("auth-rules"), "NO_PERMISSIONS") as live:
        yield live


def _client(server: LiveServer, user: str) -> Iterator[httpx.Client]:
    password = ADMIN_PASSWORD if user == ADMIN else PASSWORD
    with httpx.Client(base_url=server.url, auth=(user, password), timeout=30) as client:
        yield client


@pytest.fixture
def alice(server) -> Iterator[httpx.Client]:
    yield from _client(server, "alice")


@pytest.fixture
def bob(server) -> Iterator[httpx.Client]:
    yield from _client(server, "bob")


@pytest.fixture
def carol(server) -> Iterator[httpx.Client]:
    yield from _client(server, "carol")


@pytest.fixture
def admin(server) -> Iterator[httpx.Client]:
    yield from _client(server, ADMIN)


def _ok(r: httpx.Response) -> dict:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else {}


def _denied(r: httpx.Response) -> None:
    assert r.status_code == 403, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert r.json() == {"error_code": "PERMISSION_DENIED", "message": "Permission denied"}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _experiment(client: httpx.Client) -> str:
    return _ok(client.post(f"{API}/experiments/create", json={"name": _unique("exp")}))["experiment_id"]


def _run(client: httpx.Client, exp_id: str) -> str:
    return _ok(client.post(f"{API}/runs/create", json={"experiment_id": exp_id}))["run"]["info"]["run_id"]


def _grant_experiment(granter: httpx.Client, exp_id: str, user: str, permission: str) -> None:
    body = {"experiment_id": exp_id, "username": user, "permission": permission}
    r = granter.post(f"{API}/experiments/permissions/create", json=body)
    if r.status_code != 200:  # already granted: change it
        r = granter.patch(f"{API}/experiments/permissions/update", json=body)
    _ok(r)


def _grant_model(granter: httpx.Client, name: str, user: str, permission: str) -> None:
    body = {"name": name, "username": user, "permission": permission}
    r = granter.post(f"{API}/registered-models/permissions/create", json=body)
    if r.status_code != 200:
        r = granter.patch(f"{API}/registered-models/permissions/update", json=body)
    _ok(r)


# ---------------------------------------------------------------- coverage of the route table


def test_every_endpoint_and_ui_route_has_a_rule():
    from mltrail.protocol.ui import UI
    from mltrail.server.app import collect_endpoints
    from mltrail.server.auth.rules import declared_rule
    from mltrail.server.auth.ui_rules import UI_API_PREFIX
    from mltrail.server.config import ServerConfig
    from mltrail.ui.routes import ui_routes

    endpoints = collect_endpoints(ServerConfig(app_name="basic-auth"))
    assert len(endpoints) > 80
    gaps = [f"{m} {ep.openapi_path}" for ep in endpoints for m in ep.methods if declared_rule(ep, m) is None]
    assert gaps == [], "endpoints without an authorization rule (add them to server/auth/rules.py)"
    # The UI's JSON routes are table rows (checked above), not plain routes that could skip a rule.
    assert {r.name for r in UI} <= {ep.name for ep in endpoints}
    assert not [r for r in ui_routes() if r.path.startswith(UI_API_PREFIX)]


def test_without_auth_the_ui_hears_that_auth_is_off(tmp_path):
    import asyncio

    from mltrail.server.app import create_app
    from mltrail.server.config import ServerConfig

    app = create_app(ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert app.state.auth is None

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(f"{UI}/auth/me")

    assert _ok(asyncio.run(ask())) == {"user": None, "auth": False}


# ---------------------------------------------------------------- tracking REST


def test_experiment_and_runs_need_grants(alice, bob):
    exp = _experiment(alice)
    run = _run(alice, exp)
    _ok(alice.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1}))
    name = _ok(alice.get(f"{API}/experiments/get", params={"experiment_id": exp}))["experiment"]["name"]

    # NO_PERMISSIONS by default: bob can neither read nor write alice's experiment.
    _denied(bob.get(f"{API}/experiments/get", params={"experiment_id": exp}))
    _denied(bob.get(f"{API}/experiments/get-by-name", params={"experiment_name": name}))
    _denied(bob.post(f"{API}/runs/create", json={"experiment_id": exp}))
    _denied(bob.get(f"{API}/runs/get", params={"run_id": run}))
    _denied(bob.get(f"{API}/metrics/get-history", params={"run_id": run, "metric_key": "m"}))
    _denied(bob.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 2, "timestamp": 2}))
    _denied(bob.post(f"{API}/runs/log-batch", json={"run_id": run, "params": [{"key": "p", "value": "v"}]}))
    _denied(bob.post(f"{API}/experiments/delete", json={"experiment_id": exp}))
    assert _ok(bob.post(f"{API}/runs/search", json={"experiment_ids": [exp]})).get("runs", []) == []
    ids = [
        e["experiment_id"] for e in _ok(bob.post(f"{API}/experiments/search", json={})).get("experiments", [])
    ]
    assert exp not in ids

    # READ: reads pass, writes do not.
    _grant_experiment(alice, exp, "bob", "READ")
    _ok(bob.get(f"{API}/experiments/get", params={"experiment_id": exp}))
    assert _ok(bob.get(f"{API}/runs/get", params={"run_id": run}))["run"]["data"]["metrics"][0]["value"] == 1
    assert [
        r["info"]["run_id"]
        for r in _ok(bob.post(f"{API}/runs/search", json={"experiment_ids": [exp]}))["runs"]
    ] == [run]
    _denied(bob.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 2, "timestamp": 2}))
    _denied(bob.post(f"{API}/runs/set-tag", json={"run_id": run, "key": "k", "value": "v"}))

    # EDIT: logging passes, deleting does not.
    _grant_experiment(alice, exp, "bob", "EDIT")
    _ok(bob.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 2, "timestamp": 2}))
    _ok(bob.post(f"{API}/runs/create", json={"experiment_id": exp}))
    _denied(bob.post(f"{API}/runs/delete", json={"run_id": run}))
    _denied(bob.post(f"{API}/experiments/delete", json={"experiment_id": exp}))
    # ... and EDIT cannot hand out permissions.
    r = bob.post(f"{API}/experiments/permissions/create", json={"experiment_id": exp, "username": "carol",
                                                                "permission": "READ"})  # fmt: skip
    assert r.status_code == 403, r.text
    # The run was not changed by any refused call.
    history = _ok(alice.get(f"{API}/metrics/get-history", params={"run_id": run, "metric_key": "m"}))[
        "metrics"
    ]
    assert sorted(m["value"] for m in history) == [1, 2]
    assert "k" not in {
        t["key"]
        for t in _ok(alice.get(f"{API}/runs/get", params={"run_id": run}))["run"]["data"].get("tags", [])
    }


def test_creator_manages_and_manage_can_grant(alice, bob, carol):
    exp = _experiment(alice)
    _grant_experiment(alice, exp, "bob", "MANAGE")  # alice may grant: she created it
    _grant_experiment(bob, exp, "carol", "READ")  # and MANAGE may grant on
    _ok(carol.get(f"{API}/experiments/get", params={"experiment_id": exp}))
    _denied(carol.post(f"{API}/experiments/update", json={"experiment_id": exp, "new_name": _unique("x")}))
    _ok(bob.post(f"{API}/experiments/delete", json={"experiment_id": exp}))


def test_admin_sees_and_does_everything(alice, admin):
    exp = _experiment(alice)
    run = _run(alice, exp)
    _ok(admin.get(f"{API}/runs/get", params={"run_id": run}))
    listed = _ok(admin.post(f"{API}/experiments/search", json={"max_results": 1000}))["experiments"]
    assert exp in {e["experiment_id"] for e in listed}
    _ok(admin.post(f"{API}/experiments/delete", json={"experiment_id": exp}))


def test_experiment_search_pages_are_full(admin, bob):
    tag = _unique("page")
    exps = [_ok(admin.post(f"{API}/experiments/create", json={"name": f"{tag}-{i}"}))["experiment_id"]
            for i in range(9)]  # fmt: skip
    readable = [exps[1], exps[4], exps[5], exps[8]]
    for exp in readable:
        _grant_experiment(admin, exp, "bob", "READ")
    seen, token, sizes = [], None, []
    while True:
        body = {"max_results": 3, "filter": f"name LIKE '{tag}-%'", "order_by": ["name ASC"]}
        if token:
            body["page_token"] = token
        page = _ok(bob.post(f"{API}/experiments/search", json=body))
        sizes.append(len(page.get("experiments", [])))
        seen += [e["experiment_id"] for e in page.get("experiments", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == readable
    assert sizes[0] == 3 and sum(sizes) == 4
    everything = _ok(admin.post(f"{API}/experiments/search", json={"filter": f"name LIKE '{tag}-%'"}))
    assert len(everything["experiments"]) == 9


def test_default_read_server_lets_everyone_read_but_not_write(tmp_path):
    with (
        _start(tmp_path, "READ") as live,
        httpx.Client(base_url=live.url, auth=("alice", PASSWORD)) as a,
        httpx.Client(base_url=live.url, auth=("bob", PASSWORD)) as b,
    ):
        exp = _experiment(a)
        run = _run(a, exp)
        _ok(b.get(f"{API}/runs/get", params={"run_id": run}))
        assert exp in {
            e["experiment_id"] for e in _ok(b.post(f"{API}/experiments/search", json={}))["experiments"]
        }
        _denied(
            b.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1})
        )
        _denied(b.post(f"{API}/experiments/delete", json={"experiment_id": exp}))
        # An explicit NO_PERMISSIONS takes it away again, however the id is spelled.
        _grant_experiment(a, exp, "bob", "NO_PERMISSIONS")
        for spelled in (exp, f"0{exp}", f" {exp}"):
            _denied(b.get(f"{API}/experiments/get", params={"experiment_id": spelled}))
            assert _ok(b.post(f"{API}/runs/search", json={"experiment_ids": [spelled]})).get("runs", []) == []
        assert exp not in {
            e["experiment_id"] for e in _ok(b.post(f"{API}/experiments/search", json={}))["experiments"]
        }


@pytest.mark.parametrize(
    ("table", "create", "exists"),
    [
        ("experiment_permissions", "experiments/create", "experiments/get-by-name"),
        ("registered_model_permissions", "registered-models/create", "registered-models/get"),
    ],
)
def test_failed_creator_grant_undoes_the_create(server, alice, admin, table, create, exists):
    """If the creator's MANAGE cannot be written, the new resource is not left behind without it."""
    db = sqlite3.connect(server.root / "basic_auth.db")
    name = _unique("undo")
    key = "experiment_name" if create.startswith("experiments") else "name"
    db.execute(f"CREATE TRIGGER refuse_grants BEFORE INSERT ON {table} "
               "BEGIN SELECT RAISE(ABORT, 'grants refused by the test'); END")  # fmt: skip
    db.commit()
    try:
        r = alice.post(f"{API}/{create}", json={"name": name})
        assert r.status_code == 503, r.text
        assert r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert admin.get(f"{API}/{exists}", params={key: name}).status_code == 404
    finally:
        db.execute("DROP TRIGGER refuse_grants")
        db.commit()
        db.close()
    _ok(alice.post(f"{API}/{create}", json={"name": name}))  # the name is free again; MANAGE this time
    if create.startswith("experiments"):
        exp = _ok(alice.get(f"{API}/{exists}", params={key: name}))["experiment"]["experiment_id"]
        _ok(alice.post(f"{API}/experiments/delete", json={"experiment_id": exp}))
    else:
        _ok(alice.request("DELETE", f"{API}/registered-models/delete", json={"name": name}))


def test_failed_permission_move_undoes_the_rename(server, alice, admin):
    name, new = _unique("model"), _unique("renamed")
    _ok(alice.post(f"{API}/registered-models/create", json={"name": name}))
    db = sqlite3.connect(server.root / "basic_auth.db")
    db.execute("CREATE TRIGGER refuse_moves BEFORE UPDATE ON registered_model_permissions "
               "BEGIN SELECT RAISE(ABORT, 'moves refused by the test'); END")  # fmt: skip
    db.commit()
    try:
        r = alice.post(f"{API}/registered-models/rename", json={"name": name, "new_name": new})
        assert r.status_code == 503, r.text
    finally:
        db.execute("DROP TRIGGER refuse_moves")
        db.commit()
        db.close()
    _ok(alice.get(f"{API}/registered-models/get", params={"name": name}))  # still under its old name
    assert admin.get(f"{API}/registered-models/get", params={"name": new}).status_code == 404
    _ok(alice.request("DELETE", f"{API}/registered-models/delete", json={"name": name}))  # and still hers


# ---------------------------------------------------------------- registry and prompts


def _model(client: httpx.Client, prompt: bool = False) -> str:
    name = _unique("prompt" if prompt else "model")
    tags = [{"key": "mlflow.prompt.is_prompt", "value": "true"}] if prompt else []
    return _ok(client.post(f"{API}/registered-models/create", json={"name": name, "tags": tags}))[
        "registered_model"
    ]["name"]


def test_registered_models_follow_grants_renames_and_deletes(alice, bob, carol):
    name = _model(alice)
    _denied(bob.get(f"{API}/registered-models/get", params={"name": name}))
    _denied(bob.post(f"{API}/model-versions/create", json={"name": name, "source": "models:/x/1"}))
    found = _ok(bob.get(f"{API}/registered-models/search", params={"filter": f"name = '{name}'"}))
    assert found.get("registered_models", []) == []

    _grant_model(alice, name, "bob", "READ")
    _ok(bob.get(f"{API}/registered-models/get", params={"name": name}))
    _denied(bob.post(f"{API}/registered-models/rename", json={"name": name, "new_name": _unique("b")}))
    _denied(bob.request("DELETE", f"{API}/registered-models/delete", json={"name": name}))

    new = _unique("renamed")
    _ok(alice.post(f"{API}/registered-models/rename", json={"name": name, "new_name": new}))
    _ok(bob.get(f"{API}/registered-models/get", params={"name": new}))  # bob's READ followed the rename
    _ok(alice.request("DELETE", f"{API}/registered-models/delete", json={"name": new}))
    # A new model under the old name inherits nobody's grants.
    _ok(carol.post(f"{API}/registered-models/create", json={"name": new}))
    _denied(bob.get(f"{API}/registered-models/get", params={"name": new}))


def test_model_version_sources_must_be_readable(alice, bob):
    """EDIT on one's own model does not let a user register files of a run they cannot read."""
    exp = _experiment(alice)
    run = _run(alice, exp)
    _ok(alice.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/model/MLmodel", content=b"flavors: {}"))
    mine = _model(bob)
    body = {"name": mine, "source": f"runs:/{run}/model", "run_id": run}
    _denied(bob.post(f"{API}/model-versions/create", json=body))
    _denied(bob.post(f"{API}/model-versions/create", json={"name": mine, "source": f"runs:/{run}/model"}))
    proxied = f"mlflow-artifacts:/{exp}/{run}/artifacts/model"
    _denied(bob.post(f"{API}/model-versions/create", json={"name": mine, "source": proxied}))
    logged = _ok(alice.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "m"}))["model"][
        "info"
    ]
    _denied(
        bob.post(
            f"{API}/model-versions/create", json={"name": mine, "source": f"models:/{logged['model_id']}"}
        )
    )
    _denied(bob.post(f"{API}/logged-models", json={"experiment_id": _experiment(bob), "source_run_id": run}))
    _grant_experiment(alice, exp, "bob", "READ")
    _ok(bob.post(f"{API}/model-versions/create", json=body))


def test_model_and_prompt_searches_show_only_readable(admin, bob):
    models = [_model(admin) for _ in range(6)]
    readable = [models[0], models[3], models[4]]
    prompts = [_model(admin, prompt=True) for _ in range(3)]
    for name in [*readable, prompts[1]]:
        _grant_model(admin, name, "bob", "READ")
    got, token = [], None
    while True:
        params = {"max_results": 2, **({"page_token": token} if token else {})}
        page = _ok(bob.get(f"{API}/registered-models/search", params=params))
        got += [m["name"] for m in page.get("registered_models", [])]
        if page.get("next_page_token"):
            assert len(page["registered_models"]) == 2  # no short page before the end
        token = page.get("next_page_token")
        if not token:
            break
    assert [m for m in got if m in models] == sorted(readable)  # readable ones only, none skipped
    prompt_filter = {"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"}
    found = _ok(bob.get(f"{API}/registered-models/search", params=prompt_filter))["registered_models"]
    assert {m["name"] for m in found} & set(prompts) == {prompts[1]}
    versions = _ok(bob.get(f"{API}/model-versions/search", params={"filter": f"name = '{models[1]}'"}))
    assert versions.get("model_versions", []) == []


# ---------------------------------------------------------------- artifacts


def test_artifact_proxy_and_multipart_follow_the_experiment(server, alice, bob):
    exp = _experiment(alice)
    run = _run(alice, exp)
    path = f"{exp}/{run}/artifacts/hello.txt"
    _ok(alice.put(f"{ARTIFACTS}/{path}", content=b"hi"))
    _denied(bob.get(f"{ARTIFACTS}/{path}"))
    _denied(bob.get(ARTIFACTS, params={"path": f"{exp}/{run}/artifacts"}))
    _denied(bob.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/evil.txt", content=b"x" * 1000))
    _denied(
        bob.post(
            f"/api/2.0/mlflow-artifacts/mpu/create/{exp}/{run}/artifacts",
            json={"path": "big.bin", "num_parts": 2},
        )
    )
    _denied(bob.get(f"{API}/artifacts/list", params={"run_id": run}))
    _denied(bob.get("/get-artifact", params={"run_id": run, "path": "hello.txt"}))
    assert not (server.root / "artifacts" / exp / run / "artifacts" / "evil.txt").exists()

    _grant_experiment(alice, exp, "bob", "READ")
    assert bob.get(f"{ARTIFACTS}/{path}").content == b"hi"
    assert bob.get("/get-artifact", params={"run_id": run, "path": "hello.txt"}).content == b"hi"
    _denied(bob.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/evil.txt", content=b"x"))
    _grant_experiment(alice, exp, "bob", "EDIT")
    _ok(bob.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/ok.txt", content=b"ok"))
    _denied(
        bob.delete(f"{ARTIFACTS}/{exp}/{run}/artifacts/ok.txt")
    )  # deleting artifacts needs MANAGE (MLflow)


def test_artifacts_outside_experiments_use_the_default_permission(alice, admin):
    _denied(alice.put(f"{ARTIFACTS}/loose/file.txt", content=b"x"))
    _ok(admin.put(f"{ARTIFACTS}/loose/file.txt", content=b"x"))


# ---------------------------------------------------------------- traces and OTLP


def _otlp(client: httpx.Client, exp: str) -> httpx.Response:
    trace_id = base64.b64encode(uuid.uuid4().bytes).decode()
    span_id = base64.b64encode(uuid.uuid4().bytes[:8]).decode()
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": trace_id, "spanId": span_id, "name": "root",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
    }]}]}]}  # fmt: skip
    return client.post("/v1/traces", json=body, headers={"x-mlflow-experiment-id": exp})


def test_traces_and_otlp(alice, bob):
    exp = _experiment(alice)
    _ok(_otlp(alice, exp))
    _denied(_otlp(bob, exp))
    search = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]}
    traces = _ok(alice.post("/api/3.0/mlflow/traces/search", json=search))["traces"]
    assert len(traces) == 1
    trace_id = traces[0]["trace_id"]
    _denied(bob.post("/api/3.0/mlflow/traces/search", json=search))
    _denied(bob.get(f"/api/3.0/mlflow/traces/{trace_id}"))
    _denied(bob.patch(f"/api/3.0/mlflow/traces/{trace_id}/tags", json={"key": "k", "value": "v"}))
    _denied(bob.post("/api/3.0/mlflow/traces/delete-traces", json={"experiment_id": exp, "max_traces": 10}))
    _grant_experiment(alice, exp, "bob", "READ")
    assert len(_ok(bob.post("/api/3.0/mlflow/traces/search", json=search))["traces"]) == 1
    _ok(bob.get(f"/api/3.0/mlflow/traces/{trace_id}"))
    _denied(bob.patch(f"/api/3.0/mlflow/traces/{trace_id}/tags", json={"key": "k", "value": "v"}))


# ---------------------------------------------------------------- logged models


def test_logged_models(alice, bob):
    exp = _experiment(alice)
    model = _ok(alice.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "m"}))["model"]
    model_id = model["info"]["model_id"]
    _denied(bob.get(f"{API}/logged-models/{model_id}"))
    _denied(bob.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "intruder"}))
    _denied(bob.request("DELETE", f"{API}/logged-models/{model_id}"))
    found = _ok(bob.post(f"{API}/logged-models/search", json={"experiment_ids": [exp]}))
    assert found.get("models", []) == []
    _grant_experiment(alice, exp, "bob", "EDIT")
    _ok(bob.get(f"{API}/logged-models/{model_id}"))
    _ok(bob.patch(f"{API}/logged-models/{model_id}/tags", json={"tags": [{"key": "k", "value": "v"}]}))
    _denied(bob.request("DELETE", f"{API}/logged-models/{model_id}"))
    assert len(_ok(bob.post(f"{API}/logged-models/search", json={"experiment_ids": [exp]}))["models"]) == 1


# ---------------------------------------------------------------- the UI's own JSON, events and export


def test_ui_routes_check_the_run_and_experiment(alice, bob):
    exp = _experiment(alice)
    run = _run(alice, exp)
    _ok(alice.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "m", "value": 1, "timestamp": 1}))
    _ok(alice.get(f"{UI}/metrics/history", params={"run_id": run, "key": "m"}))
    _denied(bob.get(f"{UI}/metrics/history", params={"run_id": run, "key": "m"}))
    _denied(bob.get(f"{UI}/runs/{run}/events"))
    _denied(bob.get(f"{UI}/experiments/columns", params={"experiment_ids": exp}))
    _denied(bob.get(f"{UI}/runs/export.csv", params={"experiment_ids": exp}))
    _denied(bob.get(f"{UI}/metrics/history-bulk", params={"run_ids": run, "key": "m"}))
    assert exp in _ok(alice.get(f"{UI}/experiments/summary"))["experiments"]
    assert exp not in _ok(bob.get(f"{UI}/experiments/summary"))["experiments"]  # the list leaves it out
    assert run in alice.get(f"{UI}/runs/export.csv", params={"experiment_ids": exp}).text
    me = _ok(bob.get(f"{UI}/auth/me", params={"experiment_ids": exp, "run_ids": run}))
    assert me["user"] == {"username": "bob", "is_admin": False}
    assert me["experiments"][exp]["can_read"] is False and me["runs"][run]["can_read"] is False
    _grant_experiment(alice, exp, "bob", "READ")
    _ok(bob.get(f"{UI}/metrics/history", params={"run_id": run, "key": "m"}))
    with bob.stream("GET", f"{UI}/runs/{run}/events") as events:
        assert events.status_code == 200
    mine = _ok(bob.get(f"{UI}/auth/me", params={"experiment_ids": exp}))["experiments"][exp]
    assert mine["can_read"] is True and mine["can_delete"] is False


def test_official_mlflow_client(server, alice, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    exp = _experiment(alice)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    client = MlflowClient(server.url)
    with pytest.raises(MlflowException, match="Permission denied"):
        client.get_experiment(exp)
    own = client.create_experiment(_unique("bobs"))
    run = client.create_run(own)
    client.log_metric(run.info.run_id, "m", 1.0)
    assert own in {e.experiment_id for e in client.search_experiments()}
    assert exp not in {e.experiment_id for e in client.search_experiments()}
