"""A live ``mltrail server --app-name basic-auth`` with an admin and users, for permission tests.

MLflow's basic-auth app reads its settings from the ini file named by ``MLFLOW_AUTH_CONFIG_PATH``;
here it is written into the server's folder, with the users' database beside it::

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        with basic_auth_server(tmp_path_factory.mktemp("auth"), "--no-scorer-worker") as live:
            yield live  # httpx.get(live.url + ..., auth=("alice", PASSWORD))

(or :func:`start_basic_auth_server` and :func:`support.live_server.stop_server`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.live_server import LiveServer, start_server, stop_server

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1234"
#: every user's password
PASSWORD = "a-user-password-1234"


def write_basic_auth_ini(root: Path, default_permission: str = "READ") -> Path:
    """``root/basic_auth.ini``: ``default_permission``, the users' SQLite database in ``root``, the admin."""
    ini = root / "basic_auth.ini"
    ini.write_text(
        f"[mlflow]\ndefault_permission = {default_permission}\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN}\nadmin_password = {ADMIN_PASSWORD}\n"
    )
    return ini


def start_basic_auth_server(
    root: Path,
    *extra_args: str,
    users: Sequence[str] = ("alice", "bob"),
    env: Mapping[str, str] | None = None,
    default_permission: str = "READ",
    backend: str | None = None,
) -> LiveServer:
    """:func:`support.live_server.start_server` in ``root`` with logins, then each of ``users`` created
    (password :data:`PASSWORD`) by the admin.

    ``extra_args`` go on the command line after ``--app-name basic-auth``; ``env`` is merged over
    the server's environment; ``backend`` is the tracking store's URI (default: SQLite in ``root``;
    the users' database stays in ``root`` whatever it is). Stop it with
    :func:`support.live_server.stop_server`.
    """
    root.mkdir(parents=True, exist_ok=True)
    ini = write_basic_auth_ini(root, default_permission)
    settings = {**(env or {}), "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    live = start_server(root, backend, "--app-name", "basic-auth", *extra_args, env=settings)
    try:
        with httpx.Client(base_url=live.url, auth=(ADMIN, ADMIN_PASSWORD), timeout=30) as admin:
            for user in users:
                made = admin.post(
                    "/api/2.0/mlflow/users/create", json={"username": user, "password": PASSWORD}
                )
                assert made.is_success, made.text
    except BaseException:  # the caller gets no server to stop
        stop_server(live)
        raise
    return live


@contextmanager
def basic_auth_server(
    root: Path,
    *extra_args: str,
    users: Sequence[str] = ("alice", "bob"),
    env: Mapping[str, str] | None = None,
    default_permission: str = "READ",
    backend: str | None = None,
) -> Iterator[LiveServer]:
    """:func:`start_basic_auth_server` for the length of a ``with`` block, stopped however it ends."""
    live = start_basic_auth_server(
        root,
        *extra_args,
        users=users,
        env=env,
        default_permission=default_permission,
        backend=backend,
    )
    try:
        yield live
    finally:
        stop_server(live)
