"""``mltrail server --app-name basic-auth``: logins, users and permissions, against MLflow's clients.

A live server per module with a config file in ``tmp_path``; the official
``mlflow`` 3.17 client (its ``AuthServiceClient`` and the tracking API with
``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN``), mltrail's own auth client,
raw HTTP for MLflow 2.x's permission endpoints, and the auth database on SQLite
(an MLflow-made ``basic_auth.db``) and PostgreSQL.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import mlflow
import mlflow.server
import pytest
import sqlalchemy as sa
from mlflow.exceptions import MlflowException
from werkzeug.security import generate_password_hash

import mltrail.server
from mltrail.exceptions import MltrailException
from support.live_server import LiveServer, server_env, start_server, stop_server

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-123"


def write_config(root: Path, database_uri: str, **extra: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "basic_auth.ini"
    lines = [
        "[mlflow]",
        "default_permission = READ",
        f"database_uri = {database_uri}",
        f"admin_username = {ADMIN}",
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_auth_server(root: Path, database_uri: str) -> LiveServer:
    config = write_config(root, database_uri)
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    return start_server(root, None, "--app-name", "basic-auth", env=env)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    live = start_auth_server(root, f"sqlite:///{root / 'basic_auth.db'}")
    yield live
    stop_server(live)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def http(server: LiveServer, username: str | None = None, password: str | None = None) -> httpx.Client:
    auth = httpx.BasicAuth(username, password) if username is not None else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=30)


@pytest.fixture
def as_user(monkeypatch):
    """Point the official client at a server as a user: ``as_user(server, username, password)``."""

    def use(live: LiveServer, username: str, password: str) -> None:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        mlflow.set_tracking_uri(live.url)

    yield use
    mlflow.set_tracking_uri(None)


@pytest.fixture
def official_admin(server, as_user):
    """The official ``AuthServiceClient`` signed in as the admin."""
    as_user(server, ADMIN, ADMIN_PASSWORD)
    return mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)


def new_user(server: LiveServer, password: str = "user-password-123") -> tuple[str, str]:
    username = name("user")
    with http(server, ADMIN, ADMIN_PASSWORD) as api:
        resp = api.post("/api/2.0/mlflow/users/create", json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
    return username, password


# ---------------------------------------------------------------- authentication
def test_no_credentials_is_401_with_mlflows_challenge(server):
    with http(server) as api:
        for path in ("/api/2.0/mlflow/experiments/search?max_results=1", "/", "/ajax-api/2.0/mlflow/runs/search",
                     "/api/2.0/mlflow-artifacts/artifacts/0/x.txt", "/api/2.0/mlflow/users/current"):  # fmt: skip
            resp = api.get(path)
            assert resp.status_code == 401, path
            assert resp.headers["www-authenticate"] == 'Basic realm="mlflow"'
            assert resp.text.startswith("You are not authenticated.")
        assert api.get("/health").status_code == 200  # MLflow's unprotected routes
        assert api.get("/api/3.0/mlflow/server-info").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Basic " + base64.b64encode(f"{ADMIN}:wrong-password".encode()).decode(),
     "Basic " + base64.b64encode(b"nobody:whatever-password").decode(),
     "Basic not-base64!", "Bearer not-a-token", "Digest abc"],
)  # fmt: skip
def test_wrong_credentials_are_401(server, header):
    with http(server) as api:
        resp = api.get(
            "/api/2.0/mlflow/experiments/search", params={"max_results": 1}, headers={"Authorization": header}
        )
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Basic realm="mlflow"'


def test_admin_is_created_from_the_configured_password(server):
    with http(server, ADMIN, ADMIN_PASSWORD) as api:
        resp = api.get("/api/2.0/mlflow/users/current")
    assert resp.status_code == 200
    assert resp.json() == {"user": {"id": 1, "username": ADMIN, "is_admin": True}, "is_basic_auth": True}


# ---------------------------------------------------------------- users, with the official client
def test_official_auth_client_manages_users(server, official_admin):
    username = name("alice")
    user = official_admin.create_user(username, "alice-password-1")
    assert (user.username, user.is_admin, user.password_hash) == (username, False, "REDACTED")
    assert official_admin.get_user(username).id == user.id
    with pytest.raises(MlflowException) as err:
        official_admin.create_user(username, "alice-password-1")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as err:
        official_admin.create_user(name("short"), "short")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "at least 12 characters" in err.value.message
    official_admin.update_user_admin(username, True)
    assert official_admin.get_user(username).is_admin is True
    official_admin.delete_user(username)
    with pytest.raises(MlflowException) as err:
        official_admin.get_user(username)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        official_admin.delete_user(ADMIN)  # MLflow 3.17: an admin cannot delete themselves
    assert err.value.error_code == "BAD_REQUEST"


def test_mltrail_auth_client_manages_users(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    client = mltrail.server.get_app_client("basic-auth", tracking_uri=server.url)
    username = name("bob")
    user = client.create_user(username, "bob-password-12")
    assert (user.username, user.is_admin) == (username, False)
    assert client.get_user(username).id == user.id
    assert username in {u.username for u in client.list_users()}
    client.update_user_admin(username, True)
    assert client.get_user(username).is_admin
    client.delete_user(username)
    with pytest.raises(MltrailException) as err:
        client.get_user(username)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MltrailException) as err:
        mltrail.server.get_app_client("no-such-app")
    assert "basic-auth" in err.value.message


def test_user_logs_runs_with_the_official_client(server, as_user, tmp_path):
    username, password = new_user(server)
    as_user(server, username, password)
    experiment_id = mlflow.create_experiment(name("exp"))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("p", "1")
        mlflow.log_metric("m", 0.5)
        mlflow.log_text("hello", "notes/hello.txt")  # through the artifact proxy, with the credentials
    fetched = mlflow.get_run(run.info.run_id)
    assert fetched.data.metrics == {"m": 0.5}
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"


def test_user_logs_runs_with_mltrails_sdk(server, monkeypatch, tmp_path):
    """mltrail's REST client and artifact client send MLFLOW_TRACKING_USERNAME/PASSWORD."""
    import mltrail

    username, password = new_user(server)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = mltrail.MlflowClient(tracking_uri=server.url)
    run = client.create_run(client.create_experiment(name("sdk")))
    client.log_metric(run.info.run_id, "m", 1.5)
    (tmp_path / "a.txt").write_text("hi")
    client.log_artifact(run.info.run_id, str(tmp_path / "a.txt"))
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["a.txt"]
    local = client.download_artifacts(run.info.run_id, "a.txt", str(tmp_path / "down"))
    assert Path(local).read_text() == "hi"


