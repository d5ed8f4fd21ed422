"""Fill an MLflow SQLite store for the ``migrate`` section, with MLflow's own SQL store in-process.

    .bench-venv-migrate/bin/python bench/migrate_seed.py '{"db": "/tmp/x/src.db", "artifacts": "/tmp/x/artifacts", ...}'

Runs under the peers' interpreter (MLflow 3.17.2), never mltrail's. Every experiment's
artifact location is ``mlflow-artifacts:/<name>``, as an ``mlflow server`` with
``--artifacts-destination <artifacts>`` gives it, and the files are written where that
server keeps them (``<artifacts>/<name>/<run id>/artifacts/...``): the store is exactly
what the server would hold had the runs logged through it, built in a fraction of the
time. Params, tags and each metric's first point go through ``MlflowClient.log_batch`` on the
SQL store, the rest of the history into MLflow's ``metrics`` table in bulk;
logged models, registered model versions and traces (three spans each, spans in the
database as MLflow 3 keeps them) through MLflow's client and fluent tracing API.

Prints one JSON line with what it made.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time


def main() -> None:
    cfg = json.loads(sys.argv[1])
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"  # every trace written before we count
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    t0 = time.perf_counter()
    db, art = cfg["db"], cfg["artifacts"]
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    n_exps, n_runs = cfg["experiments"], cfg["runs"]
    keys, steps = cfg["metric_keys"], max(1, cfg["points"] // (n_runs * cfg["metric_keys"]))
    big_runs, big_bytes = cfg["artifact_runs"], cfg["artifact_bytes"] // cfg["artifact_runs"]
    exps = []
    for i in range(n_exps):
        name = f"bench-{i}"
        exps.append(client.create_experiment(name, artifact_location=f"mlflow-artifacts:/{name}"))

    def write(uri: str, rel: str, data: bytes) -> None:
        path = os.path.join(art, uri[len("mlflow-artifacts:/") :], rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    runs = []
    points: list[tuple] = []  # (value, timestamp, step, run id, key), as MLflow's tables hold them
    latest: list[tuple] = []
    base = 1_700_000_000_000
    for r in range(n_runs):
        run = client.create_run(exps[r % n_exps], run_name=f"run-{r}", start_time=base + r)
        rid = run.info.run_id
        first = [Metric(f"m{k}", (r * 7 + k * 3) % 101 / 100, base + r, 0) for k in range(keys)]
        client.log_batch(rid, metrics=first)
        points.extend(
            ((r * 7 + k * 3 + s) % 101 / 100, base + r + s, s, rid, f"m{k}")
            for k in range(keys)
            for s in range(1, steps)
        )
        last = steps - 1
        latest.extend(
            ((r * 7 + k * 3 + last) % 101 / 100, base + r + last, last, rid, f"m{k}") for k in range(keys)
        )
        params = [Param(f"p{i}", str((r + i) % 5)) for i in range(10)]
        tags = [RunTag(f"t{i}", f"g{(r + i) % 3}") for i in range(5)]
        client.log_batch(rid, params=params, tags=tags)
        write(run.info.artifact_uri, "summary.json", json.dumps({"run": r}).encode())
        if r < big_runs:
            write(run.info.artifact_uri, "weights.bin", os.urandom(big_bytes))
        write(run.info.artifact_uri, "model/MLmodel", b"flavors: {}\n")
        client.set_terminated(rid, "FINISHED", end_time=base + r + steps)
        runs.append(run)
    # Step 0 of each metric went through log_batch; the other steps go into MLflow's own tables
    # in bulk (log_batch on SQLite takes ~0.2 s per 1,000 points: an hour for 1,000,000).
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO metrics (value, timestamp, step, run_uuid, key, is_nan) VALUES (?, ?, ?, ?, ?, 0)",
            points,
        )
        conn.executemany(
            "UPDATE latest_metrics SET value = ?, timestamp = ?, step = ? WHERE run_uuid = ? AND key = ?",
            latest,
        )
    seeded_runs = time.perf_counter() - t0

    models = []
    for i in range(cfg["logged_models"]):
        run = runs[i % n_runs]
        lm = client.create_logged_model(
            run.info.experiment_id, name=f"model-{i}", source_run_id=run.info.run_id, params={"alpha": str(i)}
        )
        write(lm.artifact_location, "MLmodel", b"flavors: {}\n")
        client.finalize_logged_model(lm.model_id, "READY")
        models.append(lm.model_id)

    per_model = 10
    for i in range(cfg["model_versions"]):
        name = f"registered-{i // per_model}"
        if i % per_model == 0:
            client.create_registered_model(name, tags={"team": "bench"})
        run = runs[i % n_runs]
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)

    for i in range(cfg["traces"]):
        mlflow.set_experiment(experiment_id=exps[i % n_exps])
        with mlflow.start_span("agent") as root:
            root.set_inputs({"question": f"q{i}"})
            with mlflow.start_span("retrieve") as s:
                s.set_outputs({"docs": ["a", "b"]})
            with mlflow.start_span("llm", span_type="LLM") as s:
                s.set_outputs({"answer": f"a{i}"})
            root.set_outputs({"answer": f"a{i}"})
    print(
        json.dumps(
            {
                "experiments": n_exps,
                "runs": n_runs,
                "steps": steps,
                "logged_models": len(models),
                "seconds": round(time.perf_counter() - t0, 1),
                "seconds_runs": round(seeded_runs, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
