"""MLflow 3.17's roles (RBAC) on ``mltrail server --app-name basic-auth --enable-workspaces``.

One live mltrail server for the module (default_permission READ, no default-workspace
access), driven by the official ``mlflow`` 3.17 ``AuthServiceClient`` for the role API and
the official tracking client for enforcement; a real ``mlflow server`` with the same setup
boots in the background and the last test runs the same calls against both and compares
the JSON. The role store itself runs on SQLite, PostgreSQL and MariaDB, and an auth
database from before roles gains the tables in place.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import mlflow.server
import pytest
import sqlalchemy as sa
from mlflow.exceptions import MlflowException

import mltrail.server
from mltrail.server.auth.permissions import Grant
from mltrail.server.auth.store import AuthStore
from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, write_basic_auth_ini
from support.live_server import LiveServer, start_server, stop_server
from support.mlflow_server import start_mlflow_server, stop_mlflow_server
from support.sql_backends import SQL_BACKENDS

SEEDED = {"admin": "MANAGE", "user": "USE"}  # the roles MLflow 3.17 gives every new workspace


def _config(root: Path) -> dict[str, str]:
    """Logins for either server: ``support.basic_auth``'s ini (default READ) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(write_basic_auth_ini(root)),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-test-flask-secret-key-of-32-chars",
    }


