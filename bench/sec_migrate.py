"""Section ``migrate``: moving one MLflow server's store, ``mltrail import`` beside ``mlflow-migration``.

    python bench/run.py --only migrate                      # small: 100 runs, 100,000 points, 30 MB
    python bench/run.py --only migrate --migrate-size full  # issue 17: 1,000 runs, 1,000,000 points

1. The source: an MLflow 3.17.2 SQLite store filled in-process with MLflow's own SQL
   store (``bench/migrate_seed.py``, in ``.bench-venv-migrate``), artifacts laid out where
   ``mlflow server --artifacts-destination`` keeps them; then ``mlflow server`` on it.
2. mltrail: ``mltrail import <source URL> --tracking-uri sqlite:///<fresh file>``: the
   database a ``mltrail server`` then serves; one step, timed from start to exit.
3. mlflow-migration 1.2.2 (the maintained successor of mlflow-export-import):
   ``mlflow-migration-export-all`` from the source server into a folder, then
   ``mlflow-migration-import-all`` into a fresh ``mlflow server``; both steps timed
   (the fresh server's start is not).

Both read the same server over its REST API and run with their defaults (one thread).
What each brought is counted in the destination's tables (both use MLflow's table
names) and artifact folder, not taken from the tools' own reports.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH_DIR, MIGRATE_BIN, NA, VENV_BIN
from report import Section
from servers import Server

# Issue 17's sizes (full) and a tenth of them (small, the default of `make bench`).
SIZES = {
    "small": {"experiments": 2, "runs": 100, "metric_keys": 10, "points": 100_000, "artifact_runs": 10,
              "artifact_bytes": 30_000_000, "logged_models": 10, "model_versions": 10, "traces": 100},
    "full": {"experiments": 10, "runs": 1_000, "metric_keys": 10, "points": 1_000_000, "artifact_runs": 100,
             "artifact_bytes": 300_000_000, "logged_models": 100, "model_versions": 50, "traces": 1_000},
}  # fmt: skip

# What is counted in each destination: (label, SQL over MLflow's table names, shared by mltrail).
COUNTS = (
    ("experiments", "SELECT count(*) FROM experiments WHERE name LIKE 'bench-%'"),
    ("runs", "SELECT count(*) FROM runs"),
    ("metric points", "SELECT count(*) FROM metrics"),
    ("params", "SELECT count(*) FROM params"),
    ("registered models", "SELECT count(*) FROM registered_models"),
    ("model versions", "SELECT count(*) FROM model_versions"),
    ("logged models", "SELECT count(*) FROM logged_models"),
    ("traces", "SELECT count(*) FROM trace_info"),
    ("spans", "SELECT count(*) FROM spans"),
)
TIMEOUT = 3 * 3600
# `mlflow server` starts 4 workers and a job runner; on a busy 2-core machine that took 70 s here.
START_TIMEOUT = 900.0


class MigrateServer(Server):
    """``mlflow server`` from ``.bench-venv-migrate`` (the MLflow that mlflow-migration runs with)."""

    def command(self) -> list[str]:
        return [
            str(MIGRATE_BIN / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{self.db_path}",
            "--artifacts-destination", str(self.artifacts),
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip


def _mltrail() -> list[str]:
    exe = VENV_BIN / "mltrail"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mltrail"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    return {**env, **extra}


def _timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, check: bool = True) -> float:
    """Run ``cmd`` to its end; its wall time. Output goes to ``log``; a failure raises with its tail
    (unless ``check`` is false: ``mltrail import`` exits 1 when its verification finds less)."""
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        tail = log.read_text(errors="replace")[-400:]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {proc.returncode}: {tail}")
    return elapsed


def count(db: Path, artifacts: Path) -> dict[str, int]:
    """Rows per kind in a destination database, and its artifact files and bytes."""
    out: dict[str, int] = {}
    with sqlite3.connect(db) as conn:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for label, sql in COUNTS:
            table = sql.split(" FROM ", 1)[1].split()[0]
            out[label] = conn.execute(sql).fetchone()[0] if table in present else 0
    files = [p for p in artifacts.rglob("*") if p.is_file()] if artifacts.exists() else []
    out["artifact files"] = len(files)
    out["artifact bytes"] = sum(p.stat().st_size for p in files)
    return out


def _seed(source: Server, size: dict) -> dict:
    cfg = {**size, "db": str(source.db_path), "artifacts": str(source.artifacts)}
    source.artifacts.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [str(MIGRATE_BIN / "python"), str(BENCH_DIR / "migrate_seed.py"), json.dumps(cfg)],
        cwd=source.workdir, env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"seeding the MLflow store failed: {out.stderr[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(size_name: str, work: Path) -> dict:
    """Seed, start the source server, run both tools; timings and counts (``results.json`` shape)."""
    size = SIZES[size_name]
    source = MigrateServer("mlflow-source", work / "source")
    source.workdir.mkdir(parents=True)
    dest = MigrateServer("mlflow-dest", work / "mlflow-dest")
    dest.workdir.mkdir(parents=True)
    try:
        seeded = _seed(source, size)
        print(f"[migrate] source seeded in {seeded['seconds']} s", flush=True)
        started = source.start(START_TIMEOUT)
        if isinstance(started, NA):
            raise RuntimeError(started.reason)
        source_counts = count(source.db_path, source.artifacts)

        ours = work / "mltrail"
        ours.mkdir()
        db = ours / "mltrail.db"
        cmd = [*_mltrail(), "import", source.url, "--tracking-uri", f"sqlite:///{db}", "--no-progress"]
        t_ours = _timed(cmd, ours, _env(), ours / "import.log", check=False)
        ours_counts = count(db, ours / "mltrail-artifacts")
        report = (ours / "import.log").read_text(errors="replace")
        verified = "in destination" in report and "MISSING" not in report

        started = dest.start(START_TIMEOUT)
        if isinstance(started, NA):
            raise RuntimeError(started.reason)
        dump = work / "export"
        t_export = _timed(
            [str(MIGRATE_BIN / "mlflow-migration-export-all"), "--output-dir", str(dump)],
            work, _env(MLFLOW_TRACKING_URI=source.url), work / "export.log",
        )  # fmt: skip
        t_import = _timed(
            [str(MIGRATE_BIN / "mlflow-migration-import-all"), "--input-dir", str(dump)],
            work, _env(MLFLOW_TRACKING_URI=dest.url), work / "import-all.log",
        )  # fmt: skip
        theirs_counts = count(dest.db_path, dest.artifacts)
        return {
            "size": size_name,
            "seed_s": seeded["seconds"],
            "source": source_counts,
            "mltrail": {"wall_s": t_ours, "counts": ours_counts, "verified": verified},
            "mlflow-migration": {"wall_s": t_export + t_import, "export_s": t_export, "import_s": t_import,
                                 "counts": theirs_counts},
        }  # fmt: skip
    finally:
        source.stop()
        dest.stop()


def entities(counts: dict[str, int]) -> int:
    """Everything brought but artifacts: the figure entities/s divides."""
    return sum(counts[label] for label, _ in COUNTS)


def to_section(res: dict) -> Section:
    """The ``migrate`` table: mltrail import in mltrail's column, mlflow-migration in MLflow's."""
    src = res["source"]
    sec = Section(
        "migrate",
        f"Moving an MLflow server's store ({res['size']}: {src['runs']:,} runs, {src['metric points']:,} "
        f"metric points, {src['artifact bytes'] / 1e6:.0f} MB of artifacts, {src['model versions']} model "
        f"versions, {src['traces']:,} traces): mltrail import vs mlflow-migration",
    )
    sec.columns = ("mltrail", "mlflow")
    ours, theirs = res["mltrail"], res["mlflow-migration"]
    sec.row("wall time, source server to destination").set("mltrail", ours["wall_s"])
    sec.rows[-1].set("mlflow", theirs["wall_s"])
    sec.row("of which export to files").set("mltrail", NA("one step: reads the server, writes the database"))
    sec.rows[-1].set("mlflow", theirs["export_s"])
    sec.row("of which import from files").set("mltrail", NA("one step"))
    sec.rows[-1].set("mlflow", theirs["import_s"])
    rate = sec.row("entities brought per second", "rate", "entities/s")
    rate.set("mltrail", entities(ours["counts"]) / ours["wall_s"])
    rate.set("mlflow", entities(theirs["counts"]) / theirs["wall_s"])
    mb = sec.row("artifact megabytes brought per second", "rate", "MB/s")
    mb.set("mltrail", ours["counts"]["artifact bytes"] / 1e6 / ours["wall_s"])
    mb.set("mlflow", theirs["counts"]["artifact bytes"] / 1e6 / theirs["wall_s"])
    for label in [c[0] for c in COUNTS] + ["artifact files"]:
        row = sec.row(f"{label} brought (source: {src[label]:,})", "count")
        row.set("mltrail", ours["counts"][label])
        row.set("mlflow", theirs["counts"][label])
    sec.notes.append(
        "mltrail column: `mltrail import <URL>` into a fresh SQLite file (a `mltrail server` database); "
        "MLflow column: mlflow-migration 1.2.2 `export-all` then `import-all` into a fresh `mlflow server` "
        "3.17.2 (its start not timed); both read the same `mlflow server` 3.17.2 over REST, defaults, one thread"
    )
    sec.notes.append(
        "counts are rows in each destination's tables and files in its artifact folder; "
        f"mltrail's own verification table: {'all ok' if ours['verified'] else 'NOT ok'}; "
        f"seeding the source took {res['seed_s']:.0f} s (not timed above)"
    )
    return sec


def run(size_name: str = "small") -> Section:
    """Section ``migrate`` of ``bench/run.py``."""
    from env import ensure_migrate_venv

    # As the Makefile does: let the peers' processes keep their bytecode (each of MLflow's workers
    # would compile its imports again at every start).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    problem = ensure_migrate_venv()
    if problem:
        sec = Section("migrate", "Moving an MLflow server's store")
        sec.na_all(problem)
        return sec
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
        res = measure(size_name, Path(tmp))
    print(json.dumps(res, indent=1), flush=True)
    return to_section(res)