def test_password_change_takes_effect_at_once(server, official_admin):
    username, password = new_user(server)
    with http(server, username, password) as old:
        assert old.get("/api/2.0/mlflow/users/current").status_code == 200  # the credential is now cached
        official_admin.update_user_password(username, "new-password-456")
        assert old.get("/api/2.0/mlflow/users/current").status_code == 401
    with http(server, username, "new-password-456") as new:
        assert new.get("/api/2.0/mlflow/users/current").status_code == 200
        # Self-service, as MLflow 3.17: the current password is required and checked.
        body = {"username": username, "password": "third-password-789"}
        resp = new.patch("/api/2.0/mlflow/users/update-password", json=body)
        assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        resp = new.patch(
            "/api/2.0/mlflow/users/update-password", json={**body, "current_password": "wrong-one-000"}
        )
        assert resp.status_code == 400
        resp = new.patch(
            "/api/2.0/mlflow/users/update-password", json={**body, "current_password": "new-password-456"}
        )
        assert resp.status_code == 200, resp.text
        assert new.get("/api/2.0/mlflow/users/current").status_code == 401
    with http(server, username, "third-password-789") as third:
        assert third.get("/api/2.0/mlflow/users/current").status_code == 200


def test_deleted_user_is_refused_at_once(server, official_admin):
    username, password = new_user(server)
    with http(server, username, password) as api:
        assert api.get("/api/2.0/mlflow/users/current").status_code == 200
        official_admin.delete_user(username)
        assert api.get("/api/2.0/mlflow/users/current").status_code == 401


