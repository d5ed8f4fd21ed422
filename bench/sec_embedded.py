"""Section "embedded": each SDK on its own embedded SQLite store, no server.

mltrail's SDK runs in ``.venv``, MLflow's (``sqlite:///`` tracking URI, its
SQLAlchemy store) in ``.bench-venv``; both run embedded_worker.py, the same code,
in a fresh directory, one after the other (``rounds`` > 1 alternates them A B A B
and pools the samples). FastTrackML has no embedded mode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile

from common import BENCH_BIN, BENCH_DIR, NA, VENV_BIN
from driverproc import client_env
from report import EN_DASH, Section

PYTHONS = {"mltrail": VENV_BIN / "python", "mlflow": BENCH_BIN / "python"}


def _worker(sdk: str, runs: int, points: int, reps: int, history_reps: int) -> dict | NA:
    tmp = tempfile.mkdtemp(prefix=f"bench-embedded-{sdk}-")
    try:
        env = client_env(f"sqlite:///{tmp}/{sdk}.db")
        res = subprocess.run(
            [
                str(PYTHONS[sdk]), str(BENCH_DIR / "embedded_worker.py"), "--sdk", sdk, "--dir", tmp,
                "--runs", str(runs), "--points", str(points), "--reps", str(reps),
                "--history-reps", str(history_reps),
            ],
            capture_output=True, text=True, env=env, cwd=tmp, timeout=600,
        )  # fmt: skip
        if res.returncode != 0:
            return NA(f"{sdk} worker failed: {res.stderr.strip().splitlines()[-1:] or res.returncode}")
        return json.loads(res.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return NA(f"{sdk} worker took over 10 minutes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> Section:
    # Quick mode keeps the shapes but shrinks the sizes (MLflow's store needs
    # seconds per 100k-point read); the labels say which sizes ran.
    runs, points = (2_000, 20_000) if quick else (10_000, 100_000)
    reps = 3 if quick else 5
    history_reps = 1 if quick else 2
    rounds = 1  # one worker per side: MLflow's alone takes about a minute at full size
    sec = Section(
        "embedded", f"Embedded mode: SDK on its own SQLite store, no server (median, min{EN_DASH}max)"
    )
    sec.columns = ("mltrail", "mlflow")
    pooled: dict[str, dict | NA] = {"mltrail": {}, "mlflow": {}}
    for _ in range(rounds):
        for sdk in ("mltrail", "mlflow"):
            if isinstance(pooled[sdk], NA):
                continue
            out = _worker(sdk, runs, points, reps, history_reps)
            if isinstance(out, NA):
                pooled[sdk] = out
                continue
            for key, value in out.items():
                if isinstance(value, list):
                    pooled[sdk].setdefault(key, []).extend(value)
                else:
                    pooled[sdk][key] = value
    labels = [
        ("import_s", "import the SDK (in-process clock)"),
        ("first_call_s", "open a new store: client + first create_experiment"),
        ("log_batch_1000", "log_batch of 1,000 metrics"),
        ("search_runs", f"search_runs over {runs:,} runs (3 clauses + order_by, top 100)"),
        ("history", f"get_metric_history of {points:,} points"),
    ]
    for key, label in labels:
        row = sec.row(label)
        for sdk, data in pooled.items():
            row.set(sdk, data if isinstance(data, NA) else data.get(key, NA("not measured")))
    facts = {
        sdk: {k: data.get(k) for k in ("search_rows", "history_points")}
        for sdk, data in pooled.items()
        if isinstance(data, dict)
    }
    sec.notes.append(f"rows / points returned (should agree): {facts}")
    sec.notes.append(f"runs seeded by SQL cloning of a template run (seed.py); {reps} repetitions per worker")
    return sec
