"""Where a ``runs/search`` spends its store time: the id query against loading the page.

Runs in-process on a new SQLite store seeded like ``cpu_per_request.py`` (one
experiment; 10 params, 5 tags, 10 metrics of 2 steps per run; the bench filter
matches about one run in twelve), then times with the thread's CPU clock, median
of ``--rounds``:

* ``search``: ``search_runs_json`` with the filter and order (its SQL cached);
* ``compile``: the same with the compiled-SQL cache emptied before each call;
* ``new page``: the same search at an offset not asked before (page tokens
  counting up): the cost a first walk through a search's pages adds to each
  page (past the matches these pages are empty, so it is little beyond that);
* ``id query``: the search's compiled SQL alone on a driver connection;
* ``page load``: loading the returned runs' JSON alone;

and prints SQLite's plan for the id query::

    PYTHONPATH=$PWD/src python bench/search_query_side.py --runs 60 --n 2000
"""

from __future__ import annotations

import argparse
import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mltrail.entities import Metric, Param, RunTag
from mltrail.store.paging import encode_page_token
from mltrail.store.sql._run_json import load_runs_json
from mltrail.store.sql.engine import driver_statement
from mltrail.store.sql.search_sql import runs_query
from mltrail.store.sql.tracking import SqlTrackingStore
from seed import SEARCH_FILTER, SEARCH_ORDER, search_values

PAGE = 100


def _seed(store: SqlTrackingStore, n_runs: int) -> str:
    exp = store.create_experiment("search-query-side")
    for i in range(n_runs):
        run_id = store.create_run(exp, "bench", 1700000000000, [], None).info.run_id
        vals = search_values(i)
        rnd = random.Random(i)
        metrics = [
            Metric(f"m{k}", vals.get(f"m{k}", rnd.random()) if s == 1 else rnd.random(), 1700000000000 + s, s)
            for k in range(10)
            for s in range(2)
        ]
        params = [Param("p0", vals["p0"])] + [Param(f"p{k}", f"value-{k}-{i}") for k in range(1, 10)]
        tags = [RunTag("t0", vals["t0"])] + [RunTag(f"t{k}", f"tag-{k}") for k in range(1, 5)]
        store.log_batch(run_id, metrics, params, tags)
    return exp


def _cpu_us(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Median over ``rounds`` of the thread CPU time per call of ``fn``, in µs."""
    for _ in range(min(n, 100)):
        fn()
    per_call = []
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(n):
            fn()
        per_call.append((time.thread_time() - start) / n * 1e6)
    return statistics.median(per_call)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-search-"))
    store = SqlTrackingStore(f"sqlite:///{root / 'mltrail.db'}", str(root / "artifacts"))
    exp = _seed(store, args.runs)
    sql, params = driver_statement(
        store.engine.dialect, runs_query([exp], SEARCH_FILTER, 1, SEARCH_ORDER, 0, PAGE + 1)
    )

    def search() -> object:
        return store.search_runs_json([exp], SEARCH_FILTER, 1, PAGE, SEARCH_ORDER)

    def compile_and_search() -> object:
        store._search_sql.clear()  # a bench may look inside: every call compiles again
        return search()

    offsets = itertools.count(1)

    def new_page() -> object:
        token = encode_page_token(next(offsets))
        return store.search_runs_json([exp], SEARCH_FILTER, 1, PAGE, SEARCH_ORDER, token)

    def id_query() -> list[tuple]:
        with store.db.driver_read() as conn:
            return conn.fetchall(sql, params)

    ids = [row[0] for row in id_query()][:PAGE]

    def page_load() -> object:
        with store.db.driver_read() as conn:
            return load_runs_json(conn, ids)

    print(f"{args.runs} runs, the search returns {len(ids)}")
    n = args.n
    for name, fn, calls in (
        ("search", search, n),
        ("compile", compile_and_search, max(n // 20, 10)),
        ("new page", new_page, max(n // 20, 10)),
        ("id query", id_query, n),
        ("page load", page_load, n),
    ):
        print(f"{name}: {_cpu_us(fn, calls, args.rounds):.1f} µs CPU per call", flush=True)
    with sqlite3.connect(root / "mltrail.db") as conn:
        for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params):
            print("plan:", row[-1])


if __name__ == "__main__":
    main()
