"""The workload driver: the official ``mlflow`` client, run inside ``.bench-venv``.

With ``BENCH_SDK=mltrail`` (section "sdk") it runs under mltrail's ``.venv`` and
drives mltrail's own SDK instead: the same calls, since mltrail's names are MLflow's.

One long-lived driver process per server, so that the client is identical for
all three and its import cost is paid once. The harness sends one JSON command
per line on stdin and reads one JSON answer per line on stdout; every timed
command times exactly one client call (or one fixed sequence) with
``time.perf_counter`` (and the client's own CPU time with ``time.process_time``)
and returns the seconds, so the harness can interleave
servers call by call (A B C A B C ...).

Also runnable as ``driver.py --concurrent-worker``: one of the N processes that
log at once for the concurrency figure (waits for "go" on stdin, then logs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid

T0 = time.perf_counter()
if os.environ.get("BENCH_SDK") == "mltrail":  # section "sdk": mltrail's own SDK, same names
    from mltrail.entities import Metric, Param, RunTag
    from mltrail.tracking.client import MlflowClient
else:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

from seed import SEARCH_FILTER, SEARCH_ORDER, search_values  # noqa: E402

IMPORT_S = time.perf_counter() - T0


def now_ms() -> int:
    return int(time.time() * 1000)


def run_data(i: int, steps: int = 10) -> tuple[list[Metric], list[Param], list[RunTag]]:
    """The params, tags and metrics of the i-th search run: the filtered keys take
    seed.search_values(i), so the filter matches the same share of runs everywhere."""
    ts = now_ms()
    vals = search_values(i)
    rnd = random.Random(i)
    metrics = [
        Metric(f"m{k}", vals.get(f"m{k}", rnd.random()) if s == steps - 1 else rnd.random(), ts + s, s)
        for k in range(10)
        for s in range(steps)
    ]  # fmt: skip
    params = [Param("p0", vals["p0"])] + [Param(f"p{k}", f"value-{k}-{i}") for k in range(1, 10)]
    tags = [RunTag("t0", vals["t0"])] + [RunTag(f"t{k}", f"tag-{k}") for k in range(1, 5)]
    return metrics, params, tags


class Driver:
    def __init__(self) -> None:
        self.client = MlflowClient()
        self.exp_id: str | None = None
        self.runs: list[str] = []
        self.filled = 0
        self.main_run: str | None = None
        self.hist_run: str | None = None
        self.step = 0
        self.tmp = tempfile.mkdtemp(prefix="bench-driver-")
        self.blob: str | None = None

    # ---- setup (untimed unless the op says so) ----------------------------------

    def setup(self) -> dict:
        self.exp_id = self.client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
        self.main_run = self.client.create_run(self.exp_id, run_name="main").info.run_id
        return {"experiment_id": self.exp_id, "run_id": self.main_run}

    def prepare_history(self, points: int) -> dict:
        """A run with ``points`` values of "loss", logged 1,000 per log_batch call."""
        self.hist_run = self.client.create_run(self.exp_id, run_name="history").info.run_id
        ts = now_ms()
        for start in range(0, points, 1000):
            batch = [
                Metric("loss", 1.0 / (s + 1), ts + s, s) for s in range(start, min(points, start + 1000))
            ]
            self.client.log_batch(self.hist_run, metrics=batch)
        return {"run_id": self.hist_run}

    def prepare_blob(self, mb: int) -> dict:
        self.blob = os.path.join(self.tmp, "blob.bin")
        with open(self.blob, "wb") as f:
            f.write(os.urandom(mb * 1024 * 1024))
        return {}

    def template_run(self, experiment_name: str) -> dict:
        """A new experiment with one fully logged run, cloned later by seed.py."""
        exp = self.client.create_experiment(experiment_name)
        run = self.client.create_run(exp, run_name="template").info.run_id
        metrics, params, tags = run_data(0, steps=1)
        self.client.log_batch(run, metrics=metrics[:2], params=params[:2], tags=tags[:2])
        return {"experiment_id": exp, "run_id": run}

    def metric_run(self, experiment_id: str, key: str) -> dict:
        """A run with one value of ``key``, extended to a long history by seed.py."""
        run = self.client.create_run(experiment_id, run_name="long-history").info.run_id
        self.client.log_metric(run, key, 1.0, step=0)
        return {"run_id": run}

    # ---- timed operations ---------------------------------------------------------

    def op_create_experiment(self) -> None:
        self.client.create_experiment(f"bench-e-{uuid.uuid4().hex[:10]}")

    def op_create_run(self) -> None:
        self.runs.append(self.client.create_run(self.exp_id).info.run_id)

    def op_log_run_data(self) -> None:
        """10 params, 5 tags and 10 metrics over 10 steps in one batch for the next created run."""
        run = self.runs[self.filled % len(self.runs)]
        metrics, params, tags = run_data(self.filled)
        self.filled += 1
        self.client.log_batch(run, metrics=metrics, params=params, tags=tags)

    def op_log_metric(self) -> None:
        self.step += 1
        self.client.log_metric(self.main_run, "single", random.random(), step=self.step)

    def op_log_batch(self) -> None:
        self.step += 1
        base = self.step * 10
        ts = now_ms()
        metrics = [Metric(f"b{k}", random.random(), ts, base + s) for k in range(100) for s in range(10)]
        self.client.log_batch(self.main_run, metrics=metrics)

    def op_get_run(self) -> dict:
        run = self.client.get_run(self.main_run)
        return {"metrics": len(run.data.metrics)}

    def op_search_runs(self, experiment_id: str | None = None, max_results: int = 100) -> dict:
        runs = self.client.search_runs(
            [experiment_id or self.exp_id], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=max_results
        )
        return {"rows": len(runs)}

    def op_get_metric_history(self, run_id: str | None = None, key: str = "loss") -> dict:
        return {"points": len(self.client.get_metric_history(run_id or self.hist_run, key))}

    def op_log_artifact(self) -> None:
        self.client.log_artifact(self.main_run, self.blob, artifact_path="up")

    def op_download_artifact(self) -> dict:
        dst = tempfile.mkdtemp(dir=self.tmp)
        path = self.client.download_artifacts(self.main_run, "up/blob.bin", dst)
        size = os.path.getsize(path)
        shutil.rmtree(dst)
        return {"bytes": size}


def serve() -> None:
    driver = Driver()
    try:
        _serve(driver)
    finally:
        shutil.rmtree(driver.tmp, ignore_errors=True)


def _serve(driver: Driver) -> None:
    print(json.dumps({"ready": True, "import_s": IMPORT_S}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op, args = cmd["op"], cmd.get("args", {})
        # A per-command time budget (the client reads these at every request): a
        # budgeted call gets no retries, so one very slow call cannot hold the run.
        budget = cmd.get("timeout")
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(budget or 300))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0" if budget else "2"
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            extra = getattr(driver, op)(**args) or {}
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            # ``cpu`` is the client's own work (encode, HTTP, decode, entities): the
            # rest of ``t`` is spent waiting for the server and the transfer.
            print(json.dumps({"ok": True, "t": elapsed, "cpu": cpu, **extra}), flush=True)
        except Exception as exc:  # reported to the harness, which prints "n/a — reason"
            msg = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
            print(json.dumps({"ok": False, "error": msg, "t": time.perf_counter() - t0}), flush=True)


def concurrent_worker(batches: int, batch_size: int) -> None:
    """One logging client, reused for every server (mlflow is imported once).

    Per server: reads {"uri", "experiment_id"}, creates a run, says ready, waits
    for "go", calls log_batch ``batches`` times and reports its wall-clock span.
    """
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            client = MlflowClient(tracking_uri=job["uri"])
            run = client.create_run(job["experiment_id"]).info.run_id
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:200]}), flush=True)
            continue
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
        start = time.time()
        ts = now_ms()
        try:
            for b in range(batches):
                metrics = [
                    Metric(f"c{k % 20}", random.random(), ts, b * batch_size + k) for k in range(batch_size)
                ]
                client.log_batch(run, metrics=metrics)
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:200]}), flush=True)
            continue
        end = time.time()
        print(json.dumps({"start": start, "end": end, "metrics": batches * batch_size}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrent-worker", action="store_true")
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=100)
    args = ap.parse_args()
    if args.concurrent_worker:
        concurrent_worker(args.batches, args.batch_size)
    else:
        serve()


if __name__ == "__main__":
    main()
