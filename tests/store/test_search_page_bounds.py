"""A run search compiles once and binds its page bounds per call (SQLite, PostgreSQL, MariaDB).

Every page and page size of one search shares the compiled SQL, so these check
that each call still gets exactly its own rows, in order, with the right token.
"""

from __future__ import annotations

from mltrail.entities import Metric, Param, RunTag
from mltrail.store.paging import encode_page_token

FILTER = "metrics.acc > 0.1 AND params.kind = 'a' AND tags.team = 'x'"
ORDER = ["metrics.acc DESC"]


def _seed(store) -> tuple[str, list[str]]:
    """Nine runs of which six match FILTER, returned in ORDER (highest acc first)."""
    exp = store.create_experiment("paged")
    matching = []
    for i in range(9):
        run_id = store.create_run(exp, "me", 1000 + i, [], None).info.run_id
        kind = "a" if i % 3 else "b"
        store.log_batch(
            run_id,
            metrics=[Metric("acc", 0.2 + i / 100, 1, 0)],
            params=[Param("kind", kind)],
            tags=[RunTag("team", "x")],
        )
        if kind == "a":
            matching.append(run_id)
    return exp, list(reversed(matching))


def _page(store, exp, size, token=None):
    page = store.search_runs([exp], FILTER, max_results=size, order_by=ORDER, page_token=token)
    return [r.info.run_id for r in page], page.token


def test_every_page_size_walks_the_same_order(store):
    exp, expected = _seed(store)
    assert _page(store, exp, 100) == (expected, None)
    for size in (1, 2, 4, 5, 6, 7):
        seen, token = [], None
        while True:
            ids, token = _page(store, exp, size, token)
            seen += ids
            if token is None:
                break
        assert seen == expected, size


def test_bounds_do_not_leak_between_calls(store):
    exp, expected = _seed(store)
    # A page from one size and offset, then another, then the first again: each is its own slice.
    assert _page(store, exp, 2, encode_page_token(2)) == (expected[2:4], encode_page_token(4))
    assert _page(store, exp, 3) == (expected[:3], encode_page_token(3))
    assert _page(store, exp, 2, encode_page_token(2)) == (expected[2:4], encode_page_token(4))
    # The last rows: no token when nothing follows, also right at the end.
    assert _page(store, exp, 3, encode_page_token(3)) == (expected[3:], None)
    assert _page(store, exp, 5, encode_page_token(4)) == (expected[4:], None)
    assert _page(store, exp, 2, encode_page_token(6)) == ([], None)


def test_json_pages_bind_the_same_bounds(store):
    exp, expected = _seed(store)
    page = store.search_runs_json([exp], FILTER, max_results=4, order_by=ORDER)
    assert [r["info"]["run_id"] for r in page] == expected[:4]
    assert page.token == encode_page_token(4)
    page = store.search_runs_json([exp], FILTER, max_results=4, order_by=ORDER, page_token=page.token)
    assert [r["info"]["run_id"] for r in page] == expected[4:]
    assert page.token is None
