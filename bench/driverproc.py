"""The harness side of driver.py: a long-lived official-client process per server."""

from __future__ import annotations

import json
import os
import subprocess
import time

from common import BENCH_BIN, BENCH_DIR, NA, VENV_BIN

# The same client settings for every server: no telemetry, and two quick retries
# instead of MLflow's default minutes of backoff (calls with a time budget get none).
CLIENT_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "300",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}


def client_env(tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    env.update(CLIENT_ENV)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


class DriverProc:
    """Sends JSON commands to one driver.py process and reads its answers."""

    def __init__(self, tracking_uri: str, sdk: str = "mlflow") -> None:
        env = client_env(tracking_uri)
        python = BENCH_BIN / "python"
        if sdk == "mltrail":  # mltrail's own SDK, from .venv, logging synchronously like the client above
            python = VENV_BIN / "python"
            env.update(BENCH_SDK="mltrail", MLTRAIL_ASYNC_LOGGING="false")
        self.proc = subprocess.Popen(
            [str(python), str(BENCH_DIR / "driver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        hello = self.proc.stdout.readline()
        if not hello:
            raise RuntimeError("driver did not start (is mlflow installed in .bench-venv?)")
        self.import_s = json.loads(hello)["import_s"]

    def call(self, op: str, timeout: float | None = None, **args) -> dict:
        """Run one command; returns the answer dict ({"ok", "t", ...} or {"ok": False, "error"}).

        ``timeout`` (seconds) bounds each HTTP request of this command, without retries.
        """
        if self.proc.poll() is not None:
            return {"ok": False, "error": "driver process exited"}
        self.proc.stdin.write(json.dumps({"op": op, "args": args, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"ok": False, "error": "driver process exited"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_drivers(urls: dict[str, str]) -> dict[str, DriverProc | NA]:
    """One driver per server URL; a driver that cannot start becomes an NA."""
    out: dict[str, DriverProc | NA] = {}
    for name, url in urls.items():
        try:
            out[name] = DriverProc(url)
        except (RuntimeError, OSError, ValueError) as exc:
            out[name] = NA(str(exc))
    return out


def timed_calls(driver: DriverProc, op: str, reps: int, **args) -> tuple[list[float], dict] | NA:
    """``reps`` calls of ``op`` on one driver (no interleaving); seconds of each call."""
    times: list[float] = []
    last: dict = {}
    for _ in range(reps):
        ans = driver.call(op, **args)
        if not ans.get("ok"):
            return NA(ans.get("error", "failed"))
        times.append(ans["t"])
        last = ans
    return times, last


def wall(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
