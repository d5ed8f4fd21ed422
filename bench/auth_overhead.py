"""What ``--app-name basic-auth`` costs per request: ``runs/get`` with auth off and on (never asserted).

    python bench/auth_overhead.py           # 3,000 requests per round, 5 rounds
    python bench/auth_overhead.py --quick   # 500 per round, 3 rounds
    python bench/run.py --only auth         # the same, as a section of the benchmark report

Builds two apps on one SQLite store, in-process, and sends each the same
``GET /api/2.0/mlflow/runs/get`` straight through ASGI (no sockets, so the
difference is the server's own work): one app without auth, one with
``basic-auth`` where the caller's credential is already verified (warm). Rounds
alternate between the two apps; the figure is the median per-request time.
Also reported: the authentication step alone (warm credential) and the first
request of a credential, which pays the scrypt password hash.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ADMIN, ADMIN_PASSWORD = "admin", "bench-admin-password"
USER, USER_PASSWORD = "bench-user", "bench-user-password"


def _basic(username: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{username}:{password}".encode())


def _scope(path: str, query: bytes, authorization: bytes | None) -> dict:
    headers = [(b"host", b"127.0.0.1:5000"), (b"accept", b"*/*")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5000),
    }  # fmt: skip


async def _request(app, scope: dict) -> int:
    status = 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def _per_request(app, scope: dict, n: int) -> float:
    """Seconds per request, over ``n`` sequential requests."""
    start = time.perf_counter()
    for _ in range(n):
        await _request(app, scope)
    return (time.perf_counter() - start) / n


def _build(root: Path) -> tuple[object, object, object, str]:
    from mltrail.server.app import create_app
    from mltrail.server.config import ServerConfig

    db = f"sqlite:///{root / 'mltrail.db'}"
    ini = root / "basic_auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{root / 'auth.db'}\n")
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    plain = create_app(ServerConfig(backend_store_uri=db, artifacts_destination=str(root / "artifacts")))
    secured = create_app(
        ServerConfig(
            backend_store_uri=db, artifacts_destination=str(root / "artifacts"), app_name="basic-auth"
        )
    )
    store = plain.state.tracking_store.get()
    secured.state.tracking_store.get()
    experiment_id = store.create_experiment("auth-bench")
    run = store.create_run(experiment_id, "bench", int(time.time() * 1000), [], "bench")
    secured.state.auth.store.create_user(USER, USER_PASSWORD)
    return plain, secured, secured.state.auth, run.info.run_id


def measure(quick: bool) -> list[tuple[str, float]]:
    """(label, milliseconds) rows."""
    n, rounds = (500, 3) if quick else (3000, 5)
    saved = {k: os.environ.get(k) for k in ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_PASSWORD")}
    try:
        return _measure(n, rounds)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _measure(n: int, rounds: int) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory(prefix="mltrail-auth-bench-") as tmp:
        plain, secured, auth, run_id = _build(Path(tmp))
        path, query = "/api/2.0/mlflow/runs/get", f"run_id={run_id}".encode()
        off = _scope(path, query, None)
        as_admin = _scope(path, query, _basic(ADMIN, ADMIN_PASSWORD))
        as_user = _scope(path, query, _basic(USER, USER_PASSWORD))

        async def run_all() -> list[tuple[str, float]]:
            first = time.perf_counter()  # what a credential's first request pays: a read and scrypt
            assert auth.authenticator.verify(_basic(USER, USER_PASSWORD)) is not None
            first = time.perf_counter() - first
            for app, scope in ((plain, off), (secured, as_admin), (secured, as_user)):
                assert await _request(app, scope) == 200
                await _per_request(app, scope, n // 5)  # warm-up
            results: dict[str, list[float]] = {"off": [], "admin": [], "user": [], "authn": []}
            for _ in range(rounds):
                results["off"].append(await _per_request(plain, off, n))
                results["admin"].append(await _per_request(secured, as_admin, n))
                results["user"].append(await _per_request(secured, as_user, n))
                start = time.perf_counter()
                for _ in range(n):
                    await auth.authenticate(as_user)
                results["authn"].append((time.perf_counter() - start) / n)
            med = {k: statistics.median(v) * 1000 for k, v in results.items()}
            return [
                ("get_run, auth off", med["off"]),
                ("get_run, auth on, admin (warm credential)", med["admin"]),
                ("get_run, auth on, READ user (warm credential)", med["user"]),
                ("overhead per request, admin", med["admin"] - med["off"]),
                (
                    "overhead per request, READ user (authentication + permission check)",
                    med["user"] - med["off"],
                ),
                ("authentication alone, warm credential", med["authn"]),
                ("first request of a credential (user read + scrypt verify, once per TTL)", first * 1000),
            ]

        return asyncio.run(run_all())


def run(quick: bool):
    """The benchmark-report section (see bench/run.py)."""
    from report import Section

    sec = Section("auth", "Auth overhead (runs/get through ASGI, in-process; median per request)")
    sec.columns = ("mltrail",)
    for label, ms in measure(quick):
        sec.row(label).set("mltrail", ms / 1000)
    sec.notes.append("target: checking a warm credential costs under 0.3 ms per request")
    return sec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    rows = measure(ap.parse_args().quick)
    print("\n| what | ms |\n|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.3f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    main()
