"""The traces list in a real Chromium against a live ``mltrail server``: token, cost, session and user columns,
the search_traces filter box (full text, OR, a bad filter's message), sorting, totals, and two traces compared.

Traces arrive as collectors send them (OTLP/HTTP JSON with OpenTelemetry GenAI attributes), their infos through
MLflow 3's ``POST /traces``: tokens, cost, session and user are worked out by the server.
"""

from __future__ import annotations

import uuid

import pytest
from trace_seed import seed_trace

XSS = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def traces(seeder):
    exp = seeder.experiment(f"list-{uuid.uuid4().hex[:8]}")
    ids = [
        seed_trace(
            seeder.http, exp, 0, "Can I get a refund?", "Yes, the refund is approved.", "conv-1", "ana", 1000
        ),
        seed_trace(
            seeder.http, exp, 1, "How long is shipping?", "Three days.", "conv-1", "ana", 4000, model="gpt-4o"
        ),
        seed_trace(seeder.http, exp, 2, XSS, "An error happened", "conv-2", XSS, 200, state="ERROR"),
        seed_trace(seeder.http, exp, 3, "Hello", "Hi!", None, None, None),
    ]
    return exp, ids


def _rows(page) -> list[str]:
    return page.locator("table.traces tbody tr[data-trace-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.traceId)"
    )


def _wait_rows(page, n: int) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('table.traces tbody tr[data-trace-id]').length === {n}"
    )


def test_columns_filter_box_sorting_and_totals(page, traces):
    exp, ids = traces
    page.goto(f"/#/experiments/{exp}/traces")
    _wait_rows(page, 4)
    assert _rows(page) == ids[::-1]
    first = page.locator(f"tr[data-trace-id='{ids[0]}']")
    assert first.locator("td.tokens").inner_text() == "1,500"
    assert first.locator("td.cost").inner_text() == "$0.00045"  # 1000 x 0.15 + 500 x 0.60 per 1M tokens
    assert first.locator("td.session a").inner_text() == "conv-1"
    assert first.locator("td.user").inner_text() == "ana"
    assert first.locator("td.latency").inner_text() == "100ms"
    assert page.locator(f"tr[data-trace-id='{ids[2]}'] td.user").inner_text() == XSS  # text, never markup
    page.wait_for_function("() => document.querySelector('.trace-totals').textContent.startsWith('4 traces')")
    assert "7,800 tokens" in page.locator(".trace-totals").inner_text()

    box = page.get_by_role("searchbox", name="Filter traces")
    box.fill("trace.text ILIKE '%REFUND%' OR trace.status = 'ERROR'")
    box.press("Enter")
    _wait_rows(page, 2)
    assert _rows(page) == [ids[2], ids[0]]
    assert "filter=" in page.url
    page.wait_for_function("() => document.querySelector('.trace-totals').textContent.startsWith('2 traces')")

    box.fill("trace.cost > 'cheap'")
    box.press("Enter")
    page.wait_for_selector(".filter-error .error")
    assert "expected a number" in page.locator(".filter-error").inner_text()
    assert box.get_attribute("aria-invalid") == "true"

    box.fill("(trace.session = 'conv-1') AND trace.user = 'ana'")
    box.press("Enter")
    _wait_rows(page, 2)
    assert page.locator(".filter-error .error").count() == 0
    box.fill("")
    box.press("Enter")
    _wait_rows(page, 4)
    page.locator("th[data-sort='cost'] button").click()  # most expensive first, traces without a cost last
    page.wait_for_function(
        f"() => document.querySelector('table.traces tbody tr[data-trace-id]')?.dataset.traceId === '{ids[1]}'"
    )
    assert _rows(page) == [ids[1], ids[0], ids[2], ids[3]]
    assert page.locator("th[data-sort='cost']").get_attribute("aria-sort") == "descending"
    page.locator("th[data-sort='tokens'] button").click()
    page.locator("th[data-sort='tokens'] button").click()  # again: ascending
    page.wait_for_function(
        f"() => document.querySelector('table.traces tbody tr[data-trace-id]')?.dataset.traceId === '{ids[2]}'"
    )
    assert _rows(page)[:3] == [ids[2], ids[0], ids[1]]
    assert "sort=tokens%3Aasc" in page.url or "sort=tokens:asc" in page.url
    assert page.evaluate("window.__pwned === undefined")
    assert [e for e in page.console_errors if "status of 400" not in e] == []  # the bad filter's answer only


def test_two_traces_side_by_side(page, traces):
    exp, ids = traces
    page.goto(f"/#/experiments/{exp}/traces")
    _wait_rows(page, 4)
    compare = page.get_by_role("button", name="Compare 2 traces")
    assert compare.is_disabled()
    page.locator(f"tr[data-trace-id='{ids[0]}'] input.pick").check()
    page.locator(f"tr[data-trace-id='{ids[1]}'] input.pick").check()
    compare.click()
    page.wait_for_selector("table.trace-compare")
    assert f"ids={ids[0]}" in page.url.replace("%2C", ",")
    row = lambda fact: page.locator(f"table.trace-compare tr[data-fact='{fact}']")  # noqa: E731
    assert row("session").get_attribute("class") == ""  # same session: not marked
    assert "differs" in row("tokens").get_attribute("class")
    assert row("tokens").locator("td.left").inner_text().startswith("1,500 tokens")
    assert row("tokens").locator("td.right").inner_text().startswith("6,000 tokens")
    assert row("request").locator("td.right").inner_text() == '{ "question": "How long is shipping?" }'
    columns = page.locator(".compare-columns ol")
    assert columns.count() == 2
    assert columns.nth(0).locator("li").evaluate_all(
        "els => els.map(e => e.querySelector('.span-name').textContent)"
    ) == ["agent", "chat"]
    assert (
        page.locator(".compare-columns ol")
        .nth(1)
        .locator("li[data-depth='1']")
        .inner_text()
        .startswith("chat")
    )
    assert page.console_errors == []
