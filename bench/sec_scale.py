"""Section "scale": search over 100,000 runs, a 1,000,000-point metric history,
and 8 client processes logging at once.

The big stores are seeded by seed.py (rows cloned from a template run inside
each store's own SQLite schema; see its docstring), then read through the
official client like any other call. The concurrency figure is real API traffic:
8 processes each create a run and call log_batch of 100 metrics in a loop, all
released at the same moment; throughput is all metrics over the wall time from
the first start to the last finish.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import seed
from common import BENCH_BIN, BENCH_DIR, NA
from driverproc import DriverProc, client_env
from report import EN_DASH, Section
from servers import Server

CLIENTS = 8


def _seed_runs(servers: dict, drivers: dict, n: int, sec: Section) -> dict[str, str]:
    """Per server, an experiment with ``n`` runs; returns experiment ids."""
    exp_ids: dict[str, str] = {}
    seeded = {}
    for name, d in drivers.items():
        if isinstance(d, NA):
            continue
        ans = d.call("template_run", experiment_name=f"scale-{uuid.uuid4().hex[:6]}")
        if not ans.get("ok"):
            drivers[name] = NA(f"template run failed: {ans.get('error')}")
            continue
        server: Server = servers[name]
        seeded[name] = round(seed.clone_runs(str(server.db_path), ans["run_id"], n - 1), 1)
        exp_ids[name] = ans["experiment_id"]
    sec.notes.append(f"seconds to seed {n:,} runs by SQL cloning (not a server figure): {seeded}")
    return exp_ids


def _seed_history(servers: dict, drivers: dict, exp_ids: dict, n: int, sec: Section) -> dict[str, str]:
    run_ids: dict[str, str] = {}
    seeded = {}
    for name, d in drivers.items():
        if isinstance(d, NA) or name not in exp_ids:
            continue
        ans = d.call("metric_run", experiment_id=exp_ids[name], key="big")
        if not ans.get("ok"):
            continue
        seeded[name] = round(seed.clone_history(str(servers[name].db_path), ans["run_id"], "big", n), 1)
        run_ids[name] = ans["run_id"]
    sec.notes.append(f"seconds to seed the {n:,}-point history by SQL: {seeded}")
    return run_ids


def concurrent_logging(url: str, experiment_id: str, batches: int, batch_size: int = 100) -> float | NA:
    """metrics/s of CLIENTS processes logging at once to one server."""
    cmd = [
        str(BENCH_BIN / "python"), str(BENCH_DIR / "driver.py"), "--concurrent-worker",
        "--experiment-id", experiment_id, "--batches", str(batches), "--batch-size", str(batch_size),
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=client_env(url),
            start_new_session=True,
        )
        for _ in range(CLIENTS)
    ]
    try:
        for p in procs:  # every client has imported mlflow and created its run
            if not p.stdout.readline():
                return NA(f"client failed: {p.stderr.read()[-200:]}")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            line = p.stdout.readline()
            if not line:
                return NA(f"client failed: {p.stderr.read().strip().splitlines()[-1:]}")
            reports.append(json.loads(line))
    finally:
        for p in procs:
            try:
                p.kill()
            except ProcessLookupError:
                pass
            p.wait()
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return sum(r["metrics"] for r in reports) / wall


def run(servers: dict, drivers: dict[str, DriverProc | NA], quick: bool) -> Section:
    n_runs = 5_000 if quick else 100_000
    n_points = 20_000 if quick else 1_000_000
    sec = Section("scale", f"Scale points (median, min{EN_DASH}max)")
    drivers = dict(drivers)

    exp_ids = _seed_runs(servers, drivers, n_runs, sec)
    live = {n: (d if n in exp_ids else NA("not seeded")) for n, d in drivers.items()}
    reps = 2 if quick else 5
    # Each server has its own experiment id, so the A B C turns are taken by hand here.
    times: dict = {}
    rows = {}
    for _ in range(reps):
        for name, d in live.items():
            if isinstance(d, NA) or isinstance(times.get(name), NA):
                continue
            ans = d.call("op_search_runs", experiment_id=exp_ids[name])
            if not ans.get("ok"):
                times[name] = NA(ans.get("error", "failed"))
                continue
            times.setdefault(name, []).append(ans["t"])
            rows[name] = ans.get("rows")
    row = sec.row(f"search_runs over {n_runs:,} runs (3 clauses + order_by, top 100)")
    for name in drivers:
        row.set(name, times.get(name, live[name] if isinstance(live[name], NA) else NA("not run")))
    sec.notes.append(f"search rows returned: {rows}")

    run_ids = _seed_history(servers, drivers, exp_ids, n_points, sec)
    hist = {n: (d if n in run_ids else NA("not seeded")) for n, d in drivers.items()}
    times_h: dict = {}
    points = {}
    for _ in range(1):  # a 1M-point read takes MLflow's client a minute: once is enough
        for name, d in hist.items():
            if isinstance(d, NA) or isinstance(times_h.get(name), NA):
                continue
            ans = d.call("op_get_metric_history", run_id=run_ids[name], key="big")
            if not ans.get("ok"):
                times_h[name] = NA(ans.get("error", "failed"))
                continue
            times_h.setdefault(name, []).append(ans["t"])
            points[name] = ans.get("points")
    row = sec.row(f"get_metric_history of {n_points:,} points")
    for name in drivers:
        row.set(name, times_h.get(name, hist[name] if isinstance(hist[name], NA) else NA("not run")))
    sec.notes.append(f"history points returned: {points}")

    batches = 5 if quick else 25
    row = sec.row(
        f"{CLIENTS} client processes logging at once (log_batch of 100, {batches} each)", "rate", "metrics/s"
    )
    for name, d in drivers.items():
        if isinstance(d, NA) or name not in exp_ids:
            row.set(name, d if isinstance(d, NA) else NA("no experiment"))
            continue
        row.set(name, concurrent_logging(servers[name].url, exp_ids[name], batches))
    return sec
