"""Migration 0008: trace_info's session, user, token and cost columns (store/sql/trace_columns.py).

On SQLite, PostgreSQL and MariaDB: the migration fills the columns of traces
stored before it, the store keeps them in step with the metadata it writes
(start/end trace, spans carrying OTel session.id / user.id and usage), and
search_traces, the totals and the sessions page answer from them.
"""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from mltrail.entities.trace import Span, TraceInfo, TraceMetadataKey, TraceState
from mltrail.store.sql import schema
from mltrail.store.sql.engine import create_sql_engine
from mltrail.store.sql.migrate import _config, current_revision, head_revision, upgrade_db
from mltrail.store.sql.trace_paging import column_for
from mltrail.store.sql.trace_search import compile_filter
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.trace_filter import parse_trace_filter
from support.sql_backends import SQL_BACKENDS

K = TraceMetadataKey
LONG_SESSION = "s" * 300


@pytest.fixture(params=SQL_BACKENDS)
def empty_uri(request, tmp_path):
    """A brand-new empty database of its own on each backend (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = request.getfixturevalue(f"{request.param}_uri")
    prefix = base.rsplit("/", 1)[0] + "/"
    admin = sa.create_engine(
        prefix + ("postgres" if request.param == "postgres" else ""), isolation_level="AUTOCOMMIT"
    )
    name = f"mltrail_cols_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield prefix + name
    create_sql_engine(prefix + name).dispose()
    with admin.connect() as conn:
        force = " WITH (FORCE)" if request.param == "postgres" else ""
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
    admin.dispose()


def _upgrade_to(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def test_migration_fills_the_columns_of_existing_traces(empty_uri):
    engine = sa.create_engine(empty_uri)
    _upgrade_to(engine, "0007")
    assert current_revision(engine) == "0007"
    old = {
        "tr-a": {
            K.TRACE_SESSION: "s1",
            K.TRACE_USER: "alice",
            K.TOKEN_USAGE: json.dumps({"input_tokens": 7, "output_tokens": 5, "total_tokens": 12}),
            K.COST: json.dumps({"input_cost": 0.001, "output_cost": 0.002, "total_cost": 0.003}),
        },
        "tr-b": {
            K.TRACE_SESSION: LONG_SESSION,
            K.TOKEN_USAGE: "not json",
            K.COST: json.dumps({"total_cost": "x"}),
        },
        "tr-c": {"other": "value"},
    }
    with engine.begin() as conn:
        exp = conn.execute(
            sa.insert(schema.experiments).values(name="old", artifact_location="/tmp/a")
        ).inserted_primary_key[0]
        for i, (trace_id, meta) in enumerate(old.items()):
            conn.execute(
                sa.insert(schema.trace_info).values(
                    request_id=trace_id, experiment_id=exp, timestamp_ms=1000 + i, status="OK"
                )
            )
            conn.execute(
                sa.insert(schema.trace_request_metadata),
                [{"request_id": trace_id, "key": k, "value": v} for k, v in meta.items()],
            )
    engine.dispose()

    assert upgrade_db(empty_uri) == head_revision() >= "0008"
    engine = create_sql_engine(empty_uri)
    cols = [
        "request_id",
        "session_id",
        "user_id",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "input_cost",
        "output_cost",
        "total_cost",
    ]
    with engine.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM trace_info"))}
    a = rows["tr-a"]
    assert a[:5] == ("s1", "alice", 7, 5, 12)
    assert [round(float(v), 6) for v in a[5:]] == [0.001, 0.002, 0.003]
    assert rows["tr-b"] == (None,) * 8  # a session id too long to copy, unreadable usage: left NULL
    assert rows["tr-c"] == (None,) * 8
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("trace_info")}
    assert {
        "idx_trace_info_experiment_session",
        "idx_trace_info_experiment_user",
        "idx_trace_info_experiment_tokens",
        "idx_trace_info_experiment_cost",
    } <= indexes

    # The old traces are searchable through the columns right away; the long session through its metadata.
    traces = SqlTraceStore(empty_uri)
    found, _ = traces.search_traces([str(exp)], "trace.session = 's1' AND trace.total_tokens >= 12")
    assert [t.trace_id for t in found] == ["tr-a"]
    found, _ = traces.search_traces([str(exp)], f"trace.session = '{LONG_SESSION}'")
    assert [t.trace_id for t in found] == ["tr-b"]


T = {f"tr-{n}": f"tr-{n:032x}" for n in range(1, 6)}  # trace ids are 32 hex digits
NAME = {v: k for k, v in T.items()}


def _span(trace_id: str, name: str, start: int, attrs: dict) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=uuid.uuid4().hex[:16],
        parent_id=None,
        name=name,
        start_time_ns=start,
        end_time_ns=start + 10,
        raw_attributes={k: json.dumps(v) for k, v in attrs.items()},
    )


def _columns(traces: SqlTraceStore, trace_id: str) -> tuple:
    ti = schema.trace_info.c
    with traces.db.read() as conn:
        return tuple(
            conn.execute(
                sa.select(ti.session_id, ti.user_id, ti.total_tokens, ti.total_cost).where(
                    ti.request_id == trace_id
                )
            ).one()
        )


def _info(exp: str, trace_id: str, ts: int, meta: dict) -> TraceInfo:
    return TraceInfo(
        trace_id=trace_id,
        experiment_id=exp,
        request_time=ts,
        execution_duration=5,
        state=TraceState.OK,
        trace_metadata=meta,
    )


def test_store_keeps_the_columns_and_searches_read_them(store, db_uri):
    exp = store.create_experiment(f"cols-{uuid.uuid4().hex[:6]}")
    traces = SqlTraceStore(db_uri)

    def usage(n: int, c: float) -> dict[str, str]:
        return {
            K.TOKEN_USAGE: json.dumps({"input_tokens": n, "output_tokens": n, "total_tokens": 2 * n}),
            K.COST: json.dumps({"input_cost": c, "output_cost": c, "total_cost": 2 * c}),
        }

    traces.start_trace(
        _info(exp, T["tr-1"], 1000, {K.TRACE_SESSION: "s1", K.TRACE_USER: "ann", **usage(10, 0.01)})
    )
    traces.start_trace(
        _info(exp, T["tr-2"], 2000, {K.TRACE_SESSION: "s1", K.TRACE_USER: "ann", **usage(30, 0.05)})
    )
    traces.start_trace(_info(exp, T["tr-3"], 3000, {K.TRACE_SESSION: "s2", **usage(20, 0.02)}))
    traces.start_trace(_info(exp, T["tr-4"], 4000, {}))
    assert _columns(traces, T["tr-2"]) == ("s1", "ann", 60, pytest.approx(0.1))
    assert _columns(traces, T["tr-4"]) == (None, None, None, None)

    # Spans with OTel ids and GenAI usage arriving for a trace (OTLP, live): the columns follow.
    attrs = {
        "session.id": "s3",
        "user.id": "bob",
        "mlflow.chat.tokenUsage": {"input_tokens": 4, "output_tokens": 6, "total_tokens": 10},
    }
    traces.log_spans(exp, [_span(T["tr-5"], "llm", 5_000_000_000, attrs)])
    assert _columns(traces, T["tr-5"]) == ("s3", "bob", 10, None)
    # A metadata update through start_trace (the SDK's end of trace) rewrites them.
    traces.start_trace(_info(exp, T["tr-4"], 4000, {K.TRACE_SESSION: "s2", **usage(1, 0.5)}))
    assert _columns(traces, T["tr-4"]) == ("s2", None, 2, pytest.approx(1.0))

    def ids(filter_string=None, order_by=None):
        return [NAME[t.trace_id] for t in traces.search_traces([exp], filter_string, order_by=order_by)[0]]

    assert ids("trace.session = 's1'") == ["tr-2", "tr-1"]
    assert ids("trace.user IN ('ann', 'bob')") == ["tr-5", "tr-2", "tr-1"]
    assert ids("trace.session != 's1'") == ["tr-5", "tr-4", "tr-3"]  # != still reads the metadata
    assert ids("trace.total_tokens > 25") == ["tr-3", "tr-2"]
    assert ids("trace.cost >= 0.1") == ["tr-4", "tr-2"]
    assert ids(order_by=["total_tokens DESC"]) == ["tr-2", "tr-3", "tr-1", "tr-5", "tr-4"]
    assert ids(order_by=["cost ASC"]) == ["tr-1", "tr-3", "tr-2", "tr-4", "tr-5"]  # no cost: last
    # ties (s2: tr-3, tr-4; s1: tr-1, tr-2) follow the sort direction too: one index serves order and paging
    assert ids(order_by=["session DESC"]) == ["tr-5", "tr-4", "tr-3", "tr-2", "tr-1"]
    assert ids(order_by=["user ASC"]) == ["tr-1", "tr-2", "tr-5", "tr-3", "tr-4"]  # no user: last

    totals = traces.trace_totals([exp])
    assert totals["trace_count"] == 5 and totals["total_tokens"] == 20 + 60 + 40 + 2 + 10
    assert totals["input_tokens"] == 10 + 30 + 20 + 1 + 4
    assert totals["total_cost"] == pytest.approx(0.02 + 0.1 + 0.04 + 1.0)
    assert traces.trace_totals([exp], "trace.session = 's1'")["total_tokens"] == 80

    sessions, token = traces.session_summaries([exp])
    assert token is None
    assert [(s["session_id"], s["trace_count"], s["user"], s["total_tokens"]) for s in sessions] == [
        ("s3", 1, "bob", 10),
        ("s2", 2, None, 42),
        ("s1", 2, "ann", 80),
    ]
    assert sessions[2]["first_timestamp_ms"] == 1000 and sessions[2]["last_timestamp_ms"] == 2000


def test_filters_and_sorts_compile_to_the_columns_not_the_metadata():
    def sql(expr) -> str:
        return str(expr.compile(compile_kwargs={"literal_binds": True}))

    for text, column in (
        ("trace.session = 's1'", "session_id"),
        ("trace.user IN ('a', 'b')", "user_id"),
        ("trace.total_tokens > 5", "total_tokens"),
        ("trace.cost < 0.5", "total_cost"),
        ("trace.input_tokens = 3", "input_tokens"),
    ):
        compiled = sql(compile_filter("sqlite", parse_trace_filter(text)))
        assert f"trace_info.{column}" in compiled and "trace_request_metadata" not in compiled
    long_filter = sql(compile_filter("sqlite", parse_trace_filter(f"trace.session = '{LONG_SESSION}'")))
    assert "trace_request_metadata" in long_filter
    for name, column in (
        ("session", "session_id"),
        ("user", "user_id"),
        ("total_tokens", "total_tokens"),
        ("cost", "total_cost"),
        ("name", "trace_name"),
    ):
        assert sql(column_for(name)) == f"trace_info.{column}"
