"""Several client processes writing to one server at once: nothing lost, never "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from support.live_server import start_server, stop_server

# One client process: n single log-metric calls over a keep-alive connection. (Raw HTTP
# rather than the official client keeps the test's own CPU small on a 2-core CI machine;
# the server sees exactly the requests the official client sends.)
WORKER = """
import sys, httpx
url, run_id, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=60) as c:
    for i in range(n):
        body = {"run_id": run_id, "key": key, "value": float(i), "timestamp": 1000 + i, "step": i}
        r = c.post("/runs/log-metric", json=body)
        if r.status_code != 200:
            sys.exit(f"{r.status_code}: {r.text}")
"""


def _spawn_writers(url: str, run_id: str, processes: int, n: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, run_id, f"worker{i}", str(n)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for i in range(processes)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out.decode()[-2000:]


def _check_histories(url: str, run_id: str, processes: int, n: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as c:
        for i in range(processes):
            resp = c.get("/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": f"worker{i}"})
            steps = [m["step"] for m in resp.json()["metrics"]]
            assert steps == list(range(n))


def _new_run(url: str, name: str) -> str:
    with httpx.Client(base_url=url) as c:
        exp = c.post("/api/2.0/mlflow/experiments/create", json={"name": name}).json()["experiment_id"]
        return c.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]


@pytest.mark.slow
def test_four_processes_sqlite_lose_nothing(live_server):
    run_id = _new_run(live_server.url, "concurrency-sqlite")
    _spawn_writers(live_server.url, run_id, processes=4, n=1000)
    _check_histories(live_server.url, run_id, processes=4, n=1000)
    assert "database is locked" not in (live_server.root / "server.log").read_text()


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_with_two_workers(postgres_uri, tmp_path):
    server = start_server(tmp_path / "pg", postgres_uri, "--workers", "2")
    try:
        run_id = _new_run(server.url, "concurrency-pg")
        _spawn_writers(server.url, run_id, processes=4, n=250)
        _check_histories(server.url, run_id, processes=4, n=250)
        log = (server.root / "server.log").read_text()
        assert "with 2 workers" in log
        assert "Traceback" not in log
    finally:
        stop_server(server)