class Servers:
    """mltrail's server, and MLflow's once it has booted (it starts first, in a thread)."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._holder: dict[str, Any] = {}
        mlflow_root = tmp.mktemp("mlflow-roles")
        self._thread = threading.Thread(target=self._boot_mlflow, args=(mlflow_root,))
        self._thread.start()
        root = tmp.mktemp("mltrail-roles")
        self.mltrail = start_server(
            root, None, "--app-name", "basic-auth", "--enable-workspaces", env=_config(root)
        )

    def _boot_mlflow(self, root: Path) -> None:
        self.mlflow_auth_db = root / "basic_auth.db"
        try:
            self._holder["server"] = start_mlflow_server(
                root, "--app-name", "basic-auth", "--enable-workspaces", env=_config(root)
            )
        except BaseException as exc:  # re-raised in the test that needs it
            self._holder["error"] = exc

    def mlflow(self) -> LiveServer:
        self._thread.join()
        if "error" in self._holder:
            raise self._holder["error"]
        return self._holder["server"]

    def stop(self) -> None:
        self._thread.join()
        stop_server(self.mltrail)
        if "server" in self._holder:
            stop_mlflow_server(self._holder["server"])


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    both = Servers(tmp_path_factory)
    try:
        yield both
    finally:
        both.stop()


@pytest.fixture(scope="module")
def server(servers) -> LiveServer:
    return servers.mltrail


@pytest.fixture(scope="module")
def world(server) -> dict[str, str]:
    """Two workspaces, each with an experiment and a registered model the admin made."""
    with http(server, ADMIN) as admin:
        made: dict[str, str] = {}
        for ws in ("team-a", "team-b"):
            assert admin.post("/api/3.0/mlflow/workspaces", json={"name": ws}).status_code == 201
            h = {"X-MLFLOW-WORKSPACE": ws}
            resp = admin.post("/api/2.0/mlflow/experiments/create", json={"name": f"exp-{ws}"}, headers=h)
            made[ws] = resp.json()["experiment_id"]
            resp = admin.post(
                "/api/2.0/mlflow/registered-models/create", json={"name": f"model-{ws}"}, headers=h
            )
            assert resp.status_code == 200, resp.text
    return made


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def http(live: LiveServer, username: str, password: str | None = None) -> httpx.Client:
    password = password or (ADMIN_PASSWORD if username == ADMIN else PASSWORD)
    return httpx.Client(base_url=live.url, auth=(username, password), timeout=60)


def new_user(live: LiveServer) -> str:
    username = name("user")
    with http(live, ADMIN) as api:
        resp = api.post("/api/2.0/mlflow/users/create", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
    return username


@pytest.fixture
def signed_in(monkeypatch) -> Iterator[Callable[..., mlflow.MlflowClient]]:
    """``signed_in(server, username, workspace)``: the official client as that user in that workspace."""

    def use(live: LiveServer, username: str, workspace: str | None = None) -> mlflow.MlflowClient:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD if username == ADMIN else PASSWORD)
        mlflow.set_tracking_uri(live.url)
        mlflow.set_workspace(workspace)
        return mlflow.MlflowClient(live.url, registry_uri=live.url)

    yield use
    mlflow.set_workspace(None)
    mlflow.set_tracking_uri(None)


@pytest.fixture
def admin(server, signed_in) -> Any:
    """The official ``AuthServiceClient`` signed in as the admin."""
    signed_in(server, ADMIN)
    return mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)


def refused(call: Callable[[], Any], code: str = "PERMISSION_DENIED") -> None:
    with pytest.raises(MlflowException) as caught:
        call()
    assert caught.value.error_code == code, caught.value.message


# ---------------------------------------------------------------- the role API
def test_role_api_round_trip_with_the_official_client(server, world, admin):
    seeded = admin.list_roles("team-a")
    assert {
        r.name: [(p.resource_type, p.resource_pattern, p.permission) for p in r.permissions] for r in seeded
    } == {role: [("workspace", "*", level)] for role, level in SEEDED.items()}
    user = new_user(server)
    role = admin.create_role("team-a", name("readers"), "reads experiments")
    assert (role.workspace, role.description, role.permissions) == ("team-a", "reads experiments", [])
    renamed = admin.update_role(role.id, name="readers-renamed", description="changed")
    assert (renamed.name, renamed.description) == ("readers-renamed", "changed")
    rp = admin.add_role_permission(role.id, "experiment", "*", "READ")
    assert (rp.role_id, rp.resource_type, rp.resource_pattern, rp.permission) == (
        role.id,
        "experiment",
        "*",
        "READ",
    )
    assert admin.update_role_permission(rp.id, "EDIT").permission == "EDIT"
    assert [p.permission for p in admin.list_role_permissions(role.id)] == ["EDIT"]
    assert [p.id for p in admin.get_role(role.id).permissions] == [rp.id]

    assignment = admin.assign_role(user, role.id)
    user_id = admin.get_user(user).id
    assert (assignment.user_id, assignment.role_id) == (user_id, role.id)
    assert [r.id for r in admin.list_user_roles(user)] == [role.id]
    assert [(a.user_id, a.role_id) for a in admin.list_role_users(role.id)] == [(user_id, role.id)]
    everywhere = {(r.workspace, r.name) for r in admin.list_all_roles()}
    assert {("team-a", "admin"), ("team-b", "user"), ("team-a", "readers-renamed")} <= everywhere
    with http(
        server, ADMIN
    ) as api:  # the users list and a user's permission rows show roles, as MLflow's UI reads them
        listed = {u["username"]: u for u in api.get("/api/2.0/mlflow/users/list").json()["users"]}
        rows = api.get("/api/3.0/mlflow/users/permissions/list", params={"username": user}).json()[
            "permissions"
        ]
    assert [r["id"] for r in listed[user]["roles"]] == [role.id]
    assert rows == [
        {"role_id": role.id, "role_name": "readers-renamed", "workspace": "team-a", "resource_type": "experiment",
         "resource_pattern": "*", "permission": "EDIT"}
    ]  # fmt: skip

    admin.unassign_role(user, role.id)
    assert admin.list_user_roles(user) == []
    admin.remove_role_permission(rp.id)
    assert admin.list_role_permissions(role.id) == []
    admin.delete_role(role.id)
    refused(lambda: admin.get_role(role.id), "RESOURCE_DOES_NOT_EXIST")


def test_bad_role_requests_are_refused_like_mlflow(server, world, admin):
    role = admin.create_role("team-a", name("checks"))
    user = new_user(server)
    bad = [
        (lambda: admin.create_role("team-a", role.name), "RESOURCE_ALREADY_EXISTS"),
        (lambda: admin.create_role("team-a", "__user_7__"), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.create_role("team-a", "  "), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.update_role(role.id), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.add_role_permission(role.id, "workspace", "*", "READ"), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.add_role_permission(role.id, "run", "r-1", "READ"), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.add_role_permission(role.id, "bogus", "*", "READ"), "INVALID_PARAMETER_VALUE"),
        (
            lambda: admin.add_role_permission(role.id, "experiment", "*", "NO_PERMISSIONS"),
            "INVALID_PARAMETER_VALUE",
        ),
        (lambda: admin.add_role_permission(role.id, "experiment", "*", "ROOT"), "INVALID_PARAMETER_VALUE"),
        (lambda: admin.add_role_permission(10**6, "experiment", "*", "READ"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: admin.remove_role_permission(10**6), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: admin.assign_role("nobody-" + uuid.uuid4().hex, role.id), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: admin.unassign_role(user, role.id), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: admin.list_role_users(10**6), "RESOURCE_DOES_NOT_EXIST"),
    ]
    for call, code in bad:
        refused(call, code)
    admin.add_role_permission(role.id, "experiment", "*", "READ")
    refused(lambda: admin.add_role_permission(role.id, "experiment", "*", "EDIT"), "RESOURCE_ALREADY_EXISTS")
    admin.assign_role(user, role.id)
    refused(lambda: admin.assign_role(user, role.id), "RESOURCE_ALREADY_EXISTS")
    with http(server, ADMIN) as api:  # ids that are not integers, missing ids: 400, never a 500
        for method, path, kw in [
            ("GET", "/roles/get", {"params": {"role_id": "abc"}}),
            ("GET", "/roles/get", {}),
            ("DELETE", "/roles/delete", {"json": {"role_id": [1]}}),
            (
                "PATCH",
                "/roles/permissions/update",
                {"json": {"role_permission_id": "x", "permission": "READ"}},
            ),
            ("GET", "/roles/list", {"params": {"workspace": " "}}),
        ]:
            resp = api.request(method, "/api/3.0/mlflow" + path, **kw)
            assert (resp.status_code, resp.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), (
                path,
                resp.text,
            )


def test_mltrail_sdk_client_manages_roles(server, world, signed_in):
    signed_in(server, ADMIN)
    client = mltrail.server.get_app_client("basic-auth", tracking_uri=server.url)
    user = new_user(server)
    role = client.create_role("team-b", name("sdk"), "from mltrail's client")
    rp = client.add_role_permission(role.id, "registered_model", "model-team-b", "READ")
    client.assign_role(user, role.id)
    assert [r.name for r in client.list_user_roles(user)] == [role.name]
    assert client.get_role(role.id).permissions == [rp]
    assert role.name in {r.name for r in client.list_roles("team-b")}
    assert [a.role_id for a in client.list_role_users(role.id)] == [role.id]
    client.delete_role(role.id)
    assert client.list_user_roles(user) == []


# ---------------------------------------------------------------- enforcement
def test_a_role_grants_what_it_says_in_its_workspace_only(server, world, admin, signed_in):
    user = new_user(server)
    role = admin.create_role("team-a", name("analysts"))
    admin.add_role_permission(role.id, "experiment", "*", "READ")
    admin.add_role_permission(role.id, "registered_model", "*", "EDIT")
    admin.assign_role(user, role.id)

    client = signed_in(server, user, "team-a")
    assert client.get_experiment(world["team-a"]).name == "exp-team-a"
    assert [e.name for e in client.search_experiments()] == ["exp-team-a"]
    refused(lambda: client.set_experiment_tag(world["team-a"], "k", "v"))  # READ only
    client.update_registered_model("model-team-a", description="edited")  # EDIT
    assert client.get_registered_model("model-team-a").description == "edited"
    refused(lambda: client.delete_registered_model("model-team-a"))  # EDIT cannot delete
    refused(lambda: client.create_experiment(name("mine")))  # no workspace grant: no creates

    client = signed_in(server, user, "team-b")  # the role says nothing here
    refused(lambda: client.get_experiment(world["team-b"]))
    refused(lambda: client.get_registered_model("model-team-b"))
    assert client.search_experiments() == []
    assert client.search_registered_models() == []

    signed_in(server, ADMIN, "team-a")  # artifacts: under workspaces/team-a/<experiment_id>/
    with mlflow.start_run(experiment_id=world["team-a"]) as theirs:
        mlflow.log_text("the admin's", "notes.txt")
    admin.add_role_permission(role.id, "workspace", "*", "USE")  # a member of team-a may create there
    client = signed_in(server, user, "team-a")
    assert mlflow.artifacts.load_text(f"runs:/{theirs.info.run_id}/notes.txt") == "the admin's"  # READ
    with pytest.raises(Exception, match="403"):
        client.log_text(theirs.info.run_id, "mine", "notes.txt")
    mine = client.create_experiment(name("mine"))
    client.set_experiment_tag(mine, "owner", "me")  # the creator manages what they create
    with mlflow.start_run(experiment_id=mine) as run:
        mlflow.log_text("hello", "notes/a.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/a.txt") == "hello"
    team_b = client.get_experiment(mine).artifact_location.replace("/team-a/", "/team-b/")
    with http(server, user) as api:  # a path into another workspace than the request's: refused
        for path in (team_b.split(":", 1)[1].lstrip("/") + "/x.txt", f"{world['team-b']}/x.txt"):
            resp = api.get(
                f"/api/2.0/mlflow-artifacts/artifacts/{path}", headers={"X-MLFLOW-WORKSPACE": "team-a"}
            )
            assert resp.status_code == 403, (path, resp.text)
    client = signed_in(server, user, "team-b")
    refused(lambda: client.create_experiment(name("mine")))

    signed_in(server, ADMIN)
    admin.unassign_role(user, role.id)  # counts at once, on the next request
    client = signed_in(server, user, "team-a")
    refused(lambda: client.get_experiment(world["team-a"]))


def test_role_and_per_user_grants_fold_deny_wins(server, world, admin, signed_in):
    user = new_user(server)
    exp = world["team-a"]
    with http(server, ADMIN) as api:
        grant = {"experiment_id": exp, "username": user, "permission": "EDIT"}
        resp = api.post("/api/2.0/mlflow/experiments/permissions/create", json=grant,
                        headers={"X-MLFLOW-WORKSPACE": "team-a"})  # fmt: skip
        assert resp.status_code == 200, resp.text
    role = admin.create_role("team-a", name("fold"))
    reader = admin.add_role_permission(role.id, "experiment", "*", "READ")
    admin.assign_role(user, role.id)
    client = signed_in(server, user, "team-a")
    client.set_experiment_tag(exp, "k", "edit")  # max(per-user EDIT, role READ)

    signed_in(server, ADMIN)
    denial = admin.add_role_permission(role.id, "experiment", exp, "DENY")
    client = signed_in(server, user, "team-a")
    refused(lambda: client.get_experiment(exp))  # DENY beats the per-user EDIT
    assert exp not in {e.experiment_id for e in client.search_experiments()}  # the others: READ on *
    signed_in(server, ADMIN, "team-a")  # the user's roles in team-a count in a request bound to it
    result = admin.get_user_permission(user, "experiment", exp)
    assert (result.allowed, result.permission) == (False, "DENY")

    admin.remove_role_permission(denial.id)
    admin.update_role_permission(reader.id, "MANAGE")
    assert admin.get_user_permission(user, "experiment", exp).permission == "MANAGE"
    client = signed_in(server, user, "team-a")
    client.set_experiment_tag(exp, "k", "manage")


def test_a_workspace_admin_manages_their_workspace_only(server, world, admin, signed_in):
    boss, member = new_user(server), new_user(server)
    seeded = {r.name: r for r in admin.list_roles("team-a")}
    admin.assign_role(boss, seeded["admin"].id)
    team_b_user = next(r for r in admin.list_roles("team-b") if r.name == "user")
    with http(server, ADMIN) as api:
        made = api.post("/api/2.0/mlflow/experiments/create", json={"name": name("victim")},
                        headers={"X-MLFLOW-WORKSPACE": "team-a"}).json()["experiment_id"]  # fmt: skip

    client = signed_in(server, boss, "team-a")
    client.set_experiment_tag(made, "k", "v")
    client.delete_experiment(made)  # MANAGE on everything in team-a
    auth = mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)  # signed in as the boss
    role = auth.create_role("team-a", name("delegated"))
    auth.add_role_permission(role.id, "experiment", "*", "READ")
    auth.assign_role(member, role.id)
    assert [a.role_id for a in auth.list_role_users(role.id)] == [role.id]
    assert [r.name for r in auth.list_user_roles(member)] == [role.name]
    assert role.name in {r.name for r in auth.list_roles("team-a")}
    refused(lambda: auth.create_role("team-b", name("elsewhere")))
    refused(lambda: auth.list_roles("team-b"))
    refused(lambda: auth.list_all_roles())
    refused(lambda: auth.get_role(10**6))  # an unknown id is refused, not reported missing
    refused(lambda: auth.assign_role(member, team_b_user.id))

    client = signed_in(server, boss, "team-b")
    refused(lambda: client.get_experiment(world["team-b"]))


def test_a_member_creates_and_lists_but_opens_only_what_is_granted(server, world, admin, signed_in):
    """MLflow 3.17's workspace USE: create rights and listings, no point read of others' resources."""
    user = new_user(server)
    seeded = {r.name: r for r in admin.list_roles("team-a")}
    admin.assign_role(user, seeded["user"].id)
    client = signed_in(server, user, "team-a")
    assert "exp-team-a" in {e.name for e in client.search_experiments()}
    assert "model-team-a" in {m.name for m in client.search_registered_models()}
    refused(lambda: client.get_experiment(world["team-a"]))
    mine = client.create_experiment(name("mine"))
    assert client.get_experiment(mine).experiment_id == mine
    model = client.create_registered_model(name("mine")).name
    client.update_registered_model(model, description="mine")
    assert [w.name for w in mlflow.list_workspaces()] == ["team-a"]  # the workspaces they hold a role in


def test_role_routes_refuse_users_without_a_role_there(server, world, admin, signed_in):
    outsider = new_user(server)
    seeded = {r.name: r for r in admin.list_roles("team-a")}
    signed_in(server, outsider)
    auth = mlflow.server.get_app_client("basic-auth", tracking_uri=server.url)
    for call in (
        lambda: auth.list_roles("team-a"),
        lambda: auth.get_role(seeded["user"].id),
        lambda: auth.list_role_permissions(seeded["user"].id),
        lambda: auth.create_role("team-a", name("mine")),
        lambda: auth.list_user_roles(ADMIN),
        lambda: auth.list_role_users(seeded["user"].id),
    ):
        refused(call)
    assert auth.list_user_roles(outsider) == []
    with http(server, outsider) as api:  # a non-admin naming nothing: 400 as MLflow, before any lookup
        resp = api.post("/api/3.0/mlflow/roles/create", json={"name": "x"})
        assert (resp.status_code, resp.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert api.get("/api/3.0/mlflow/workspaces").json()["workspaces"] == []


def test_deleting_a_workspace_deletes_its_roles(server, world, admin):
    user = new_user(server)
    ws = name("tmp")
    with http(server, ADMIN) as api:
        assert api.post("/api/3.0/mlflow/workspaces", json={"name": ws}).status_code == 201
        role = admin.create_role(ws, "temporary")
        admin.add_role_permission(role.id, "experiment", "*", "READ")
        admin.assign_role(user, role.id)
        assert api.delete(f"/api/3.0/mlflow/workspaces/{ws}").status_code == 204
        assert admin.list_roles(ws) == []
        assert admin.list_user_roles(user) == []
        refused(lambda: admin.get_role(role.id), "RESOURCE_DOES_NOT_EXIST")
        assert api.post("/api/3.0/mlflow/workspaces", json={"name": ws}).status_code == 201
    assert sorted(r.name for r in admin.list_roles(ws)) == sorted(SEEDED)  # a fresh start


# ---------------------------------------------------------------- the store
def test_an_auth_database_from_before_roles_gains_them_in_place(tmp_path):
    uri = f"sqlite:///{tmp_path / 'basic_auth.db'}"
    engine = sa.create_engine(uri)
    with engine.begin() as conn:  # MLflow 2.x's schema, with a user and a grant
        conn.execute(sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(255) UNIQUE, "
                             "password_hash VARCHAR(255), is_admin BOOLEAN)"))  # fmt: skip
        conn.execute(sa.text("CREATE TABLE experiment_permissions (id INTEGER PRIMARY KEY, experiment_id "
                             "VARCHAR(255) NOT NULL, user_id INTEGER NOT NULL REFERENCES users(id), "
                             "permission VARCHAR(255), UNIQUE (experiment_id, user_id))"))  # fmt: skip
        conn.execute(sa.text("INSERT INTO users VALUES (1, 'old', 'x', 0)"))
        conn.execute(sa.text("INSERT INTO experiment_permissions VALUES (1, '3', 1, 'EDIT')"))
    engine.dispose()
    store = AuthStore(uri)
    assert {"roles", "role_permissions", "user_role_assignments"} <= set(
        sa.inspect(store.engine).get_table_names()
    )
    assert store.experiment_permission("3", "old").name == "EDIT"  # per-user grants keep working
    role = store.roles.create_role("readers", "default")
    store.roles.add_permission(role.id, "experiment", "*", "READ")
    store.roles.assign(1, role.id)
    assert store.roles.grants_of("old", "default") == (Grant("experiment", "*", "READ"),)
    store.engine.dispose()


@pytest.fixture(params=SQL_BACKENDS)
def db_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'auth.db'}"
    return request.getfixturevalue(f"{request.param}_uri")


def test_role_store_on_every_backend(db_uri):
    store = AuthStore(db_uri, cache_ttl_seconds=0)
    ws, other = name("ws"), name("ws")
    alice = store.create_user(name("alice"), PASSWORD)
    role = store.roles.create_role("team", ws, "d")
    store.roles.create_role("team", other)  # the same name in another workspace
    rp = store.roles.add_permission(role.id, "registered_model", "m", "EDIT")
    store.roles.add_permission(role.id, "workspace", "*", "MANAGE")
    store.roles.assign(alice.id, role.id)
    assert store.roles.grants_of(alice.username, ws) == (
        Grant("registered_model", "m", "EDIT"), Grant("workspace", "*", "MANAGE"),
    )  # fmt: skip
    assert store.roles.grants_of(alice.username, other) == ()
    assert store.roles.admin_workspaces(alice.id) == store.roles.present_workspaces(alice.id) == {ws}
    assert store.roles.update_permission(rp.id, "READ").permission == "READ"
    assert [r.name for r in store.roles.seed_default_roles(other)] == ["admin", "user"]
    assert store.roles.seed_default_roles(other) == []  # seeding twice adds nothing
    store.delete_user(alice.username)  # its assignments go with it
    assert store.roles.role_users(role.id) == []
    store.roles.delete_roles_for_workspace(ws)
    assert store.roles.list_roles([ws]) == []
    assert {r.name for r in store.roles.list_roles([other])} == {"team", "admin", "user"}
    store.roles.delete_roles_for_workspace(other)
    store.engine.dispose()


# ---------------------------------------------------------------- parity with MLflow's server
_DROP = {
    "id",
    "role_id",
    "user_id",
    "experiment_id",
    "artifact_location",
    "creation_time",
    "last_update_time",
}


def _plain(obj: Any) -> Any:
    """The JSON without ids and times (each server numbers its own rows), and without MLflow's hidden
    ``__user_<id>__`` roles (its per-user grants; mltrail keeps those in their own tables: security.md)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if k not in _DROP}
    if isinstance(obj, list):
        return [
            _plain(v)
            for v in obj
            if not (isinstance(v, dict) and str(v.get("name", "")).startswith("__user_"))
        ]
    return obj


