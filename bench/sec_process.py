"""Section "process": SDK import time, server start-to-ready, idle and peak memory.

Start-to-ready is the time from spawning the server command to the first 200
from ``/health``, over fresh stores, each server started alone (never while
another one is starting). Idle RSS is read once every server is up and has
sat still for a second; peak RSS is the highest value the background sampler
saw during the ops, capacity and scale sections (process and its workers).
"""

from __future__ import annotations

import subprocess
import time

from common import BENCH_BIN, NA, VENV_BIN, rss_bytes
from report import EN_DASH, Section
from servers import Server

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def start_servers(
    names: list[str], problems: dict[str, str], quick: bool
) -> tuple[dict[str, Server | NA], dict[str, list[float] | NA]]:
    """Start each server ``reps`` times (keeping the last one running)."""
    reps = 1 if quick else 3
    servers: dict[str, Server | NA] = {}
    starts: dict[str, list[float] | NA] = {}
    for name in names:
        if name in problems and name != "mltrail":
            servers[name] = starts[name] = NA(problems[name])
            continue
        times: list[float] = []
        for rep in range(reps):
            server = Server(name)
            result = server.start()
            if isinstance(result, NA):
                print(f"[servers] {name}: {result.reason}", flush=True)
                servers[name] = starts[name] = result
                server.cleanup()
                break
            times.append(result)
            if rep < reps - 1:
                server.cleanup()
            else:
                servers[name] = server
                starts[name] = times
                print(f"[servers] {name} ready at {server.url} in {result:.2f} s", flush=True)
    time.sleep(1.0)
    for s in servers.values():
        if not isinstance(s, NA):
            s.idle_rss = s.rss()
            s.peak_rss = s.idle_rss
            s.idle_rss_main = rss_bytes(s.proc.pid, tree=False)
    return servers, starts


def import_times(python: str, module: str, reps: int) -> list[float] | NA:
    """Seconds to ``import module`` in fresh interpreters (in-process clock, best-of is min)."""
    times: list[float] = []
    for _ in range(reps):
        res = subprocess.run(
            [python, "-c", IMPORT_SNIPPET.format(mod=module)], capture_output=True, text=True, timeout=120
        )
        if res.returncode != 0:
            return NA(f"import {module} failed: {res.stderr.strip().splitlines()[-1:]}")
        times.append(float(res.stdout.strip().splitlines()[-1]))
    return times


def run(servers: dict, starts: dict, drivers: dict, quick: bool) -> Section:
    sec = Section("process", f"Process figures (median, min{EN_DASH}max)")
    reps = 2 if quick else 7
    row = sec.row(f"import the SDK (fresh interpreter, {reps} runs)")
    row.set("mltrail", import_times(str(VENV_BIN / "python"), "mltrail", reps))
    row.set("mlflow", import_times(str(BENCH_BIN / "python"), "mlflow", reps))
    row.set("fasttrackml", NA("no SDK of its own for 3.x: users import mlflow"))
    row = sec.row("server start-to-ready (spawn → first 200 from /health)")
    for name, times in starts.items():
        row.set(name, times)
    idle = sec.row("server RSS, idle (process + workers)", kind="bytes")
    main = sec.row("server RSS, idle, the started process alone", kind="bytes")
    peak = sec.row("server RSS, peak during the ops, capacity and scale sections", kind="bytes")
    for name, server in servers.items():
        if isinstance(server, NA):
            for r in (idle, main, peak):
                r.set(name, server)
        else:
            idle.set(name, float(server.idle_rss))
            main.set(name, float(server.idle_rss_main))
            peak.set(name, float(server.peak_rss))
    sec.notes.append(
        "RSS sums every process of the server (MLflow forks workers), so pages shared "
        "between forked workers are counted once per worker, as `ps` shows them."
    )
    return sec
