"""Server CPU time per request on the run write routes, steady under machine load.

The write-side companion of ``cpu_per_request.py`` (same method: one ``mltrail
server`` on a new SQLite file, with the ``PYTHONPATH`` this script runs under;
requests over one keep-alive connection; the server's user+system CPU read from
``/proc/<pid>/stat`` before and after, or instructions with ``--callgrind``)::

    PYTHONPATH=$PWD/src python bench/cpu_writes.py --n 2000 --rounds 3

Routes: ``runs/log-batch`` as the capacity bench sends it (10 metrics) and as the
SDK bench does (10 new params, 5 tags, 10 metrics x 10 steps), ``runs/log-metric``,
``runs/create``, ``experiments/create`` and ``runs/update`` (of a run holding 10 params,
5 tags and 10 metrics).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cpu_per_request import measure, measure_options, running_server

API = "/api/2.0/mlflow"
T0 = 1700000000000


def _routes(exp: str, run_id: str, ended_run: str) -> dict[str, Callable[[], tuple[str, str, dict]]]:
    counter = [0]

    def tick() -> int:
        counter[0] += 1
        return counter[0]

    def batch10() -> tuple[str, str, dict]:
        s = tick()
        metrics = [{"key": f"wrk{k}", "value": s + 0.5, "timestamp": T0 + s, "step": s} for k in range(10)]
        return "POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics}

    def batch_sdk() -> tuple[str, str, dict]:
        s = tick()
        metrics = [
            {"key": f"m{k}", "value": s + j + 0.5, "timestamp": T0 + s, "step": j} for k in range(10) for j in range(10)
        ]
        params = [{"key": f"p{s}_{k}", "value": f"v{k}"} for k in range(10)]  # new keys: params never change
        tags = [{"key": f"t{k}", "value": f"tag-{s}"} for k in range(5)]
        return "POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": params, "tags": tags}

    def log_metric() -> tuple[str, str, dict]:
        s = tick()
        return "POST", f"{API}/runs/log-metric", {"run_id": run_id, "key": "loss", "value": s * 0.1, "timestamp": T0 + s, "step": s}

    def create_run() -> tuple[str, str, dict]:
        tags = [{"key": "mlflow.user", "value": "bench"}, {"key": "mlflow.source.name", "value": "bench.py"}]
        return "POST", f"{API}/runs/create", {"experiment_id": exp, "start_time": T0, "tags": tags}

    def create_experiment() -> tuple[str, str, dict]:
        return "POST", f"{API}/experiments/create", {"name": f"bench-exp-{tick()}-{os.getpid()}"}

    def update_run() -> tuple[str, str, dict]:
        return "POST", f"{API}/runs/update", {"run_id": ended_run, "status": "FINISHED", "end_time": T0 + tick()}

    return {
        "log-batch-10": batch10,
        "log-batch-sdk": batch_sdk,
        "log-metric": log_metric,
        "runs/create": create_run,
        "experiments/create": create_experiment,
        "runs/update": update_run,
    }


def main() -> None:
    args = measure_options(2000).parse_args()
    with running_server(args.callgrind, "bench-cpuw-") as (proc, root, conn):
        exp = conn.call("POST", f"{API}/experiments/create", {"name": "cpu-writes"})["experiment_id"]
        run_id = conn.call("POST", f"{API}/runs/create", {"experiment_id": exp, "start_time": T0})["run"]["info"]["run_id"]
        # runs/update ends a run of its own holding what an SDK run logs (the other run grows).
        ended = conn.call("POST", f"{API}/runs/create", {"experiment_id": exp, "start_time": T0})["run"]["info"]["run_id"]
        conn.call("POST", f"{API}/runs/log-batch", {
            "run_id": ended,
            "metrics": [{"key": f"m{k}", "value": 0.5, "timestamp": T0, "step": 0} for k in range(10)],
            "params": [{"key": f"p{k}", "value": "v"} for k in range(10)],
            "tags": [{"key": f"t{k}", "value": "v"} for k in range(5)],
        })  # fmt: skip
        measure(proc, root, conn, _routes(exp, run_id, ended), args)


if __name__ == "__main__":
    main()
