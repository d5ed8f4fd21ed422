"""The mltrail SDK's own CPU per call against a live ``mltrail server``, old code against new.

Starts one ``mltrail server`` (code from ``--server-path``, default this checkout's
``src``) on a fresh SQLite file, then for each round and each SDK tree given with
``--sdk NAME=PATH`` runs a worker process with that tree first on ``PYTHONPATH``.
The worker makes its own experiment, seeds ``--seed-runs`` runs the way
``driver.run_data`` logs them, warms up, then times ``--n`` calls of each operation
with :func:`time.process_time` around each call (the worker's own CPU: the server runs
in another process) and prints µs per call. Trees take turns round by round::

    python bench/sdk_client_cpu.py --sdk old=/work/main/src --sdk new=$PWD/src --rounds 3

``--profile NAME`` instead runs that tree's worker once under cProfile and prints the
top functions of each operation.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPS = ["create_experiment", "create_run", "log_batch", "log_metric", "get_run", "search_runs"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(url: str, n: int, seed_runs: int, profile: bool, ops: list[str], counted: bool = False) -> None:
    """Runs in the child: time each operation ``n`` times, print one JSON line."""
    import cProfile
    import itertools
    import pstats
    import uuid

    sys.path.insert(0, str(HERE))
    from driver import run_data
    from mltrail.tracking.client import MlflowClient
    from seed import SEARCH_FILTER, SEARCH_ORDER

    client = MlflowClient(url)
    exp = client.create_experiment(f"cpu-{uuid.uuid4().hex[:10]}")
    for i in range(seed_runs):
        rid = client.create_run(exp).info.run_id
        metrics, params, tags = run_data(i)
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
    main = client.create_run(exp, run_name="main").info.run_id
    client.log_batch(main, *run_data(0))
    other = client.create_experiment(f"cpu-w-{uuid.uuid4().hex[:10]}")  # search_runs reads exp only
    runs: list[str] = []  # made by create_run (warm-up + timed): each gets one log_batch
    filled = [0]
    step = [0]

    def op_create_experiment() -> None:
        client.create_experiment(f"cpu-e-{uuid.uuid4().hex[:12]}")

    def op_create_run() -> None:
        runs.append(client.create_run(other).info.run_id)

    batches = [run_data(seed_runs + i) for i in range(n + 50)] if "log_batch" in ops else []  # untimed

    def op_log_batch() -> None:
        metrics, params, tags = batches[filled[0]]
        rid = runs[filled[0]]
        filled[0] += 1
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)

    def op_log_metric() -> None:
        step[0] += 1
        client.log_metric(main, "single", 0.5, step=step[0], synchronous=True)

    def op_get_run() -> None:
        client.get_run(main)

    def op_search_runs() -> None:
        client.search_runs([exp], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=100)

    scope = locals()
    fns = {name: scope[f"op_{name}"] for name in OPS}
    out: dict[str, float] = {}
    for name in ops:
        fn = fns[name]
        if name == "log_batch" and not runs:  # runs to fill, made untimed
            for _ in range(n + 50):
                op_create_run()
        for _ in range(50):
            fn()
        prof = cProfile.Profile(time.process_time) if profile else None
        pt = time.process_time
        total = 0.0
        if counted:  # under callgrind --toggle-collect=starmap_next: only the calls are counted
            for _ in itertools.starmap(fn, itertools.repeat((), n)):
                pass
            continue
        if prof is not None:
            prof.enable()
        for _ in range(n):
            t0 = pt()
            fn()
            total += pt() - t0
        if prof is not None:
            prof.disable()
            print(f"==== {name}", file=sys.stderr)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        out[name] = total / n * 1e6
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sdk", action="append", default=[], help="NAME=PATH of an SDK tree's src")
    ap.add_argument("--server-path", default=str(HERE.parent / "src"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed-runs", type=int, default=40)
    ap.add_argument("--profile", default="")
    ap.add_argument("--worker", default="")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--callgrind", action="store_true", help="instructions per call (see the docstring)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.seed_runs, bool(args.profile), args.ops.split(","), args.callgrind)
        return
    trees = dict(s.split("=", 1) for s in args.sdk) or {"this": str(HERE.parent / "src")}
    root = Path(tempfile.mkdtemp(prefix="bench-sdkcpu-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    server_env = {**env, "PYTHONPATH": args.server_path}
    cmd = [sys.executable, "-m", "mltrail.cli.main", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root / 'mltrail.db'}"]  # fmt: skip
    log = open(root / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=root, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()) from None
                time.sleep(0.2)
        ops = args.ops.split(",")
        env["BENCH_SDK"] = "mltrail"

        def run_worker(name: str, n: int, op_list: list[str], prefix: list[str]) -> str:
            wcmd = [*prefix, sys.executable, __file__, "--worker", url, "--n", str(n), "--seed-runs",
                    str(args.seed_runs), "--ops", ",".join(op_list)] + (["--callgrind"] if prefix else [])  # fmt: skip
            wenv = {**env, "PYTHONPATH": f"{trees[name]}:{HERE}"}
            done = subprocess.run(wcmd, env=wenv, capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(done.stderr)
            return done.stdout if not prefix else done.stderr

        if args.profile:  # cProfile's report goes to the worker's stderr
            wenv = {**env, "PYTHONPATH": f"{trees[args.profile]}:{HERE}"}
            wcmd = [sys.executable, __file__, "--worker", url, "--n", str(args.n), "--seed-runs",
                    str(args.seed_runs), "--ops", ",".join(ops), "--profile", "1"]  # fmt: skip
            print(subprocess.run(wcmd, env=wenv, capture_output=True, text=True, check=True).stderr)
            return
        results: dict[str, dict[str, list[float]]] = {t: {op: [] for op in ops} for t in trees}
        for _ in range(args.rounds):
            for name in trees:
                if args.callgrind:  # user-space instructions per call, one worker per operation
                    row = {}
                    for op in ops:
                        out = root / f"cg-{name}-{op}.out"
                        text = run_worker(name, args.n, [op], ["valgrind", "--tool=callgrind",
                                          f"--callgrind-out-file={out}", "--dump-instr=no", "--collect-atstart=no",
                                          "--toggle-collect=starmap_next"])  # fmt: skip
                        row[op] = int(text.rsplit("Collected : ", 1)[1].split()[0]) / args.n
                else:
                    row = json.loads(run_worker(name, args.n, ops, []).strip().splitlines()[-1])
                unit = "instructions" if args.callgrind else "µs"
                print(name, " ".join(f"{op}={row[op]:.1f}" for op in ops), unit, flush=True)
                for op in ops:
                    results[name][op].append(row[op])
        print("median", "instructions" if args.callgrind else "µs of SDK CPU", "per call:")
        for op in ops:
            print(f"  {op:18}", "  ".join(f"{t}={statistics.median(results[t][op]):.1f}" for t in trees))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
