"""Traces list speed at 100,000 traces: server time of the list's searches, sorts, paging and totals (never asserted).

    python bench/traces_list.py                # 100,000 traces
    python bench/traces_list.py --quick        # 10,000 traces
    python bench/run.py --only traces_list     # the same, as a section of the benchmark report

Seeds an SQLite file with the rows the SQL trace store writes (with the indexed
session/user/token/cost columns of migration 0008; each trace: a root
and a priced chat span, a session of 5 turns, a user, token usage and cost, as the
SDK writes them), starts ``mltrail server`` on it and times what the traces list and the
Sessions view ask: the first page newest first, a page 50 pages deep (keyset
paging), the first page and page 51 in every sort (round trip, and the SQL
store's own time for page 51 by keyset and by MLflow's offset token), filtered by
session, by user and tokens, full text
(``trace.text LIKE``, a scan of every span), the totals over a filter, and the
sessions page. Each number is the median round trip over a few calls on
loopback; ``app;dur`` server times are shown for the UI routes that send them.
MLflow's server is not measured here (seeding 100,000 traces through it takes
hours); compare with ``bench/run.py --only scale`` for runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from ui_speed import start_server, wait_ready


def trace_count(quick: bool) -> int:
    return 10_000 if quick else 100_000


def seed(db_uri: str, artifacts: str, n: int) -> str:
    """``n`` finished traces in one experiment, written as the SQL trace store writes them (rows inserted in bulk,
    10,000 traces per transaction: the store's own per-trace path would take minutes); returns the experiment id."""
    import sqlalchemy as sa

    from mltrail.entities.trace import Span, dump_json
    from mltrail.store.sql.schema import spans, trace_info, trace_request_metadata, trace_tags
    from mltrail.store.sql.trace_columns import column_values
    from mltrail.store.sql.traces import SqlTraceStore
    from mltrail.store.sql.tracking import SqlTrackingStore

    exp = SqlTrackingStore(db_uri, artifacts).create_experiment(f"traces-list-{uuid.uuid4().hex[:6]}")
    store = SqlTraceStore(db_uri)
    rng = random.Random(7)
    origin_ms = int(time.time() * 1000) - n * 1000
    step = 10_000
    for first in range(0, n, step):
        infos, tags, metas, span_rows = [], [], [], []
        for i in range(first, min(n, first + step)):
            tid = f"tr-{uuid.uuid4().hex}"
            root, chat = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
            ns = (origin_ms + i * 1000) * 1_000_000
            tokens_in, tokens_out = rng.randint(50, 4000), rng.randint(10, 800)
            usage = {
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            }
            cost = {
                "input_cost": tokens_in * 0.15e-6,
                "output_cost": tokens_out * 0.6e-6,
                "total_cost": tokens_in * 0.15e-6 + tokens_out * 0.6e-6,
            }
            question = f"Question {i} about order {rng.randint(1, 99999)}"
            answer = "A refund is on its way." if i % 97 == 0 else f"Answer {i}."
            rid = dump_json(tid)
            for span in (
                Span(
                    tid,
                    root,
                    None,
                    "agent",
                    ns,
                    ns + 900_000_000,
                    "OK",
                    "",
                    {
                        "mlflow.traceRequestId": rid,
                        "mlflow.spanType": dump_json("AGENT"),
                        "mlflow.spanInputs": dump_json({"question": question}),
                        "mlflow.spanOutputs": dump_json(answer),
                    },
                ),
                Span(
                    tid,
                    chat,
                    root,
                    "chat",
                    ns + 1,
                    ns + 800_000_000,
                    "OK",
                    "",
                    {
                        "mlflow.traceRequestId": rid,
                        "mlflow.spanType": dump_json("CHAT_MODEL"),
                        "mlflow.llm.model": dump_json("gpt-4o-mini"),
                        "mlflow.chat.tokenUsage": dump_json(usage),
                        "mlflow.llm.cost": dump_json(cost),
                    },
                ),
            ):
                span_rows.append(
                    {
                        "trace_id": tid,
                        "span_id": span.span_id,
                        "parent_span_id": span.parent_id,
                        "experiment_id": int(exp),
                        "name": span.name,
                        "type": span.span_type,
                        "status": "OK",
                        "start_time_unix_nano": span.start_time_ns,
                        "end_time_unix_nano": span.end_time_ns,
                        "content": json.dumps(span.to_dict(), ensure_ascii=False),
                    }
                )
            meta = {
                "mlflow.trace.tokenUsage": json.dumps(usage),
                "mlflow.trace.cost": json.dumps(cost),
                "mlflow.trace.session": f"session-{i // 5}",
                "mlflow.trace.user": f"user-{i % 300}",
            }
            infos.append(
                {
                    **column_values(meta),
                    "request_id": tid,
                    "experiment_id": int(exp),
                    "timestamp_ms": origin_ms + i * 1000,
                    "execution_time_ms": rng.randint(100, 5000),
                    "status": "ERROR" if i % 50 == 0 else "OK",
                    "request_preview": json.dumps({"question": question}),
                    "trace_name": f"agent-{i % 7}",
                    "response_preview": json.dumps(answer),
                }
            )
            tags += [
                {"request_id": tid, "key": k, "value": v}
                for k, v in (
                    ("mlflow.traceName", f"agent-{i % 7}"),
                    ("mlflow.trace.spansLocation", "TRACKING_STORE"),
                    ("mlflow.artifactLocation", f"{artifacts}/traces/{tid}/artifacts"),
                )
            ]
            metas += [{"request_id": tid, "key": k, "value": v} for k, v in meta.items()]

        def write(conn: sa.Connection, infos=infos, tags=tags, metas=metas, span_rows=span_rows) -> None:
            conn.execute(sa.insert(trace_info), infos)
            conn.execute(sa.insert(trace_tags), tags)
            conn.execute(sa.insert(trace_request_metadata), metas)
            conn.execute(sa.insert(spans), span_rows)

        store.db.write(write)
    return exp


def _search(
    client: httpx.Client,
    exp: str,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    page_token: str | None = None,
) -> dict:
    body: dict = {
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
        "max_results": 100,
        "order_by": order_by or ["timestamp_ms DESC"],
    }
    if filter_string:
        body["filter"] = filter_string
    if page_token:
        body["page_token"] = page_token
    res = client.post("/ajax-api/3.0/mlflow/traces/search", json=body)
    assert res.status_code == 200, res.text
    return res.json()


def _median_ms(fn, reps: int = 5) -> float:
    fn()  # warm: the first call pays for the page cache
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _server_ms(client: httpx.Client, url: str, params: dict, reps: int = 5) -> tuple[float, float]:
    """(median round trip, median ``app;dur``) of a UI route."""
    trips, apps = [], []
    client.get(url, params=params)
    for _ in range(reps):
        start = time.perf_counter()
        res = client.get(url, params=params)
        trips.append((time.perf_counter() - start) * 1000)
        assert res.status_code == 200, res.text
        apps.append(float(res.headers["server-timing"].split("dur=")[1]))
    return statistics.median(trips), statistics.median(apps)


#: Every sort the traces list offers (and two more of search_traces), each paged by keyset.
SORTS = (
    "timestamp_ms DESC",
    "execution_time_ms ASC",
    "status ASC",
    "name ASC",
    "total_tokens DESC",
    "input_tokens ASC",
    "cost DESC",
    "session ASC",
    "user DESC",
)


def _offset_token(offset: int) -> str:
    """MLflow's page token shape (an offset only): what paging cost before keyset tokens."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _store_ms(store, exp: str, order: str, token: str | None, reps: int = 5) -> float:
    """Median time of the SQL store's search_traces call itself: the server's work, without HTTP."""
    return _median_ms(lambda: store.search_traces([exp], None, 100, [order], token), reps)


def _sorts(client: httpx.Client, exp: str, db: str) -> list[tuple[str, float]]:
    """Per sort: first page and page 51 (keyset) round trips, and the store's time for page 51 by keyset / offset."""
    from mltrail.store.sql.traces import SqlTraceStore

    store = SqlTraceStore(db)
    rows = []
    for order in SORTS:
        token = None
        for _ in range(50):
            token = _search(client, exp, order_by=[order], page_token=token)["next_page_token"]
        rows += [
            (
                f"{order}: first page, round trip",
                _median_ms(lambda o=order: _search(client, exp, order_by=[o])),
            ),
            (
                f"{order}: page 51, round trip",
                _median_ms(lambda o=order, t=token: _search(client, exp, order_by=[o], page_token=t)),
            ),
            (f"{order}: page 51, server (store) time, keyset", _store_ms(store, exp, order, token)),
            (
                f"{order}: page 51, server (store) time, offset",
                _store_ms(store, exp, order, _offset_token(5000), 3),
            ),
        ]
    return rows


def measure(quick: bool) -> list[tuple[str, float]]:
    n = trace_count(quick)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'traces.db'}"
        started = time.perf_counter()
        exp = seed(db, str(Path(tmp) / "artifacts"), n)
        seeded_s = time.perf_counter() - started
        proc, port = start_server(db, tmp)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
                wait_ready(client)
                token = None
                for _ in range(50):  # 50 pages deep, following the keyset tokens
                    token = _search(client, exp, page_token=token)["next_page_token"]
                rows = [
                    (f"seed {n:,} traces (bulk rows, 10,000 per transaction)", seeded_s * 1000),
                    ("first page, newest first (100 traces)", _median_ms(lambda: _search(client, exp))),
                    (
                        "page 51, newest first (keyset token)",
                        _median_ms(lambda: _search(client, exp, page_token=token)),
                    ),
                    (
                        "filter trace.session = 'session-777'",
                        _median_ms(lambda: _search(client, exp, "trace.session = 'session-777'")),
                    ),
                    (
                        "filter trace.user = 'user-5' AND trace.total_tokens > 3000",
                        _median_ms(
                            lambda: _search(
                                client, exp, "trace.user = 'user-5' AND trace.total_tokens > 3000"
                            )
                        ),
                    ),
                    (
                        "filter trace.status = 'ERROR' OR trace.cost > 0.0008",
                        _median_ms(
                            lambda: _search(client, exp, "trace.status = 'ERROR' OR trace.cost > 0.0008")
                        ),
                    ),
                    (
                        "full text trace.text LIKE '%refund%' (scans every span)",
                        _median_ms(lambda: _search(client, exp, "trace.text LIKE '%refund%'"), reps=3),
                    ),
                ]
                rows += _sorts(client, exp, db)
                ui = "/ajax-api/mltrail/experiments/traces"
                trip, app = _server_ms(client, f"{ui}/totals", {"experiment_ids": exp}, reps=3)
                rows += [
                    ("totals of all traces (tokens, cost), round trip", trip),
                    ("  same, server time", app),
                ]
                trip, app = _server_ms(
                    client, f"{ui}/totals", {"experiment_ids": exp, "filter": "trace.user = 'user-5'"}
                )
                rows += [("totals of one user's traces, round trip", trip), ("  same, server time", app)]
                trip, app = _server_ms(client, f"{ui}/sessions", {"experiment_ids": exp}, reps=3)
                rows += [
                    ("sessions page (100 of n/5 sessions), round trip", trip),
                    ("  same, server time", app),
                ]
        finally:
            proc.terminate()
            proc.wait(10)
    return rows


def run(quick: bool):
    """Section ``traces_list`` of ``bench/run.py``."""
    from report import Section

    n = trace_count(quick)
    sec = Section("traces_list", f"Traces list ({n:,} traces in one experiment, SQLite; medians)")
    sec.columns = ("mltrail",)
    for label, ms in measure(quick):
        sec.row(label).set("mltrail", ms / 1000)
    sec.notes.append("round trips on loopback through the REST search the UI calls; 'server time' is app;dur")
    sec.notes.append("MLflow's server is not seeded with 100,000 traces here (hours); no peer column")
    return sec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    rows = measure(ap.parse_args().quick)
    print("\n| what | median ms |\n|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.1f} |")


if __name__ == "__main__":
    main()
