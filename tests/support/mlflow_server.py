"""A real ``mlflow server`` (the venv's MLflow 3.17) on a free loopback port, for parity tests.

Like :mod:`support.live_server` for ``mltrail server``: the server runs in ``root``
on a copy of the migrated MLflow SQLite template (:func:`support.mlflow_db.mlflow_sqlite_uri`,
so it does not pay for MLflow's migrations), serves artifacts itself (``mlflow-artifacts:``,
under ``root/mlartifacts``) and writes its log to ``root/server.log``. It takes about 20 s to
answer (minutes on a loaded machine); stop it with :func:`stop_mlflow_server`, which ends the
uvicorn process ``mlflow server`` starts as well::

    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    ...
    stop_mlflow_server(server)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from support.live_server import STOP_GRACE_SECONDS, LiveServer, free_port, server_env
from support.mlflow_db import mlflow_sqlite_uri


def start_mlflow_server(
    root: Path,
    *extra_args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    port: int | None = None,
) -> LiveServer:
    """Start ``mlflow server`` in ``root`` and return once ``GET /health`` answers 200.

    ``extra_args`` go on the command line (e.g. ``"--enable-workspaces"``); ``env`` is merged over
    :func:`support.live_server.server_env` (e.g. ``MLFLOW_CRYPTO_KEK_PASSPHRASE``). ``port``: the
    port to listen on (a free one without it), for a caller whose ``env`` must name the server's URL.

    Raises :class:`RuntimeError` with the server's log if it exits or does not answer in time.
    """
    root.mkdir(parents=True, exist_ok=True)
    backend = mlflow_sqlite_uri(root / "mlflow.db")
    port = port or free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", backend, *extra_args,
    ]  # fmt: skip
    log_path = root / "server.log"
    # No job runner unless a test asks for one: MLflow 3 starts huey consumer processes beside the
    # server (for its UI's evaluation and optimization jobs, none of which these tests start), and
    # they cost more CPU than the server itself.
    settings = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=server_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", proc, root, backend)
    try:  # a failure or an interruption (a test timeout) while waiting stops it too
        _wait(server, log_path, timeout)
    except BaseException:
        stop_mlflow_server(server)
        raise
    return server


def _wait(server: LiveServer, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with code {server.proc.returncode}; log:\n{log_path.read_text()}"
            )
        try:
            if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"mlflow server did not answer within {timeout:g}s; log:\n{log_path.read_text()}"
            )
        time.sleep(0.2)


def stop_mlflow_server(server: LiveServer) -> None:
    """Stop the server and the processes it started (its own process group)."""
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
    except ProcessLookupError:
        server.proc.wait()
