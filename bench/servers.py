"""Starting and stopping the three tracking servers, each on a free loopback port
with a fresh SQLite store and artifact folder in its own temporary directory.

Every server runs in its own process group so that stopping it also stops the
workers it forked (``mlflow server`` runs several). ``stop_all`` is registered
with ``atexit`` and run on SIGTERM, and ``run.py`` calls it in ``finally``: a
crashed or interrupted benchmark leaves no server behind.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import BENCH_BIN, MLTRAIL_WORKERS_ENV, NA, VENV_BIN, free_port, http_ok, rss_bytes, wait_until

_RUNNING: list[Server] = []


class Server:
    """One tracking server process: ``start()`` returns seconds to ready or an NA."""

    # Polled until it answers 200; model servers override it with "/ping".
    health_path = "/health"

    def __init__(self, name: str, workdir: Path | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.db_path = self.workdir / f"{name}.db"
        self.artifacts = self.workdir / "artifacts"
        self.proc: subprocess.Popen | None = None
        self.peak_rss = 0
        self.idle_rss = 0
        self.idle_rss_main = 0

    def command(self) -> list[str]:
        db_uri = f"sqlite:///{self.db_path}"  # absolute path: sqlite:////tmp/...
        if self.name == "mltrail":
            return [
                str(VENV_BIN / "mltrail"), "server",
                "--backend-store-uri", db_uri,
                "--artifacts-destination", str(self.artifacts),
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", os.environ.get(MLTRAIL_WORKERS_ENV, "1"),
            ]  # fmt: skip
        if self.name == "mlflow":
            return [
                str(BENCH_BIN / "mlflow"), "server",
                "--backend-store-uri", db_uri,
                "--artifacts-destination", str(self.artifacts),
                "--host", "127.0.0.1", "--port", str(self.port),
            ]  # fmt: skip
        if self.name == "fasttrackml":
            # FastTrackML's own DSN form: sqlite:// followed by the absolute path.
            return [
                str(BENCH_BIN / "fml"), "server",
                "--listen-address", f"127.0.0.1:{self.port}",
                "--database-uri", f"sqlite://{self.db_path}",
                "--default-artifact-root", str(self.artifacts),
                "--log-level", "warn",
            ]  # fmt: skip
        raise ValueError(self.name)

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def log_tail(self, n: int = 400) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:].strip()
        except OSError:
            return ""

    def start(self, timeout: float = 180.0) -> float | NA:
        """Start the server and poll its health path until it answers; seconds taken."""
        cmd = self.command()
        if not Path(cmd[0]).exists():
            return NA(f"{cmd[0]} not installed")
        self.artifacts.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # The peers' server spawns helpers by name (uvicorn, gunicorn): find them in their venv.
        env["PATH"] = f"{Path(cmd[0]).parent}:{env.get('PATH', '')}"
        for var in [v for v in env if v.startswith(("MLFLOW_", "MLTRAIL_"))]:
            env.pop(var)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it for its lifetime
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        _RUNNING.append(self)
        ready = wait_until(
            lambda: http_ok(f"{self.url}{self.health_path}") or self.proc.poll() is not None,
            timeout,
            interval=0.01,
        )
        elapsed = time.perf_counter() - t0
        if self.proc.poll() is not None:
            self.stop()
            return NA(f"{self.name} server exited: {self.log_tail(200) or 'no output'}")
        if not ready:
            self.stop()
            return NA(f"{self.name} server not ready after {timeout:.0f}s")
        return elapsed

    def rss(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0
        value = rss_bytes(self.proc.pid)
        self.peak_rss = max(self.peak_rss, value)
        return value

    def stop(self) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        if self in _RUNNING:
            _RUNNING.remove(self)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def stop_all() -> None:
    """Stop every server this process started (idempotent)."""
    for server in list(_RUNNING):
        server.stop()


def _on_sigterm(signum, frame) -> None:
    # Turn SIGTERM into the same path as Ctrl-C so every ``finally`` runs.
    raise KeyboardInterrupt


atexit.register(stop_all)
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_sigterm)


class RssSampler:
    """Samples the RSS of running servers in the background to find each one's peak."""

    def __init__(self, servers: list[Server], interval: float = 0.25) -> None:
        self.servers = servers
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        # Leave SIGINT/SIGTERM to the main thread: delivered here, they would not
        # interrupt the main thread's blocking reads and Ctrl-C would hang.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        while not self._stop.wait(self.interval):
            for s in self.servers:
                s.rss()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
