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
from report import EN_DASH, Section, at_least
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


class ClientPool:
    """CLIENTS logging processes, started once and reused for every server.

    They start (and import mlflow) while the stores are being seeded, so the
    import cost is paid once and never inside a measurement.
    """

    def __init__(self, batches: int, batch_size: int = 100) -> None:
        cmd = [
            str(BENCH_BIN / "python"), str(BENCH_DIR / "driver.py"), "--concurrent-worker",
            "--batches", str(batches), "--batch-size", str(batch_size),
        ]  # fmt: skip
        self.procs = [
            subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=client_env("http://127.0.0.1:9"),
                start_new_session=True,
            )
            for _ in range(CLIENTS)
        ]
        self.started = False

    def _send_all(self, text: str) -> None:
        for p in self.procs:
            p.stdin.write(text + "\n")
            p.stdin.flush()

    def _read_all(self) -> list[dict] | NA:
        answers = []
        for p in self.procs:
            line = p.stdout.readline()
            if not line:
                return NA("a logging client exited")
            answers.append(json.loads(line))
        errors = [a["error"] for a in answers if "error" in a]
        return NA(f"client failed: {errors[0]}") if errors else answers

    def measure(self, url: str, experiment_id: str) -> float | NA:
        """metrics/s of all clients logging at once to one server."""
        if not self.started:  # the first "ready" line: mlflow imported
            if isinstance(first := self._read_all(), NA):
                return first
            self.started = True
        self._send_all(json.dumps({"uri": url, "experiment_id": experiment_id}))
        if isinstance(ready := self._read_all(), NA):
            return ready
        self._send_all("go")
        reports = self._read_all()
        if isinstance(reports, NA):
            return reports
        wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        return sum(r["metrics"] for r in reports) / wall

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _timed_turns(
    drivers: dict, op: str, reps: int, timeout: float, per_server_args: dict[str, dict]
) -> tuple[dict, dict]:
    """``reps`` turns of ``op`` (A B C, A B C ...), each server with its own args.

    A call that exceeds ``timeout`` seconds is recorded as a lower bound and that
    server is not asked again (and is stopped by the caller: its worker may still
    be busy with the abandoned request and would slow the others down).
    """
    times: dict = {}
    last: dict = {}
    for _ in range(reps):
        for name, d in drivers.items():
            if isinstance(d, NA) or name not in per_server_args or isinstance(times.get(name), NA | dict):
                continue
            ans = d.call(op, timeout=timeout, **per_server_args[name])
            if ans.get("ok"):
                times.setdefault(name, []).append(ans["t"])
                last[name] = ans
            elif ans.get("t", 0) >= timeout * 0.95:
                times[name] = at_least(timeout)
            else:
                times[name] = NA(ans.get("error", "failed"))
    return times, last


def _fill(row, drivers: dict, times: dict, why_missing: str) -> None:
    for name, d in drivers.items():
        row.set(name, times.get(name, d if isinstance(d, NA) else NA(why_missing)))


def run(servers: dict, drivers: dict[str, DriverProc | NA], quick: bool) -> Section:
    """Seeds, then: concurrency, the long history, and the big search last.

    The big search goes last because a server that cannot answer it in time
    is stopped right after (see ``_timed_turns``).
    """
    n_runs = 5_000 if quick else 100_000
    n_points = 20_000 if quick else 1_000_000
    budget = 30.0 if quick else 60.0
    sec = Section("scale", f"Scale points (median, min{EN_DASH}max)")
    drivers = dict(drivers)
    search_row = sec.row(f"search_runs over {n_runs:,} runs (3 clauses + order_by, top 100)")
    history_row = sec.row(f"get_metric_history of {n_points:,} points")
    batches = 5 if quick else 25
    conc_row = sec.row(
        f"{CLIENTS} client processes logging at once (log_batch of 100, {batches} each)", "rate", "metrics/s"
    )

    pool = ClientPool(batches)
    try:
        exp_ids = _seed_runs(servers, drivers, n_runs, sec)
        run_ids = _seed_history(servers, drivers, exp_ids, n_points, sec)
        for name, d in drivers.items():
            if isinstance(d, NA) or name not in exp_ids:
                conc_row.set(name, d if isinstance(d, NA) else NA("no experiment"))
                continue
            conc_row.set(name, pool.measure(servers[name].url, exp_ids[name]))
    finally:
        pool.close()

    # One read each: a 1M-point history takes MLflow's client about a minute per read.
    args = {n: {"run_id": r, "key": "big"} for n, r in run_ids.items()}
    times, last = _timed_turns(drivers, "op_get_metric_history", 1, 600.0, args)
    _fill(history_row, drivers, times, "not seeded")
    sec.notes.append(f"history points returned: { {n: a.get('points') for n, a in last.items()} }")

    args = {n: {"experiment_id": e} for n, e in exp_ids.items()}
    times, last = _timed_turns(drivers, "op_search_runs", 2 if quick else 5, budget, args)
    _fill(search_row, drivers, times, "not seeded")
    sec.notes.append(f"search rows returned: { {n: a.get('rows') for n, a in last.items()} }")
    for name, value in times.items():
        if isinstance(value, dict):
            servers[name].stop()
            sec.notes.append(
                f"{name}: no answer to the {n_runs:,}-run search within {budget:.0f} s; server stopped"
            )
    return sec
