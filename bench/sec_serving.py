"""Section "serving": ``/invocations`` of a trivial pyfunc model under wrk.

Each SDK saves the same tiny ``PythonModel`` (it returns one 0 per input row)
with its own ``pyfunc.save_model`` and serves it with its own command:
``mltrail models serve -m DIR`` and ``mlflow models serve -m DIR --env-manager
local``, both with their default worker count. FastTrackML serves no models.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from common import BENCH_BIN, NA, VENV_BIN
from report import Section
from sec_capacity import CONNECTIONS, DONE_LUA, wrk
from servers import Server

# Defined in __main__ so cloudpickle stores the class by value: the served
# model needs no importable module of ours.
SAVE_MODEL = """
import sys
import {sdk}.pyfunc as pyfunc

class Zeros(pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0] * len(model_input)

pyfunc.save_model(sys.argv[1], python_model=Zeros())
"""

# One fresh interpreter per sample: the SDK is imported first (its own row elsewhere),
# then only load_model is on the clock, as a user's script would see it.
LOAD_MODEL = """
import sys, time
import {sdk}.pyfunc as pyfunc
t = time.perf_counter()
pyfunc.load_model(sys.argv[1])
print(time.perf_counter() - t)
"""
LOAD_SAMPLES = 5

BODY = '{"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}'
INVOKE_LUA = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{BODY}]==]
"""


class ModelServer(Server):
    """A ``models serve`` process; ready when ``/ping`` answers."""

    health_path = "/ping"

    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir

    def command(self) -> list[str]:
        if self.name == "mltrail":
            return [
                str(VENV_BIN / "mltrail"),
                "models",
                "serve",
                "-m",
                str(self.model_dir),
                "-p",
                str(self.port),
            ]
        return [
            str(BENCH_BIN / "mlflow"), "models", "serve", "-m", str(self.model_dir),
            "-p", str(self.port), "-h", "127.0.0.1", "--env-manager", "local",
        ]  # fmt: skip


def _save(sdk: str, python: Path, dest: Path) -> NA | None:
    res = subprocess.run(
        [str(python), "-c", SAVE_MODEL.format(sdk=sdk), str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        return NA(f"{sdk}.pyfunc.save_model failed: {res.stderr.strip().splitlines()[-1:]}")
    return None


def _load_times(sdk: str, python: Path, model_dir: Path, samples: int) -> list[float] | NA:
    times = []
    for _ in range(samples):
        res = subprocess.run(
            [str(python), "-c", LOAD_MODEL.format(sdk=sdk), str(model_dir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if res.returncode != 0:
            return NA(f"{sdk}.pyfunc.load_model failed: {res.stderr.strip().splitlines()[-1:]}")
        times.append(float(res.stdout.strip().splitlines()[-1]))
    return times


def run(quick: bool, wrk_bin: str | None) -> Section:
    sec = Section(
        "serving", f"Model serving: POST /invocations of a trivial pyfunc (wrk, {CONNECTIONS} connections)"
    )
    sec.columns = ("mltrail", "mlflow")
    seconds = 2 if quick else 5
    rows = {
        "load": sec.row(f"pyfunc.load_model of the saved model (fresh interpreter, {LOAD_SAMPLES} runs)"),
        "start": sec.row("models serve start-to-ready (spawn → first 200 from /ping)"),
        "rps": sec.row("/invocations: requests/s", "rate", "req/s"),
        "p50": sec.row("/invocations: p50 latency"),
        "p99": sec.row("/invocations: p99 latency"),
    }
    if wrk_bin is None:
        sec.na_all("wrk is not installed (`apt-get install -y wrk`)")
        return sec
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        return _measure(sec, rows, tmp, seconds, wrk_bin)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(sec: Section, rows: dict, tmp: Path, seconds: int, wrk_bin: str) -> Section:
    script = tmp / "invoke.lua"
    script.write_text(INVOKE_LUA + DONE_LUA)
    for sdk, python in (("mltrail", VENV_BIN / "python"), ("mlflow", BENCH_BIN / "python")):
        problem = _save(sdk, python, tmp / f"model-{sdk}")
        rows["load"].set(sdk, problem or _load_times(sdk, python, tmp / f"model-{sdk}", LOAD_SAMPLES))
        server = None if problem else ModelServer(sdk, tmp / f"model-{sdk}")
        started = problem or server.start(timeout=120)
        if isinstance(started, NA):
            for key, r in rows.items():
                if key != "load":  # measured above, without a server
                    r.set(sdk, started)
            continue
        try:
            rows["start"].set(sdk, started)
            url = server.url + "/invocations"
            wrk(wrk_bin, url, script, 1)  # warm-up
            out = wrk(wrk_bin, url, script, seconds)
            if isinstance(out, NA) or out["requests"] == out["non2xx"]:
                reason = out if isinstance(out, NA) else NA("every request failed (non-2xx)")
                for key in ("rps", "p50", "p99"):
                    rows[key].set(sdk, reason)
                continue
            rows["rps"].set(sdk, (out["requests"] - out["non2xx"]) / (out["duration_us"] / 1e6))
            rows["p50"].set(sdk, out["p50_us"] / 1e6)
            rows["p99"].set(sdk, out["p99_us"] / 1e6)
            if out["non2xx"]:
                sec.notes.append(f"{sdk}: {out['non2xx']} non-2xx answers of {out['requests']}")
        finally:
            server.cleanup()
    return sec