def test_non_admin_cannot_manage_users(server):
    username, password = new_user(server)
    other, _ = new_user(server)
    with http(server, username, password) as api:
        calls = [
            ("POST", "/api/2.0/mlflow/users/create", {"username": name("x"), "password": "x-password-1234"}),
            ("PATCH", "/api/2.0/mlflow/users/update-admin", {"username": username, "is_admin": True}),
            ("DELETE", "/api/2.0/mlflow/users/delete", {"username": other}),
            (
                "PATCH",
                "/api/2.0/mlflow/users/update-password",
                {"username": other, "password": "hijack-password-1"},
            ),
        ]
        for method, path, body in calls:
            resp = api.request(method, path, json=body)
            assert resp.status_code == 403, (path, resp.text)
            assert resp.json()["error_code"] == "PERMISSION_DENIED"
        assert api.get("/api/2.0/mlflow/users/get", params={"username": other}).status_code == 403
        assert (
            api.get("/api/2.0/mlflow/users/get", params={"username": username}).json()["user"]["username"]
            == username
        )
        assert (
            api.get("/api/3.0/mlflow/users/permissions/list", params={"username": other}).status_code == 403
        )
        mine = api.get("/api/3.0/mlflow/users/current/permissions").json()
        assert mine == {"is_admin": False, "permissions": []}
    with http(server, ADMIN, ADMIN_PASSWORD) as admin:
        assert (
            admin.get("/api/2.0/mlflow/users/get", params={"username": username}).json()["user"]["is_admin"]
            is False
        )
        admin.patch("/api/2.0/mlflow/users/update-admin", json={"username": username, "is_admin": True})
    with http(server, username, password) as api:  # promoted: may now create users, at once
        resp = api.post(
            "/api/2.0/mlflow/users/create", json={"username": name("y"), "password": "y-password-1234"}
        )
        assert resp.status_code == 200


