"""Web UI speed: the numbers issue 5 asks for, measured on this machine (never asserted).

    python bench/ui_speed.py            # 100,000 runs and a 1,000,000-point metric
    python bench/run.py --only ui       # the same, as a section of the benchmark report
    python bench/ui_speed.py --quick    # 2,000 runs and 200,000 points

Seeds a SQLite store directly (one template run logged through the store, then
cloned row by row with varied values by ``seed.clone_runs``), starts ``mltrail
server`` on a free port, then reports the server time of what the experiment
page and the run page ask for, and how long headless Chromium takes to show the
experiment's runs table and the downsampled chart.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import free_port


def wait_ready(client: httpx.Client, timeout: float = 60.0) -> None:
    """Poll ``/health`` until 200: it answers 503 while the server opens its stores."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {client.base_url} was not ready within {timeout:.0f} s")
        time.sleep(0.1)


def start_server(db_uri: str, folder: str) -> tuple[subprocess.Popen, int]:
    """``mltrail server`` on ``db_uri`` with its artifacts under ``folder`` (its cwd), on a free port.

    Run without the caller's ``MLTRAIL_*``/``MLFLOW_*`` variables; call :func:`wait_ready` before use
    and ``terminate()`` the process after.
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltrail",
            "server",
            "--backend-store-uri",
            db_uri,
            "--port",
            str(port),
            "--artifacts-destination",
            str(Path(folder) / "artifacts"),
            "--log-level",
            "warning",
        ],
        cwd=folder,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MLTRAIL_", "MLFLOW_"))},
    )
    return proc, port


def seed(db_uri: str, artifacts: str, n_runs: int, n_points: int) -> tuple[str, str]:
    import seed as seed_rows
    from mltrail.entities import Metric, Param, RunTag
    from mltrail.store.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(db_uri, artifacts)
    exp = store.create_experiment("ui-speed")
    values = seed_rows.search_values(0)
    template = store.create_run(exp, "bench", 1_000_000, [], "run-0").info.run_id
    store.log_batch(
        template,
        metrics=[Metric("m0", values["m0"], 1, 0), Metric("m1", values["m1"], 1, 0)],
        params=[Param("p0", values["p0"]), Param("lr", "0.01")],
        tags=[RunTag("t0", values["t0"])],
    )
    seed_rows.clone_runs(db_uri.removeprefix("sqlite:///"), template, n_runs - 1)
    big = store.create_run(exp, "bench", 1, [], "long-history").info.run_id
    spike = n_points * 2 // 3
    batch = []
    for i in range(n_points):
        batch.append(
            Metric("loss", math.exp(-i / (n_points / 10)) + (10.0 if i == spike else 0.0), 1_000 + i, i)
        )
        if len(batch) == 1000:
            store.log_batch(big, metrics=batch)
            batch = []
    if batch:
        store.log_batch(big, metrics=batch)
    store.engine.dispose()
    return exp, big


def timed(client: httpx.Client, method: str, url: str, reps: int = 5, **kw) -> float:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        res = client.request(method, url, **kw)
        samples.append((time.perf_counter() - start) * 1000)
        assert res.status_code == 200, res.text
    return statistics.median(samples)


def sizes(quick: bool) -> tuple[int, int]:
    """How many runs and metric points a run seeds."""
    return (2_000, 200_000) if quick else (100_000, 1_000_000)


def measure(quick: bool) -> list[tuple[str, float]]:
    """Seed a store, start a server and time the UI's calls and chart: (label, median ms) rows."""
    n_runs, n_points = sizes(quick)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'ui.db'}"
        t0 = time.perf_counter()
        exp, big = seed(db, str(Path(tmp) / "artifacts"), n_runs, n_points)
        print(f"seeded {n_runs} runs and {n_points} points in {time.perf_counter() - t0:.0f} s")
        proc, port = start_server(db, tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                wait_ready(client)
                search = {
                    "experiment_ids": [exp],
                    "max_results": 100,
                    "order_by": ["attributes.start_time DESC"],
                }
                rows = [
                    (
                        "experiment page: columns endpoint",
                        timed(
                            client,
                            "GET",
                            "/ajax-api/mltrail/experiments/columns",
                            params={"experiment_ids": exp},
                        ),
                    ),
                    (
                        "runs table: one page of 100",
                        timed(client, "POST", "/ajax-api/2.0/mlflow/runs/search", json=search),
                    ),
                    (
                        "runs table: page sorted by a metric",
                        timed(
                            client,
                            "POST",
                            "/ajax-api/2.0/mlflow/runs/search",
                            json={**search, "order_by": ["metrics.`m0` DESC"]},
                        ),
                    ),
                    (
                        f"history of {n_points:,} points, downsampled",
                        timed(
                            client,
                            "GET",
                            "/ajax-api/mltrail/metrics/history",
                            reps=3,
                            params={"run_id": big, "key": "loss", "max_points": 2000},
                        ),
                    ),
                ]
            table, cold, warm = browser_times(base, exp, big)
            rows.append((f"runs table of {n_runs:,} runs drawn in Chromium (first page)", table))
            rows.append(("chart drawn in Chromium, first visit (plotly.js fetched)", cold))
            rows.append(("chart drawn in Chromium, return visit (plotly.js cached)", warm))
        finally:
            proc.terminate()
            proc.wait(10)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    rows = measure(ap.parse_args().quick)
    print("\n| what | median ms |\n|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.0f} |")


def browser_times(base: str, exp: str, run_id: str) -> tuple[float, float, float]:
    """Milliseconds until the experiment's runs table shows its first rows, then until the run's
    chart shows: first visit (plotly.js not cached) and a return visit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page()
        page.goto(base + "/")
        page.wait_for_selector("table.experiments")
        start = time.perf_counter()
        page.goto(f"{base}/#/experiments/{exp}")
        page.wait_for_selector("table.runs tbody tr[data-run-id]", timeout=120000)
        table = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(2):
            page.goto(base + "/")
            page.wait_for_selector("table.experiments")
            start = time.perf_counter()
            page.goto(f"{base}/#/runs/{run_id}")
            page.wait_for_selector('.chart[data-metric="loss"][data-series-count]', timeout=60000)
            times.append((time.perf_counter() - start) * 1000)
        browser.close()
    return table, times[0], times[1]


if __name__ == "__main__":
    main()
