"""The Sessions view in a real Chromium against a live ``mltrail server``: sessions of an experiment with their
user, turns, tokens and cost; one session read turn by turn with its totals."""

from __future__ import annotations

import uuid

from trace_seed import seed_trace

XSS = "<img src=x onerror=window.__pwned=1>"


def test_sessions_list_and_one_conversation_turn_by_turn(page, seeder):
    exp = seeder.experiment(f"sessions-{uuid.uuid4().hex[:8]}")
    http = seeder.http
    seed_trace(http, exp, 0, "Hi, I want a refund", "Sure, which order?", "chat-A", "ana", 1000)
    seed_trace(http, exp, 1, "Order 42", "Refund sent.", "chat-A", "ana", 2000, state="ERROR")
    seed_trace(http, exp, 2, "Thanks!", XSS, "chat-A", "ana", 100)
    seed_trace(http, exp, 3, "Where is my parcel?", "On its way.", "chat-B", "bob", 500, model="gpt-4o")
    seed_trace(http, exp, 4, "No session here", "ok", None, None, 10)

    page.goto(f"/#/experiments/{exp}/sessions")
    page.wait_for_selector("table.sessions tbody tr[data-session-id]")
    rows = page.locator("table.sessions tbody tr[data-session-id]")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.sessionId)") == [
        "chat-B",
        "chat-A",
    ]  # latest turn first
    a = page.locator("tr[data-session-id='chat-A']")
    assert (a.locator("td.user").inner_text(), a.locator("td.turns").inner_text()) == ("ana", "3")
    assert a.locator("td.tokens").inner_text() == "4,650"  # (1000 + 2000 + 100) x 1.5
    assert a.locator("td.cost").inner_text() == "$0.00139"  # gpt-4o-mini: 3100 x 0.15 + 1550 x 0.60 per 1M
    assert a.locator("td.errors").inner_text() == "1"

    box = page.get_by_role("searchbox", name="Filter the traces of sessions")
    box.fill("trace.user = 'bob'")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('table.sessions tbody tr[data-session-id]').length === 1"
    )

    page.goto(f"/#/experiments/{exp}/sessions")
    page.locator("tr[data-session-id='chat-A'] a").click()
    page.wait_for_selector("li.session-turn")
    turns = page.locator("li.session-turn")
    page.wait_for_function("() => document.querySelectorAll('li.session-turn').length === 3")
    assert turns.locator(".turn-request p").all_inner_texts() == [
        "Hi, I want a refund",
        "Order 42",
        "Thanks!",
    ]
    assert turns.locator(".turn-response p").all_inner_texts() == ["Sure, which order?", "Refund sent.", XSS]
    assert turns.nth(1).get_attribute("data-state") == "ERROR"
    assert "3,000 tokens" in turns.nth(1).locator(".turn-facts").inner_text()
    page.wait_for_function("() => document.querySelector('.trace-totals').textContent.startsWith('3 traces')")
    assert "4,650 tokens" in page.locator(".trace-totals").inner_text()
    turns.nth(0).locator(".turn-head a").click()
    page.wait_for_selector(".trace-summary .trace-cost")
    assert page.locator(".trace-summary .trace-cost strong").inner_text().startswith("$0.00045")
    assert page.locator(".trace-summary .trace-user strong").inner_text() == "ana"
    page.locator(".trace-summary .trace-session a").click()  # back to the conversation
    page.wait_for_function("() => document.querySelectorAll('li.session-turn').length === 3")
    assert page.evaluate("window.__pwned === undefined") and page.console_errors == []