# ---------------------------------------------------------------- permissions, both API families
@pytest.mark.parametrize(
    ("family", "key", "value", "field"),
    [("experiments", "experiment_id", "123", "experiment_permission"),
     ("registered-models", "name", "my-model", "registered_model_permission")],
)  # fmt: skip
def test_mlflow2_permission_endpoints_round_trip(server, family, key, value, field):
    username, _ = new_user(server)
    base = f"/api/2.0/mlflow/{family}/permissions"
    ident = {key: value, "username": username}
    with http(server, ADMIN, ADMIN_PASSWORD) as api:
        resp = api.post(f"{base}/create", json={**ident, "permission": "EDIT"})
        assert resp.status_code == 200, resp.text
        user_id = api.get("/api/2.0/mlflow/users/get", params={"username": username}).json()["user"]["id"]
        assert resp.json() == {field: {key: value, "user_id": user_id, "permission": "EDIT"}}
        resp = api.post(f"{base}/create", json={**ident, "permission": "READ"})
        assert (resp.status_code, resp.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
        assert api.get(f"{base}/get", params=ident).json()[field]["permission"] == "EDIT"
        assert api.patch(f"{base}/update", json={**ident, "permission": "NO_PERMISSIONS"}).status_code == 200
        assert api.get(f"{base}/get", params=ident).json()[field]["permission"] == "NO_PERMISSIONS"
        user = api.get("/api/2.0/mlflow/users/get", params={"username": username}).json()["user"]
        granted = user[f"{field}s"]
        assert granted == [{key: value, "user_id": user_id, "permission": "NO_PERMISSIONS"}]
        resp = api.patch(f"{base}/update", json={**ident, "permission": "SUPERUSER"})
        assert (resp.status_code, resp.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert resp.json()["message"].startswith("Invalid permission 'SUPERUSER'. Valid permissions are:")
        assert api.request("DELETE", f"{base}/delete", json=ident).status_code == 200
        resp = api.get(f"{base}/get", params=ident)
        assert (resp.status_code, resp.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        resp = api.request("DELETE", f"{base}/delete", json=ident)
        assert resp.status_code == 404
        resp = api.post(f"{base}/create", json={**ident, "username": "no-such-user", "permission": "READ"})
        assert resp.status_code == 404


def test_mltrail_client_permissions_and_manage_rule(server, monkeypatch):
    username, password = new_user(server)
    other, _ = new_user(server)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    admin = mltrail.server.get_app_client("basic-auth", tracking_uri=server.url)
    perm = admin.create_experiment_permission("42", username, "MANAGE")
    assert (perm.experiment_id, perm.permission) == ("42", "MANAGE")
    assert admin.get_experiment_permission("42", username).permission == "MANAGE"
    model = admin.create_registered_model_permission("m1", username, "READ")
    assert (model.name, model.permission) == ("m1", "READ")
    admin.update_registered_model_permission("m1", username, "EDIT")
    assert admin.get_registered_model_permission("m1", username).permission == "EDIT"
    # A user with MANAGE on experiment 42 may manage its permissions; with READ (the default) elsewhere, not.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    manager = mltrail.server.get_app_client("basic-auth", tracking_uri=server.url)
    manager.create_experiment_permission("42", other, "READ")
    assert admin.get_experiment_permission("42", other).permission == "READ"
    with pytest.raises(MltrailException) as err:
        manager.create_experiment_permission("43", other, "READ")
    assert err.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MltrailException) as err:
        manager.update_registered_model_permission("m1", other, "MANAGE")  # EDIT is not MANAGE
    assert err.value.error_code == "PERMISSION_DENIED"
    admin.delete_registered_model_permission("m1", username)
    with pytest.raises(MltrailException) as err:
        admin.get_registered_model_permission("m1", username)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_official_client_grant_revoke_get(server, official_admin):
    username, _ = new_user(server)
    official_admin.grant_user_permission(username, "experiment", "7", "EDIT")
    result = official_admin.get_user_permission(username, "experiment", "7")
    assert (result.allowed, result.permission) == (True, "EDIT")
    with pytest.raises(MlflowException) as err:
        official_admin.grant_user_permission(username, "experiment", "7", "READ")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    official_admin.grant_user_permission(username, "registered_model", "m7", "MANAGE")
    assert official_admin.get_user_permission(username, "registered_model", "m7").permission == "MANAGE"
    with http(server, ADMIN, ADMIN_PASSWORD) as api:  # MLflow 3.x's listing, as its UI reads it
        listed = api.get("/api/3.0/mlflow/users/permissions/list", params={"username": username}).json()
    assert listed["is_admin"] is False
    assert {(p["resource_type"], p["resource_pattern"], p["permission"]) for p in listed["permissions"]} == {
        ("experiment", "7", "EDIT"),
        ("registered_model", "m7", "MANAGE"),
    }
    official_admin.revoke_user_permission(username, "experiment", "7")
    result = official_admin.get_user_permission(username, "experiment", "7")
    assert (result.allowed, result.permission) == (False, "READ")  # back to default_permission
    with pytest.raises(MlflowException) as err:
        official_admin.revoke_user_permission(username, "experiment", "7")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    for bad in [("experiment", "8", "NO_PERMISSIONS"), ("bogus", "8", "READ"), ("workspace", "*", "USE")]:
        with pytest.raises(MlflowException) as err:
            official_admin.grant_user_permission(username, *bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", bad
    with pytest.raises(MlflowException) as err:
        official_admin.grant_user_permission(username, "scorer", "1/s", "READ")
    assert err.value.error_code == "NOT_IMPLEMENTED"
    role = official_admin.create_role("default", name("readers"))  # roles: tests/server/test_auth_roles.py
    assert official_admin.get_role(role.id).workspace == "default"


def test_deleting_a_user_removes_their_grants(server, official_admin):
    username, password = new_user(server)
    official_admin.grant_user_permission(username, "experiment", "9", "MANAGE")
    official_admin.delete_user(username)
    official_admin.create_user(username, password)
    assert official_admin.get_user_permission(username, "experiment", "9").permission == "READ"


# ---------------------------------------------------------------- API tokens (Bearer)
def test_bearer_token_with_the_official_client(server, as_user, monkeypatch):
    username, password = new_user(server)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = mltrail.server.get_app_client("basic-auth", tracking_uri=server.url)
    token = client.create_token("ci")
    [record] = client.list_tokens()
    assert record["name"] == "ci" and token not in str(record)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(server.url)
    try:
        experiment_id = mlflow.create_experiment(name("token-exp"))
        assert mlflow.get_experiment(experiment_id).experiment_id == experiment_id
    finally:
        mlflow.set_tracking_uri(None)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/2.0/mlflow/users/current").json()["user"]["username"] == username
        client.delete_token(record["id"])
        assert api.get("/api/2.0/mlflow/users/current").status_code == 401


# ---------------------------------------------------------------- start-up and databases
def test_refuses_to_start_without_an_admin_password(tmp_path):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'auth.db'}")
    cmd = [sys.executable, "-m", "mltrail.cli.main", "server", "--port", "1", "--app-name", "basic-auth",
           "--backend-store-uri", f"sqlite:///{tmp_path / 'm.db'}"]  # fmt: skip
    env = server_env({"MLFLOW_AUTH_CONFIG_PATH": str(config)})
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MLFLOW_AUTH_ADMIN_PASSWORD" in lines[0], proc.stderr


def test_workers_share_the_auth_database(tmp_path):
    """With --workers 2 each worker opens the auth database; with no credential cache
    (auth_cache_ttl_seconds = 0) a password change is refused by every worker at once."""
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'auth.db'}", auth_cache_ttl_seconds="0")
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    live = start_server(tmp_path / "srv", None, "--app-name", "basic-auth", "--workers", "2", env=env)
    try:
        username, password = new_user(live)
        with http(live, ADMIN, ADMIN_PASSWORD) as admin:
            body = {"username": username, "password": "changed-password-1"}
            assert admin.patch("/api/2.0/mlflow/users/update-password", json=body).status_code == 200
        for _ in range(6):  # new connections, spread over both workers
            with http(live, username, password) as api:
                assert api.get("/api/2.0/mlflow/users/current").status_code == 401
            with http(live, username, "changed-password-1") as api:
                assert api.get("/api/2.0/mlflow/users/current").status_code == 200
    finally:
        stop_server(live)


def test_mlflow_basic_auth_db_users_log_in(tmp_path):
    """A ``basic_auth.db`` made by MLflow's own schema, with werkzeug hashes, serves its users."""
    from mlflow.server.auth.db.models import Base

    db = tmp_path / "basic_auth.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    users = {
        "admin": ("admin-password-123", "scrypt", True),
        "pbkdf2-user": ("pbkdf2-password-1", "pbkdf2:sha256:1000", False),
        "scrypt-user": ("scrypt-password-1", "scrypt", False),
    }
    with engine.begin() as conn:
        for username, (password, method, is_admin) in users.items():
            conn.execute(
                sa.text("INSERT INTO users (username, password_hash, is_admin) VALUES (:u, :h, :a)"),
                {"u": username, "h": generate_password_hash(password, method=method), "a": is_admin},
            )
    engine.dispose()
    config = write_config(tmp_path, f"sqlite:///{db}")  # no admin password: the admin exists already
    live = start_server(
        tmp_path / "srv", None, "--app-name", "basic-auth", env={"MLFLOW_AUTH_CONFIG_PATH": str(config)}
    )
    try:
        for username, (password, _, is_admin) in users.items():
            with http(live, username, password) as api:
                resp = api.get("/api/2.0/mlflow/users/current")
                assert resp.status_code == 200, username
                assert resp.json()["user"]["is_admin"] is is_admin
            with http(live, username, password + "x") as api:
                assert api.get("/api/2.0/mlflow/users/current").status_code == 401
    finally:
        stop_server(live)