def _cheap_password_hashes(auth_db: Path) -> None:
    """Store MLflow's users' passwords hashed with one PBKDF2 round (werkzeug's format, which MLflow
    checks on every request): its default hash cost ~0.4 s of CPU per call, most of this module's
    time, and what a password costs to check is not what these tests compare."""
    import sqlite3

    from werkzeug.security import generate_password_hash

    with sqlite3.connect(auth_db) as db:
        for (name,) in db.execute("SELECT username FROM users").fetchall():
            secret = ADMIN_PASSWORD if name == ADMIN else PASSWORD
            db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                (generate_password_hash(secret, method="pbkdf2:sha256:1"), name),
            )
    db.close()


def _roles_script(live: LiveServer, users_made: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The same role calls and role-governed requests, answered as (status, JSON without ids).

    ``users_made`` is called at the start (the admin exists) and again once the script's users exist
    (MLflow's side: cheaper hashes)."""
    users_made()
    out: dict[str, Any] = {}
    admin = http(live, ADMIN)
    ws, elsewhere = "parity-ws", "parity-gone"

    def rec(key: str, resp: httpx.Response) -> dict[str, Any]:
        if resp.status_code == 403:  # MLflow answers plain text, mltrail MLflow's JSON error (security.md)
            body = {"error_code": "PERMISSION_DENIED"}
        else:
            body = resp.json() if resp.content else {}
        out[key] = (resp.status_code, body.get("error_code") if resp.status_code >= 400 else _plain(body))
        return body

    def api(client: httpx.Client, method: str, path: str, key: str, **kw: Any) -> dict[str, Any]:
        return rec(key, client.request(method, "/api/3.0/mlflow" + path, **kw))

    for w in (ws, elsewhere):
        assert admin.post("/api/3.0/mlflow/workspaces", json={"name": w}).status_code == 201
    for user in ("parity-reader", "parity-member"):
        assert (
            admin.post(
                "/api/2.0/mlflow/users/create", json={"username": user, "password": PASSWORD}
            ).status_code
            == 200
        )
    users_made()
    api(admin, "GET", "/roles/list", "seeded", params={"workspace": ws})
    role = api(
        admin,
        "POST",
        "/roles/create",
        "create",
        json={"workspace": ws, "name": "readers", "description": "r"},
    )["role"]
    rid = role["id"]
    api(
        admin,
        "POST",
        "/roles/permissions/add",
        "add-exp",
        json={"role_id": rid, "resource_type": "experiment", "resource_pattern": "*", "permission": "READ"},
    )
    rp = api(
        admin,
        "POST",
        "/roles/permissions/add",
        "add-model",
        json={
            "role_id": rid,
            "resource_type": "registered_model",
            "resource_pattern": "*",
            "permission": "READ",
        },
    )
    api(
        admin,
        "PATCH",
        "/roles/permissions/update",
        "update-perm",
        json={"role_permission_id": rp["role_permission"]["id"], "permission": "EDIT"},
    )
    api(
        admin,
        "PATCH",
        "/roles/update",
        "update",
        json={"role_id": rid, "description": "readers of everything"},
    )
    for key, body in {
        "dup": {"workspace": ws, "name": "readers"},
        "reserved": {"workspace": ws, "name": "__user_1__"},
        "no-name": {"workspace": ws},
    }.items():
        api(admin, "POST", "/roles/create", key, json=body)
    for key, body in {
        "ws-read": ("workspace", "*", "READ"),
        "run-id": ("run", "r1", "READ"),
        "bogus": ("bogus", "*", "READ"),
        "no-perm": ("experiment", "*", "NO_PERMISSIONS"),
        "dup-perm": ("experiment", "*", "MANAGE"),
    }.items():
        t, p, perm = body
        api(
            admin,
            "POST",
            "/roles/permissions/add",
            key,
            json={"role_id": rid, "resource_type": t, "resource_pattern": p, "permission": perm},
        )
    api(admin, "GET", "/roles/get", "not-int", params={"role_id": "abc"})
    api(admin, "GET", "/roles/get", "missing-id")
    api(admin, "GET", "/roles/get", "unknown", params={"role_id": "999999"})
    api(admin, "POST", "/roles/assign", "assign", json={"username": "parity-reader", "role_id": rid})
    api(admin, "POST", "/roles/assign", "assign-again", json={"username": "parity-reader", "role_id": rid})
    api(admin, "POST", "/roles/assign", "assign-nobody", json={"username": "nobody", "role_id": rid})
    member_role = next(
        r["id"]
        for r in admin.get("/api/3.0/mlflow/roles/list", params={"workspace": ws}).json()["roles"]
        if r["name"] == "user"
    )
    api(
        admin,
        "POST",
        "/roles/assign",
        "assign-member",
        json={"username": "parity-member", "role_id": member_role},
    )
    api(admin, "GET", "/users/roles/list", "user-roles", params={"username": "parity-reader"})
    api(admin, "GET", "/roles/users/list", "role-users", params={"role_id": rid})
    api(admin, "GET", "/roles/get", "get", params={"role_id": rid})

    h = {"X-MLFLOW-WORKSPACE": ws}
    exp = admin.post("/api/2.0/mlflow/experiments/create", json={"name": "parity-exp"}, headers=h).json()[
        "experiment_id"
    ]
    assert (
        admin.post(
            "/api/2.0/mlflow/registered-models/create", json={"name": "parity-model"}, headers=h
        ).status_code
        == 200
    )
    for who in ("parity-reader", "parity-member"):
        with http(live, who) as user:
            for key, (method, path, kw) in {
                "get-exp": ("GET", "/api/2.0/mlflow/experiments/get", {"params": {"experiment_id": exp}}),
                "tag-exp": (
                    "POST",
                    "/api/2.0/mlflow/experiments/set-experiment-tag",
                    {"json": {"experiment_id": exp, "key": "k", "value": "v"}},
                ),
                "get-model": (
                    "GET",
                    "/api/2.0/mlflow/registered-models/get",
                    {"params": {"name": "parity-model"}},
                ),
                "update-model": (
                    "PATCH",
                    "/api/2.0/mlflow/registered-models/update",
                    {"json": {"name": "parity-model", "description": who}},
                ),
                "delete-model": (
                    "DELETE",
                    "/api/2.0/mlflow/registered-models/delete",
                    {"json": {"name": "parity-model"}},
                ),
                "create-exp": (
                    "POST",
                    "/api/2.0/mlflow/experiments/create",
                    {"json": {"name": f"{who}-exp"}},
                ),
            }.items():
                resp = user.request(method, path, headers=h, **kw)
                out[f"{who}:{key}"] = resp.status_code
            found = user.post(
                "/api/2.0/mlflow/experiments/search", json={"max_results": 100}, headers=h
            ).json()
            out[f"{who}:search"] = sorted(e["name"] for e in found.get("experiments", []))
            out[f"{who}:workspaces"] = sorted(
                w["name"] for w in user.get("/api/3.0/mlflow/workspaces").json()["workspaces"]
            )
            api(user, "GET", "/roles/list", f"{who}:roles", params={"workspace": ws})
            api(user, "GET", "/roles/list", f"{who}:all-roles")
            api(user, "POST", "/roles/create", f"{who}:create", json={"workspace": ws, "name": "mine"})
            api(user, "GET", "/roles/get", f"{who}:unknown", params={"role_id": "999999"})
            api(user, "GET", "/users/roles/list", f"{who}:own-roles", params={"username": who})

    role_in_gone = api(
        admin, "POST", "/roles/create", "create-gone", json={"workspace": elsewhere, "name": "g"}
    )
    assert admin.delete(f"/api/3.0/mlflow/workspaces/{elsewhere}").status_code == 204
    api(admin, "GET", "/roles/get", "get-gone", params={"role_id": role_in_gone["role"]["id"]})
    api(admin, "DELETE", "/roles/unassign", "unassign", json={"username": "parity-reader", "role_id": rid})
    api(
        admin,
        "DELETE",
        "/roles/unassign",
        "unassign-again",
        json={"username": "parity-reader", "role_id": rid},
    )
    api(
        admin,
        "DELETE",
        "/roles/permissions/remove",
        "remove",
        json={"role_permission_id": rp["role_permission"]["id"]},
    )
    api(admin, "GET", "/roles/permissions/list", "perms-left", params={"role_id": rid})
    api(admin, "DELETE", "/roles/delete", "delete", json={"role_id": rid})
    api(admin, "DELETE", "/roles/delete", "delete-again", json={"role_id": rid})
    api(admin, "GET", "/roles/list", "left", params={"workspace": ws})
    admin.close()
    return out


def test_role_calls_answer_as_mlflows_server(servers):
    ours = _roles_script(servers.mltrail)
    mlflow_server = servers.mlflow()
    theirs = _roles_script(mlflow_server, lambda: _cheap_password_hashes(servers.mlflow_auth_db))
    assert ours.keys() == theirs.keys()
    differ = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    assert not differ, differ
    # the comparison means something: what a member and a reader may do differs, as on MLflow
    assert ours["parity-member:get-exp"] == 403 and ours["parity-reader:get-exp"] == 200
