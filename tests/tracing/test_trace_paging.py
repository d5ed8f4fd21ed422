"""Keyset pages of ``search_traces`` in every sort, on SQLite, PostgreSQL and MariaDB.

Traces with ties and missing values (no tokens, no session, no name...) are
paged 8 at a time in each sort and direction; the pages together must be the
whole order (value, then request id in the sort's direction, traces without a
value last), each token a keyset one. MLflow-shaped offset tokens read the
same pages; tokens that are not ours or belong to another sort are 400.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from mltrail.entities.trace import Trace, TraceData, TraceInfo
from mltrail.exceptions import MltrailException
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS

N = 30
SORTS = (
    "timestamp_ms",
    "execution_time_ms",
    "status",
    "name",
    "trace_id",
    "session",
    "user",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "cost",
)


def _info(exp: str, i: int) -> TraceInfo:
    meta: dict[str, str] = {}
    if i % 6:
        meta["mlflow.trace.session"] = f"s{i % 4}"
    if i % 5:
        meta["mlflow.trace.user"] = f"u{i % 3}"
    if i % 4:
        usage = {"input_tokens": i % 5, "output_tokens": (i * 7) % 9, "total_tokens": i % 5 + (i * 7) % 9}
        meta["mlflow.trace.tokenUsage"] = json.dumps(usage)
    if i % 3:
        meta["mlflow.trace.cost"] = json.dumps({"total_cost": [0.25, 0.5, 0.125][i % 3] * (i % 2 + 1)})
    tags = {"mlflow.traceName": ["alpha", "beta", "gamma"][i % 3]} if i % 7 else {}
    return TraceInfo(
        f"tr-{uuid.uuid4().hex}",
        exp,
        1_700_000_000_000 + (i % 13) * 1000,
        None if i % 5 == 0 else (i * 37) % 11,
        "ERROR" if i % 3 == 0 else "OK",
        meta,
        tags,
    )


def _value(info: TraceInfo, key: str):
    meta = info.trace_metadata
    usage = json.loads(meta.get("mlflow.trace.tokenUsage", "null")) or {}
    cost = json.loads(meta.get("mlflow.trace.cost", "null")) or {}
    return {
        "timestamp_ms": info.request_time,
        "execution_time_ms": info.execution_duration,
        "status": info.state,
        "trace_id": info.trace_id,
        "name": info.tags.get("mlflow.traceName"),
        "session": meta.get("mlflow.trace.session"),
        "user": meta.get("mlflow.trace.user"),
        "total_tokens": usage.get("total_tokens"),
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "cost": cost.get("total_cost"),
    }[key]


def _expected(infos: list[TraceInfo], key: str, ascending: bool) -> list[str]:
    have = sorted(
        (i for i in infos if _value(i, key) is not None),
        key=lambda i: (_value(i, key), i.trace_id),
        reverse=not ascending,
    )
    missing = sorted(
        (i for i in infos if _value(i, key) is None), key=lambda i: i.trace_id, reverse=not ascending
    )
    return [i.trace_id for i in have + missing]


def _doc(token: str) -> dict:
    return json.loads(base64.b64decode(token))


def _token(doc: dict) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def seeded(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("paging")
    uri = (
        f"sqlite:///{tmp_path / 't.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue(f"{request.param}_uri")
    )
    exp = SqlTrackingStore(uri, str(tmp_path / "artifacts")).create_experiment(
        f"paging-{uuid.uuid4().hex[:8]}"
    )
    store = SqlTraceStore(uri)
    infos = [_info(exp, i) for i in range(N)]
    store.log_traces([Trace(info, TraceData([])) for info in infos])
    return store, exp, infos


def test_every_sort_pages_by_keyset_through_ties_and_missing_values(seeded):
    store, exp, infos = seeded
    for key in SORTS:
        for ascending in (True, False):
            order = [f"{key} {'ASC' if ascending else 'DESC'}"]
            got, token, pages = [], None, 0
            while True:
                page, token = store.search_traces([exp], None, 8, order, token)
                got += [i.trace_id for i in page]
                pages += 1
                if token is None:
                    break
                assert "after" in _doc(token) and _doc(token)["sort"] == order[0]
            assert got == _expected(infos, key, ascending), order
            assert pages == -(-N // 8)
            # MLflow's token shape (an offset only) reads the same page, by offset.
            third, _ = store.search_traces([exp], None, 8, order, _token({"offset": 16}))
            assert [i.trace_id for i in third] == got[16:24], order


def test_filters_and_several_keys_still_page(seeded):
    store, exp, infos = seeded
    ok = [i for i in infos if i.state == "OK"]
    got, token = [], None
    while True:
        page, token = store.search_traces([exp], "trace.status = 'OK'", 4, ["cost ASC"], token)
        got += [i.trace_id for i in page]
        if token is None:
            break
    assert got == _expected(ok, "cost", True)
    # Two keys: paged by offset (the token holds no keyset position).
    first, token = store.search_traces([exp], None, 10, ["status ASC", "timestamp_ms DESC"])
    assert "after" not in _doc(token)
    second, _ = store.search_traces([exp], None, 10, ["status ASC", "timestamp_ms DESC"], token)
    expected = sorted(infos, key=lambda i: (i.state, -i.request_time, i.trace_id))
    assert [i.trace_id for i in first + second] == [i.trace_id for i in expected[:20]]


def test_bad_tokens_are_invalid_parameter_value(seeded):
    store, exp, _ = seeded
    _, token = store.search_traces([exp], None, 5, ["cost DESC"])
    doc = _doc(token)
    bad = [
        "not a token!",
        _token(
            {"offset": 5, "sort": "cost DESC", "after": ["cheap", doc["after"][1]]}
        ),  # a string for a number
        _token({"offset": 5, "sort": "cost DESC", "after": [0.5]}),
        _token({"offset": 5, "sort": "cost DESC", "after": [0.5, 7]}),
        _token({"offset": -1}),
    ]
    for token_text in bad:
        with pytest.raises(MltrailException) as err:
            store.search_traces([exp], None, 5, ["cost DESC"], token_text)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE", token_text
    with pytest.raises(MltrailException) as err:  # a token of another sort
        store.search_traces([exp], None, 5, ["user DESC"], token)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "ordered by 'cost DESC'" in err.value.message
    with pytest.raises(MltrailException) as err:  # a NULL position in a sort that has no NULLs
        store.search_traces(
            [exp],
            None,
            5,
            ["status ASC"],
            _token({"offset": 5, "sort": "status ASC", "after": [None, "tr-1"]}),
        )
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