def test_postgresql_auth_database(tmp_path, postgres_uri, monkeypatch):
    live = start_auth_server(tmp_path, postgres_uri)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        admin = mltrail.server.get_app_client("basic-auth", tracking_uri=live.url)
        username = name("pg")
        admin.create_user(username, "pg-user-password")
        with pytest.raises(MltrailException) as err:
            admin.create_user(username, "pg-user-password")
        assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
        admin.create_experiment_permission("5", username, "EDIT")
        admin.update_experiment_permission("5", username, "MANAGE")
        assert admin.get_experiment_permission("5", username).permission == "MANAGE"
        with http(live, username, "pg-user-password") as api:
            assert api.get("/api/2.0/mlflow/users/current").json()["user"]["username"] == username
        admin.delete_user(username)
        with http(live, username, "pg-user-password") as api:
            assert api.get("/api/2.0/mlflow/users/current").status_code == 401
    finally:
        stop_server(live)


# ---------------------------------------------------------------- human review and workspaces
def test_review_queues_and_workspaces_follow_permissions(server):
    """READ (the default) may read schemas and queues but not change them; a queue's owner is the
    logged-in user; workspaces are read by any user and changed by admins only."""
    reader, reader_password = new_user(server)
    with http(server, ADMIN, ADMIN_PASSWORD) as admin:
        exp = admin.post("/api/2.0/mlflow/experiments/create", json={"name": name("review")}).json()[
            "experiment_id"
        ]
        made = admin.post(
            "/api/3.0/mlflow/label-schemas/create",
            json={"experiment_id": exp, "name": "tone", "type": "FEEDBACK", "input": {"text": {}}},
        )
        assert made.status_code == 200, made.text
        queue = admin.post(
            "/api/3.0/mlflow/review-queues/create",
            json={"experiment_id": exp, "name": "q", "queue_type": "CUSTOM", "created_by": "mallory"},
        ).json()["review_queue"]
        assert queue["created_by"] == ADMIN  # the caller, not the client's value
        ws = name("ws")
        assert admin.post("/api/3.0/mlflow/workspaces", json={"name": ws}).status_code == 201
    with http(server, reader, reader_password) as api:
        assert api.get("/api/3.0/mlflow/label-schemas/list", params={"experiment_id": exp}).status_code == 200
        assert (
            api.get("/api/3.0/mlflow/review-queues/get", params={"queue_id": queue["queue_id"]}).status_code
            == 200
        )
        denied = [
            (
                "POST",
                "/api/3.0/mlflow/label-schemas/create",
                {"experiment_id": exp, "name": "x", "type": "FEEDBACK", "input": {"text": {}}},
            ),
            (
                "DELETE",
                "/api/3.0/mlflow/label-schemas/delete",
                {"schema_id": made.json()["label_schema"]["schema_id"]},
            ),
            ("POST", "/api/3.0/mlflow/review-queues/delete", {"queue_id": queue["queue_id"]}),
            (
                "POST",
                "/api/3.0/mlflow/review-queues/items/set-status",
                {"queue_id": queue["queue_id"], "item_id": "tr-1", "status": "COMPLETE"},
            ),
            ("POST", "/api/3.0/mlflow/workspaces", {"name": name("mine")}),
            ("DELETE", f"/api/3.0/mlflow/workspaces/{ws}", None),
        ]
        for method, path, body in denied:
            resp = api.request(method, path, json=body)
            assert resp.status_code == 403, (path, resp.text)
        assert ws in {w["name"] for w in api.get("/api/3.0/mlflow/workspaces").json()["workspaces"]}
    with http(server) as anonymous:
        assert anonymous.get("/api/3.0/mlflow/workspaces").status_code == 401


