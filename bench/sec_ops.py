"""Section "ops": the same client workload against every server, call by call.

Each operation is repeated ``reps`` times; within a repetition the servers take
turns (A B C, then B C A, ...), so a burst of noise from the shared machine hits
every server alike instead of one server's whole series.

A second table splits each call: the driver reports its own CPU time per call
(encoding the request, HTTP, decoding the answer into entities), which is the
same work whichever server answers. Wall time minus that is the server's share:
its processing plus the transfer. On calls that move thousands of entities the
client's share is a floor no server can go under, so the wall-time ratio to a
slow peer is bounded by it; the server-share table shows the servers alone.
"""

from __future__ import annotations

from common import NA
from driverproc import DriverProc
from report import EN_DASH, TIMES, Section, fmt_time

ARTIFACT_MB = 10
HISTORY_POINTS = 10_000


Series = dict[str, list[float] | NA]


def interleaved(
    drivers: dict[str, DriverProc | NA], op: str, reps: int, **args
) -> tuple[Series, dict[str, dict], Series, Series]:
    """Run ``op`` ``reps`` times per driver, rotating which server goes first.

    Returns the wall times, each driver's last answer, the server shares (wall
    minus the client's CPU) and the client's CPU times, per server.
    """
    times: Series = {n: (d if isinstance(d, NA) else []) for n, d in drivers.items()}
    shares: Series = {n: (d if isinstance(d, NA) else []) for n, d in drivers.items()}
    cpus: Series = {n: (d if isinstance(d, NA) else []) for n, d in drivers.items()}
    last: dict[str, dict] = {}
    names = list(drivers)
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            series = times[name]
            if isinstance(series, NA):
                continue
            ans = drivers[name].call(op, **args)
            if not ans.get("ok"):
                times[name] = shares[name] = cpus[name] = NA(ans.get("error", "failed"))
                continue
            series.append(ans["t"])
            cpu = min(ans.get("cpu", 0.0), ans["t"])
            shares[name].append(ans["t"] - cpu)
            cpus[name].append(cpu)
            last[name] = ans
    return times, last, shares, cpus


def setup(drivers: dict[str, DriverProc | NA]) -> tuple[dict[str, DriverProc | NA], dict[str, dict]]:
    """Create each server's experiment and main run; a server whose setup fails becomes NA."""
    ids: dict[str, dict] = {}
    live: dict[str, DriverProc | NA] = {}
    for name, d in drivers.items():
        if isinstance(d, NA):
            live[name] = d
            continue
        ans = d.call("setup")
        live[name] = d if ans.get("ok") else NA(f"setup failed: {ans.get('error')}")
        if ans.get("ok"):
            ids[name] = ans
    return live, ids


def run(drivers: dict[str, DriverProc | NA], quick: bool) -> list[Section]:
    """Times every operation; ``drivers`` are the ones ``setup`` returned.

    Returns the wall-time table and the server-share table (see the module doc).
    """
    sec = Section("ops", f"Client workload (official mlflow client, one call each; median, min{EN_DASH}max)")
    share = Section(
        "ops_server",
        f"Server share of each call: wall time minus the client's own CPU time (median, min{EN_DASH}max)",
    )
    n_runs = 10 if quick else 40
    reps = {"few": 3 if quick else 7, "many": 10 if quick else 30}
    live = dict(drivers)
    client_cpu: dict[str, float] = {}

    def measure(label: str, op: str, n: int, only: set[str] | None = None, **args) -> dict[str, dict]:
        subset = {k: v for k, v in live.items() if only is None or k in only}
        times, last, shares, cpus = interleaved(subset, op, n, **args)
        row, share_row = sec.row(label), share.row(label)
        for name in drivers:
            row.set(name, times.get(name, NA("not run")))
            share_row.set(name, shares.get(name, NA("not run")))
        ours = cpus.get("mltrail")
        if isinstance(ours, list) and ours:
            client_cpu[label] = sorted(ours)[len(ours) // 2]
        return last

    measure("create_experiment", "op_create_experiment", reps["many"])
    measure("create_run", "op_create_run", n_runs)
    measure(f"log_batch: 10 params, 5 tags, 10 metrics {TIMES} 10 steps", "op_log_run_data", n_runs)
    measure("log_metric (single call)", "op_log_metric", reps["many"])
    measure("log_batch of 1,000 metrics", "op_log_batch", reps["few"])
    measure("get_run", "op_get_run", reps["many"])
    last = measure(f"search_runs over {n_runs} runs (3 clauses + order_by)", "op_search_runs", reps["many"])
    rows = {n: a.get("rows") for n, a in last.items()}
    sec.notes.append(f"search_runs rows returned per server (should agree): {rows}")

    for name, d in live.items():
        if not isinstance(d, NA):
            ans = d.call("prepare_history", points=HISTORY_POINTS)
            if not ans.get("ok"):
                live[name] = NA(f"could not log the history: {ans.get('error')}")
    last = measure(f"get_metric_history of {HISTORY_POINTS:,} points", "op_get_metric_history", reps["few"])
    sec.notes.append(f"history points returned: { {n: a.get('points') for n, a in last.items()} }")

    for d in live.values():
        if not isinstance(d, NA):
            d.call("prepare_blob", mb=ARTIFACT_MB)
    proxied = {n for n in live if n != "fasttrackml"}
    measure(f"log_artifact of {ARTIFACT_MB} MB (upload)", "op_log_artifact", reps["few"], only=proxied)
    measure(f"download_artifacts of {ARTIFACT_MB} MB", "op_download_artifact", reps["few"], only=proxied)
    for row in sec.rows[-2:] + share.rows[-2:]:
        if "fasttrackml" in drivers:
            row.set("fasttrackml", NA("no artifact proxy; the client copies to a file:// root itself"))
    share.notes.append(
        "The client's own CPU time per call (median, against mltrail; the same work against every server): "
        + "; ".join(f"{label}: {fmt_time(t)}" for label, t in client_cpu.items())
    )
    ceilings = _ceilings(sec, client_cpu)
    if ceilings:
        share.notes.append(
            "The most any server could be faster than MLflow in wall time with this client, answering "
            "in zero time (MLflow's wall time / the client's CPU time): " + "; ".join(ceilings)
        )
    return [sec, share]


def _ceilings(sec: Section, client_cpu: dict[str, float]) -> list[str]:
    """Per row, MLflow's median wall time over the client's own CPU time, as "label: N x"."""
    out = []
    for row in sec.rows:
        peer, cpu = row.values.get("mlflow"), client_cpu.get(row.op)
        if isinstance(peer, dict) and cpu and not peer.get("lower_bound"):
            out.append(f"{row.op}: {peer['median'] / cpu:.1f}{TIMES}")
    return out
