"""Fast seeding of large stores by cloning rows in each store's own SQLite schema.

Logging 100,000 runs through ``mlflow server``'s API would take longer than the
whole benchmark may, so the scale points seed their data like this instead:

1. one *template* run is logged through the official client, so every store
   writes the rows it really writes for a run (including its own extra columns:
   FastTrackML's ``row_num``/``iter``/``context_id``, MLflow's ``is_nan`` ...);
2. every table with a ``run_uuid`` column is read for the template's rows, and
   those rows are copied N times with a fresh run id, a fresh name and varied
   values of the keys the search filters on (``p0``, ``t0``, ``m0``, ``m1``).

No schema knowledge is hard-coded beyond these column names, so each store
gets exactly the rows its own code would have written. Standard library only:
it runs under both interpreters.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid

CHUNK = 20_000

# The search every server answers: one clause each on metrics, params and tags
# (matches about one run in eight of those seeded here or logged by driver.py).
SEARCH_FILTER = "metrics.m0 > 0.2 AND params.p0 = 'v1' AND tags.t0 = 'g1'"
SEARCH_ORDER = ["metrics.m0 DESC"]


def search_values(i: int) -> dict[str, object]:
    """Values of the filtered keys for the i-th run (driver.run_data uses the same cycle)."""
    rnd = random.Random(i)
    return {"p0": f"v{i % 3}", "t0": f"g{i % 2}", "m0": rnd.random(), "m1": rnd.random()}


def _connect(db_path: str) -> sqlite3.Connection:
    con = sqlite3.connect(db_path, timeout=120, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 120000")
    return con


def _run_tables(con: sqlite3.Connection) -> dict[str, list[tuple[str, str, int]]]:
    """Tables with a ``run_uuid`` column -> [(name, type, pk)] of their columns."""
    out = {}
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for name in names:
        cols = [(c[1], (c[2] or "").upper(), c[5]) for c in con.execute(f'PRAGMA table_info("{name}")')]
        if any(c[0] == "run_uuid" for c in cols):
            out[name] = cols
    return out


def _insertable(cols: list[tuple[str, str, int]]) -> list[str]:
    """Columns to copy: all but a lone INTEGER primary key, which SQLite numbers itself."""
    pks = [c for c in cols if c[2] > 0]
    skip = {pks[0][0]} if len(pks) == 1 and pks[0][1] == "INTEGER" and pks[0][0] != "run_uuid" else set()
    return [c[0] for c in cols if c[0] not in skip]


def _insert(con: sqlite3.Connection, table: str, cols: list[str], rows: list[tuple]) -> None:
    if rows:
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


def clone_runs(db_path: str, template_run_id: str, n: int) -> float:
    """Add ``n`` copies of the template run to its experiment; seconds taken."""
    t0 = time.perf_counter()
    con = _connect(db_path)
    tables = _run_tables(con)
    templates: dict[str, tuple[list[str], list[dict]]] = {}
    for table, cols in tables.items():
        names = _insertable(cols)
        sel = ", ".join(f'"{c}"' for c in names)
        rows = con.execute(f'SELECT {sel} FROM "{table}" WHERE run_uuid = ?', (template_run_id,)).fetchall()
        templates[table] = (names, [dict(zip(names, r, strict=True)) for r in rows])
    base_row_num = 0
    if "runs" in tables and any(c[0] == "row_num" for c in tables["runs"]):
        base_row_num = con.execute("SELECT COALESCE(MAX(row_num), 0) FROM runs").fetchone()[0]
    # Parents before children, so that foreign keys (where enforced) hold.
    order = ["runs"] + [t for t in templates if t != "runs"]
    for start in range(0, n, CHUNK):
        con.execute("BEGIN IMMEDIATE")
        for table in order:
            if table not in templates:
                continue
            names, rows = templates[table]
            out = []
            for i in range(start + 1, min(n, start + CHUNK) + 1):
                run_id = uuid.uuid4().hex if table == "runs" else _ids[i]
                out.extend(
                    tuple(_vary(table, r, i, run_id, template_run_id, base_row_num).values()) for r in rows
                )
                if table == "runs":
                    _ids[i] = run_id
            _insert(con, table, names, out)
        con.execute("COMMIT")
    _ids.clear()
    con.close()
    return time.perf_counter() - t0


# Run id of the i-th clone, shared between the tables of one chunk.
_ids: dict[int, str] = {}


def _vary(table: str, row: dict, i: int, run_id: str, template_id: str, base_row_num: int) -> dict:
    new = dict(row)
    new["run_uuid"] = run_id
    vals = search_values(i)
    if table == "runs":
        new["name"] = f"seed-{i}"
        if new.get("start_time") is not None:
            new["start_time"] = new["start_time"] + i
        if isinstance(new.get("artifact_uri"), str):
            new["artifact_uri"] = new["artifact_uri"].replace(template_id, run_id)
        if "row_num" in new:
            new["row_num"] = base_row_num + i
        return new
    key = new.get("key")
    if key == "mlflow.runName":
        new["value"] = f"seed-{i}"
    elif key in vals:
        col = "value_str" if "value_str" in new else "value"
        new[col] = vals[key]
    return new


def clone_history(db_path: str, run_id: str, key: str, n: int) -> float:
    """Extend the metric ``key`` of ``run_id`` (one value logged) to ``n`` points; seconds."""
    t0 = time.perf_counter()
    con = _connect(db_path)
    cols = _insertable(_run_tables(con)["metrics"])
    sel = ", ".join(f'"{c}"' for c in cols)
    tmpl = con.execute(
        f'SELECT {sel} FROM metrics WHERE run_uuid = ? AND "key" = ?', (run_id, key)
    ).fetchone()
    if tmpl is None:
        raise RuntimeError(f"no metric {key!r} logged for run {run_id}")
    base = dict(zip(cols, tmpl, strict=True))
    ts = base["timestamp"]
    for start in range(1, n, CHUNK):
        con.execute("BEGIN IMMEDIATE")
        rows = []
        for s in range(start, min(n, start + CHUNK)):
            row = dict(base)
            row["step"], row["timestamp"], row["value"] = s, ts + s, 1.0 / (s + 1)
            if "iter" in row:
                row["iter"] = s + 1
            rows.append(tuple(row.values()))
        _insert(con, "metrics", cols, rows)
        con.execute("COMMIT")
    con.close()
    return time.perf_counter() - t0