def test_workspaces_with_logins(tmp_path, as_user):
    """``--app-name basic-auth --enable-workspaces``: as on MLflow 3.17, an absent grant is a denial
    (``default_permission`` applies only in ``default``, with ``grant_default_workspace_access``),
    only admins create in other workspaces, and explicit grants work inside the workspace."""
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'basic_auth.db'}", grant_default_workspace_access="true")
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    live = start_server(tmp_path, None, "--app-name", "basic-auth", "--enable-workspaces", env=env)
    try:
        user, password = new_user(live)
        as_user(live, ADMIN, ADMIN_PASSWORD)
        client = mlflow.MlflowClient(live.url, registry_uri=live.url)
        mlflow.create_workspace("team-x")
        mlflow.create_workspace("team-y")
        mlflow.set_workspace("team-y")
        client.create_registered_model("model-x")  # the same name as team-x's (names are per workspace)
        mlflow.set_workspace("team-x")
        exp = client.create_experiment("exp-x")
        client.create_registered_model("model-x")
        admin_api = http(live, ADMIN, ADMIN_PASSWORD)
        in_x = {"X-MLFLOW-WORKSPACE": "team-x"}

        as_user(live, user, password)
        client = mlflow.MlflowClient(live.url, registry_uri=live.url)
        assert client.search_experiments() == []
        assert client.search_registered_models() == []
        for denied in (
            lambda: client.get_experiment(exp),
            lambda: client.get_registered_model("model-x"),
            lambda: client.create_experiment("mine"),
            lambda: client.create_registered_model("mine"),
        ):
            with pytest.raises(MlflowException) as caught:
                denied()
            assert caught.value.error_code == "PERMISSION_DENIED"

        grant = {"experiment_id": exp, "username": user, "permission": "READ"}
        resp = admin_api.post("/api/2.0/mlflow/experiments/permissions/create", json=grant, headers=in_x)
        assert resp.status_code == 200, resp.text
        assert client.get_experiment(exp).name == "exp-x"
        assert [e.name for e in client.search_experiments()] == ["exp-x"]
        with pytest.raises(MlflowException) as caught:
            client.set_experiment_tag(exp, "k", "v")
        assert caught.value.error_code == "PERMISSION_DENIED"
        # A model grant names its workspace: READ on team-x's model-x says nothing of team-y's.
        grant = {"name": "model-x", "username": user, "permission": "READ"}
        resp = admin_api.post("/api/2.0/mlflow/registered-models/permissions/create", json=grant, headers=in_x)
        assert resp.status_code == 200, resp.text
        assert client.get_registered_model("model-x").name == "model-x"
        assert [m.name for m in client.search_registered_models()] == ["model-x"]
        mlflow.set_workspace("team-y")
        assert client.search_registered_models() == []
        with pytest.raises(MlflowException) as caught:
            client.get_registered_model("model-x")
        assert caught.value.error_code == "PERMISSION_DENIED"
        mlflow.set_workspace("team-x")

        mlflow.set_workspace(None)  # default: grant_default_workspace_access gives READ (no USE: no creates)
        assert client.get_experiment("0").name == "Default"
        with pytest.raises(MlflowException) as caught:
            client.create_experiment("mine")
        assert caught.value.error_code == "PERMISSION_DENIED"
        admin_api.close()
    finally:
        mlflow.set_workspace(None)
        stop_server(live)
