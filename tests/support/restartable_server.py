"""A real ``mltrail server`` that a test can kill and start again on the same port and database.

For the offline-logging tests: the SDK must find the server back at the URL it
was logging to::

    server = RestartableServer(tmp_path)
    server.start()
    server.kill()      # SIGKILL: the server vanishes mid-run
    server.start()     # same port, same SQLite file
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.live_server import free_port, server_env, stop_process


class RestartableServer:
    """``mltrail server`` on one free port and one SQLite file in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backend = f"sqlite:///{self.root / 'mltrail.db'}"
        self.proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self, timeout: float = 60) -> None:
        """Start the server and return once ``/health`` answers 200."""
        cmd = [
            sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", self.backend,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root, env=server_env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mltrail server exited early:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mltrail server did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown) and wait until the port is closed."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """Stop the server if it runs (SIGTERM, then SIGKILL after a grace period)."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
