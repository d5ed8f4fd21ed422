"""Section "capacity": requests/s and p50/p99 latency under wrk, 8 connections.

Three endpoints over raw HTTP (no client library in the way): ``runs/get`` of a
run with metrics, params and tags; ``runs/log-batch`` of 10 metrics, each
request with fresh steps (a Lua ``request()`` builds the body, so no server can
win by deduplicating); ``runs/search`` with the ops section's three-clause filter
and ``order_by`` on that section's experiment. Each measurement follows a
one-second warm-up; the servers take turns endpoint by endpoint. Every endpoint
is measured with wrk at 1 thread and at 2 (the same 8 connections): on 2 cores,
wrk's second thread takes CPU from the server, so both figures are shown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import NA
from report import Section
from seed import SEARCH_FILTER, SEARCH_ORDER

CONNECTIONS = 8
THREADS = (1, 2)

# Appended to every script: wrk calls done() once and we print one JSON line.
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

LOG_BATCH_LUA = """
local counter = 0
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  counter = counter + 1
  local step = counter * 64 + tid
  local parts = {}
  for k = 0, 9 do
    parts[#parts + 1] = string.format(
      '{"key": "wrk%d", "value": %d.5, "timestamp": %d, "step": %d}', k, step, 1700000000000 + step, step)
  end
  local body = '{"run_id": "RUN_ID", "metrics": [' .. table.concat(parts, ", ") .. ']}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""

SEARCH_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[BODY]==]
"""


def _scripts(tmp: Path, run_id: str, experiment_id: str) -> dict[str, tuple[str, Path]]:
    search_body = json.dumps(
        {
            "experiment_ids": [experiment_id],
            "filter": SEARCH_FILTER,
            "order_by": SEARCH_ORDER,
            "max_results": 100,
        }
    )
    scripts = {
        "runs/get": (f"/api/2.0/mlflow/runs/get?run_id={run_id}", DONE_LUA),
        "runs/log-batch": (
            "/api/2.0/mlflow/runs/log-batch",
            LOG_BATCH_LUA.replace("RUN_ID", run_id) + DONE_LUA,
        ),
        "runs/search": ("/api/2.0/mlflow/runs/search", SEARCH_LUA.replace("BODY", search_body) + DONE_LUA),
    }
    out = {}
    for name, (path, lua) in scripts.items():
        file = tmp / (name.replace("/", "_") + ".lua")
        file.write_text(lua)
        out[name] = (path, file)
    return out


def wrk(binary: str, url: str, script: Path, seconds: int, threads: int = 2) -> dict | NA:
    cmd = [
        binary,
        f"-t{threads}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        return NA(f"wrk failed: {(res.stderr or res.stdout).strip()[-200:]}")
    return json.loads(lines[-1])


def run(servers: dict, ids: dict[str, dict], quick: bool, wrk_bin: str | None) -> Section:
    counts = " and ".join(str(t) for t in THREADS)
    sec = Section("capacity", f"Server capacity (wrk, {CONNECTIONS} connections, {counts} threads)")
    if wrk_bin is None:
        sec.na_all("wrk is not installed (`apt-get install -y wrk`)")
        return sec
    seconds = 1 if quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    try:
        return _measure(sec, servers, ids, tmp, seconds, quick, wrk_bin)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(
    sec: Section, servers: dict, ids: dict, tmp: Path, seconds: int, quick: bool, wrk_bin: str
) -> Section:
    scripts = {}
    for name, ident in ids.items():
        (tmp / name).mkdir()
        scripts[name] = _scripts(tmp / name, ident["run_id"], ident["experiment_id"])
    for endpoint in ("runs/get", "runs/log-batch", "runs/search"):
        for threads in THREADS:
            _endpoint_rows(sec, servers, scripts, endpoint, threads, seconds, quick, wrk_bin)
    warm = "no warm-up (--quick)" if quick else "after a 1-second warm-up"
    sec.notes.append(
        f"each figure: one {seconds}-second wrk run {warm}; wrk runs on the same 2 cores as the server"
    )
    return sec


def _endpoint_rows(
    sec: Section, servers: dict, scripts: dict, endpoint: str, threads: int, seconds: int, quick: bool, wrk_bin: str
) -> None:
    """Requests/s, p50 and p99 of one endpoint with wrk at ``threads`` threads, server by server."""
    label = f"{endpoint}, {threads} thread{'s' if threads > 1 else ''}"
    rps = sec.row(f"{label}: requests/s", "rate", "req/s")
    p50 = sec.row(f"{label}: p50 latency")
    p99 = sec.row(f"{label}: p99 latency")
    for name, server in servers.items():
        if isinstance(server, NA) or name not in scripts:
            reason = server if isinstance(server, NA) else NA("setup failed")
            for r in (rps, p50, p99):
                r.set(name, reason)
            continue
        path, script = scripts[name][endpoint]
        if not quick:
            wrk(wrk_bin, server.url + path, script, 1, threads)  # warm-up
        out = wrk(wrk_bin, server.url + path, script, seconds, threads)
        if isinstance(out, NA):
            for r in (rps, p50, p99):
                r.set(name, out)
            continue
        ok = out["requests"] - out["non2xx"]
        if out["non2xx"] or out["errors"]:
            sec.notes.append(
                f"{name} {label}: {out['non2xx']} non-2xx answers and {out['errors']} socket errors "
                f"out of {out['requests']} requests (only 2xx counted)"
            )
        rps.set(name, ok / (out["duration_us"] / 1e6))
        p50.set(name, out["p50_us"] / 1e6)
        p99.set(name, out["p99_us"] / 1e6)
