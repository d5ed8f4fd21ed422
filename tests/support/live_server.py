"""A real ``mltrail server`` subprocess on a free loopback port, for tests that talk HTTP to it.

Every suite that needs a live server starts it here, so start-up, the wait for
``/health``, the error on failure and the shutdown behave the same everywhere::

    from support.live_server import start_server, stop_server

    @pytest.fixture(scope="module")
    def live_server(tmp_path_factory):
        server = start_server(tmp_path_factory.mktemp("server"))
        yield server
        stop_server(server)

or, where a fixture only needs the server for a ``with`` block,
``with running_server(root) as server: ...``.

The server runs with ``root`` as its working directory, on a fresh SQLite file
``root/mltrail.db`` unless another backend URI is given, and writes its output to
``root/server.log`` (read it in assertions, it is quoted in start-up errors).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

#: How long :func:`stop_server` waits after SIGTERM before it kills the process.
STOP_GRACE_SECONDS = 10

#: Server options for suites whose webhook receivers and fake LLM providers listen on loopback over
#: plain http: private targets, and the http scheme MLflow's defaults (https only) refuse, allowed
#: for webhooks and the gateway's api_base. ``start_server(root, None, *LOOPBACK_HTTP, ...)``.
LOOPBACK_HTTP: tuple[str, ...] = (
    "--webhooks-allow-private",
    "--webhooks-allowed-schemes", "http,https",
    "--gateway-api-base-allowed-schemes", "http,https",
)  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The port is released before it is returned, so another process could in
    principle take it first; on a test machine that race is not seen in practice.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A running ``mltrail server``: its base URL, process, working folder and backend URI."""

    url: str
    proc: subprocess.Popen
    root: Path
    backend: str

    @property
    def artifacts(self) -> Path:
        """Where the server keeps proxied artifacts when no ``--artifacts-destination`` is given."""
        return self.root / "mltrail-artifacts"

    @property
    def log(self) -> Path:
        """The server's combined stdout and stderr."""
        return self.root / "server.log"

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc (Linux only)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def server_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``MLFLOW_*``/``MLTRAIL_*`` variables, then ``overrides``.

    The test process's own tracking settings must not leak into the server. Every ``PYTHONPATH``
    entry is made absolute against this process's working directory: servers run in a folder of
    their own, where a relative entry (``PYTHONPATH=src`` run from a checkout) would name another
    folder or none, and the server would import another copy of mltrail (the venv's) unnoticed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(overrides or {})
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = absolute_path_list(env["PYTHONPATH"])
    return env


def absolute_path_list(value: str) -> str:
    """``value``, an ``os.pathsep``-separated list as ``PYTHONPATH`` holds, with each entry absolute.

    An entry is taken relative to the current working directory, as Python itself takes it; an
    empty entry (Python reads it as the working directory) becomes that directory.
    """
    return os.pathsep.join(os.path.abspath(entry or os.curdir) for entry in value.split(os.pathsep))


def start_server(
    root: Path,
    backend: str | None = None,
    *extra_args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    health_path: str = "/health",
) -> LiveServer:
    """Start ``mltrail server`` in ``root`` and return once ``GET /health`` answers 200.

    ``root`` is created if needed. ``backend`` is the ``--backend-store-uri``
    (default: ``sqlite:///root/mltrail.db``); ``extra_args`` go on the command
    line after it (e.g. ``"--artifacts-destination", path``). ``env`` is merged
    over :func:`server_env`. If the server exits, or has not answered within
    ``timeout`` seconds (it is then killed), raises :class:`RuntimeError` with
    the server's log. ``health_path`` is where readiness is asked (``/p/health`` under
    ``--static-prefix /p``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend or f"sqlite:///{root / 'mltrail.db'}"
    cmd = [
        sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend, *extra_args,
    ]  # fmt: skip
    log_path = root / "server.log"
    # The child keeps its own copy of the file descriptor; ours can be closed at once.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=server_env(env), stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", proc, root, backend)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"mltrail server exited with code {proc.returncode} before answering /health; "
                f"log {log_path}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            if httpx.get(server.url + health_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(
                f"mltrail server did not answer /health within {timeout:g}s; "
                f"log {log_path}:\n{log_path.read_text(errors='replace')}"
            )
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server process, kill it if it has not exited after a grace period, and reap it."""
    proc.terminate()
    try:
        proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_server(server: LiveServer) -> None:
    """Stop a server from :func:`start_server` (see :func:`stop_process`)."""
    stop_process(server.proc)


@contextmanager
def running_server(
    root: Path,
    backend: str | None = None,
    *extra_args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    health_path: str = "/health",
) -> Iterator[LiveServer]:
    """:func:`start_server` for the length of a ``with`` block, stopped however the block ends."""
    server = start_server(root, backend, *extra_args, env=env, timeout=timeout, health_path=health_path)
    try:
        yield server
    finally:
        stop_server(server)
