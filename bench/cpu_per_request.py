"""Server CPU time per request on the hot routes, steady under machine load.

Requests/s under wrk moves with whatever else the machine runs; the CPU time the
server process spends per request moves far less. This starts ``mltrail server``
on a fresh SQLite file (with the ``PYTHONPATH`` this script runs under), seeds
one experiment of 60 runs the way the bench's ``ops`` section does (10 params, 5
tags, 10 metrics of 2 steps each; the search filter matches 5 of them), then
for each route sends ``--n`` requests over one keep-alive connection and reads
the server's user+system CPU from ``/proc/<pid>/stat`` before and after::

    PYTHONPATH=$PWD/src python bench/cpu_per_request.py --n 3000 --rounds 3

Prints one line per route and round (µs of server CPU per request) and the
median of the rounds. ``--callgrind`` runs the server under valgrind's callgrind
instead (slow: use ``--n 200``) and prints instructions per request from
``callgrind_control``'s totals.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from seed import SEARCH_FILTER, SEARCH_ORDER, search_values

TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


class Conn:
    """One keep-alive HTTP/1.1 connection sending JSON."""

    def __init__(self, port: int) -> None:
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.c.request(method, path, body=data, headers=headers)
        r = self.c.getresponse()
        out = r.read()
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: {r.status} {out[:300]!r}")
        return json.loads(out) if out.startswith(b"{") else {}


def _seed(conn: Conn, n_runs: int) -> tuple[str, str]:
    api = "/api/2.0/mlflow"
    exp = conn.call("POST", f"{api}/experiments/create", {"name": "cpu-bench"})["experiment_id"]
    run_ids = []
    for i in range(n_runs):
        run = conn.call("POST", f"{api}/runs/create", {"experiment_id": exp, "start_time": 1700000000000})
        rid = run["run"]["info"]["run_id"]
        vals = search_values(i)
        rnd = random.Random(i)
        metrics = [
            {"key": f"m{k}", "value": vals.get(f"m{k}", rnd.random()) if s == 1 else rnd.random(),
             "timestamp": 1700000000000 + s, "step": s}
            for k in range(10) for s in range(2)
        ]  # fmt: skip
        params = [{"key": "p0", "value": vals["p0"]}] + [
            {"key": f"p{k}", "value": f"value-{k}-{i}"} for k in range(1, 10)
        ]
        tags = [{"key": "t0", "value": vals["t0"]}] + [{"key": f"t{k}", "value": f"tag-{k}"} for k in range(1, 5)]
        conn.call("POST", f"{api}/runs/log-batch", {"run_id": rid, "metrics": metrics, "params": params, "tags": tags})
        run_ids.append(rid)
    return exp, run_ids[5]


def _routes(exp: str, run_id: str) -> dict:
    api = "/api/2.0/mlflow"
    search = {"experiment_ids": [exp], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}
    history = f"{api}/metrics/get-history?run_id={run_id}&metric_key=m0"
    counter = [0]

    def log_batch() -> dict:
        counter[0] += 1
        step = counter[0]
        return {
            "run_id": run_id,
            "metrics": [
                {"key": f"wrk{k}", "value": step + 0.5, "timestamp": 1700000000000 + step, "step": step}
                for k in range(10)
            ],
        }

    return {
        "health": lambda: ("GET", "/health", None),
        "runs/get": lambda: ("GET", f"{api}/runs/get?run_id={run_id}", None),
        "runs/search": lambda: ("POST", f"{api}/runs/search", search),
        "runs/log-batch": lambda: ("POST", f"{api}/runs/log-batch", log_batch()),
        "metrics/get-history": lambda: ("GET", history, None),
    }


def _callgrind(pid: int, flag: str) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def _callgrind_total(root: Path, pid: int) -> float:
    """Instructions counted since the last zeroing: dump, then read the newest dump's totals."""
    _callgrind(pid, "-d")
    newest = max(root.glob("cg.out.*"), key=lambda p: p.stat().st_mtime_ns)
    for line in newest.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return float(line.split()[1])
    raise RuntimeError(f"no totals in {newest}")


@contextlib.contextmanager
def running_server(callgrind: bool, prefix: str) -> Iterator[tuple[subprocess.Popen, Path, Conn]]:
    """``mltrail server`` on a new SQLite file (under valgrind's callgrind if asked), with a
    keep-alive connection to it once ``/health`` answers; stopped on exit."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    port = _free_port()
    cmd = [sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root / 'mltrail.db'}"]  # fmt: skip
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={root}/cg.out", "--dump-instr=no", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    log = open(root / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                Conn(port).call("GET", "/health")
                break
            except (OSError, http.client.HTTPException, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()) from None
                time.sleep(0.1)
        yield proc, root, Conn(port)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def measure(
    proc: subprocess.Popen, root: Path, conn: Conn, routes: dict, args: argparse.Namespace
) -> None:
    """Send each route's requests in rounds (after a warm-up) and print the server's CPU time
    (or instructions, with ``--callgrind``) per request, each round and the median."""
    wanted = [r for r in args.only.split(",") if r]
    results: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(args.rounds):
        for name, make in routes.items():
            if wanted and name not in wanted:
                continue
            for _ in range(min(200, args.n)):
                conn.call(*make())
            if args.callgrind:
                _callgrind(proc.pid, "-z")  # zero the counts, collect over the n requests only
            before = _cpu_seconds(proc.pid)
            for _ in range(args.n):
                conn.call(*make())
            after = _cpu_seconds(proc.pid)
            if args.callgrind:
                instructions = _callgrind_total(root, proc.pid) / args.n
                results[name].append(instructions)
                print(f"{name}: {instructions / 1e3:.0f} k instructions per request", flush=True)
                continue
            user, system = ((a - b) / args.n * 1e6 for a, b in zip(after, before, strict=True))
            results[name].append(user + system)
            print(f"{name}: {user + system:.0f} µs CPU per request ({user:.0f} user, {system:.0f} system)", flush=True)
    unit, scale = ("k instructions", 1e-3) if args.callgrind else ("µs", 1.0)
    for name, vals in results.items():
        if vals:
            print(f"== {name}: median {statistics.median(vals) * scale:.0f} {unit} "
                  f"(min {min(vals) * scale:.0f}, max {max(vals) * scale:.0f})")  # fmt: skip


def measure_options(n: int) -> argparse.ArgumentParser:
    """The options :func:`measure` reads: ``--n`` requests per round (default ``n``), ``--rounds``,
    ``--callgrind`` (instructions instead of CPU time) and ``--only`` (comma-separated routes)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=n)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--only", default="")
    return ap


def main() -> None:
    ap = measure_options(3000)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    with running_server(args.callgrind, "bench-cpu-") as (proc, root, conn):
        exp, run_id = _seed(conn, args.runs)
        found = conn.call("POST", "/api/2.0/mlflow/runs/search",
                          {"experiment_ids": [exp], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER})  # fmt: skip
        print(f"search returns {len(found.get('runs', []))} runs", flush=True)
        measure(proc, root, conn, _routes(exp, run_id), args)


if __name__ == "__main__":
    main()
