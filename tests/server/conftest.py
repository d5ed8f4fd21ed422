"""A live ``mltrail server`` subprocess on a free loopback port, with a fresh store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen
    root: Path
    backend: str

    @property
    def artifacts(self) -> Path:
        return self.root / "mltrail-artifacts"

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def start_server(root: Path, backend: str | None = None, *extra: str) -> LiveServer:
    """Start ``mltrail server`` in ``root`` and wait until /health answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend or f"sqlite:///{root / 'mltrail.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    cmd = [sys.executable, "-m", "mltrail.cli.main", "server", "--port", str(port),
           "--backend-store-uri", backend, *extra]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(root / 'server.log').read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return LiveServer(url, proc, root, backend)
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(server: LiveServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """One server per test module, on a fresh SQLite file and artifact folder."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:
    """An httpx client pointed at the live server."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
