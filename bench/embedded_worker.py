"""One side of the embedded-mode comparison: the SDK on its own SQLite store.

Run as ``python embedded_worker.py --sdk mltrail|mlflow --dir DIR`` with the
interpreter that has that SDK (mltrail's ``.venv``, the peers' ``.bench-venv``).
The code is the same for both SDKs: MLflow's names (``MlflowClient``,
``entities.Metric`` ...) are mltrail's too. Prints one JSON object of timings.
Standard library plus the SDK under test only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

import seed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sdk", required=True, choices=["mltrail", "mlflow"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--history-reps", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    sdk = importlib.import_module(args.sdk)
    import_s = time.perf_counter() - t0
    entities = importlib.import_module(f"{args.sdk}.entities")
    Metric, Param, RunTag = entities.Metric, entities.Param, entities.RunTag

    db = os.path.join(args.dir, f"{args.sdk}.db")
    uri = f"sqlite:///{db}"
    # Opening a new store: MLflow builds its schema when the client is made,
    # mltrail on the first call, so the figure covers both steps.
    t0 = time.perf_counter()
    sdk.set_tracking_uri(uri)
    client = sdk.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("embedded")
    first_call_s = time.perf_counter() - t0
    out: dict = {"import_s": [import_s], "first_call_s": [first_call_s]}

    # log_batch of 1,000 metrics (100 keys x 10 steps) into one run.
    run = client.create_run(exp).info.run_id
    times = []
    for rep in range(args.reps):
        ts = int(time.time() * 1000)
        batch = [Metric(f"k{k}", float(k + rep), ts, rep * 10 + s) for k in range(100) for s in range(10)]
        t0 = time.perf_counter()
        client.log_batch(run, metrics=batch)
        times.append(time.perf_counter() - t0)
    out["log_batch_1000"] = times

    # search_runs over N runs: a template run cloned in the store's own schema (seed.py).
    vals = seed.search_values(0)
    tmpl = client.create_run(exp).info.run_id
    ts = int(time.time() * 1000)
    client.log_batch(
        tmpl,
        metrics=[Metric("m0", vals["m0"], ts, 0), Metric("m1", vals["m1"], ts, 0)],
        params=[Param("p0", vals["p0"]), Param("p1", "x")],
        tags=[RunTag("t0", vals["t0"]), RunTag("t1", "y")],
    )
    search_exp = exp
    out["seed_runs_s"] = seed.clone_runs(db, tmpl, args.runs - 2)  # plus the log_batch run and the template
    times, rows = [], 0
    for _ in range(args.reps):
        t0 = time.perf_counter()
        found = client.search_runs(
            [search_exp], seed.SEARCH_FILTER, order_by=seed.SEARCH_ORDER, max_results=100
        )
        times.append(time.perf_counter() - t0)
        rows = len(found)
    out["search_runs"] = times
    out["search_rows"] = rows

    # Reading a long metric history.
    hist = client.create_run(exp).info.run_id
    client.log_metric(hist, "big", 1.0, step=0)
    out["seed_history_s"] = seed.clone_history(db, hist, "big", args.points)
    times, points = [], 0
    for _ in range(args.history_reps):
        t0 = time.perf_counter()
        points = len(client.get_metric_history(hist, "big"))
        times.append(time.perf_counter() - t0)
    out["history"] = times
    out["history_points"] = points
    print(json.dumps(out))


if __name__ == "__main__":
    main()
