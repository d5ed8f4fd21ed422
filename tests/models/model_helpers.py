"""Helpers for model tests: free ports, waiting for HTTP, `mltrail models serve` subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail with the process output if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"server exited with {proc.returncode}:\n{out}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout}s")


class Served:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve_model(model_uri: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Served:
    """``mltrail models serve -m URI`` as a subprocess on a free loopback port, ready to score."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrail", "models", "serve", "-m", model_uri, "-p", str(port), *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", proc)
    except BaseException:
        Served(proc, url).stop()
        raise
    return Served(proc, url)


def start_mltrail_server(root, *extra: str) -> Served:
    """``mltrail server`` on a fresh SQLite store in ``root`` (artifacts served), ready to answer."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltrail",
            "server",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'mltrail.db'}",
            *extra,
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", proc)
    except BaseException:
        Served(proc, url).stop()
        raise
    return Served(proc, url)
