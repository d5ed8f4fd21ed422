"""A trace written by mltrail's SDK while it runs, watched in a real Chromium against a live server.

The test process traces code with ``mltrail.start_span`` against the shared UI
server: the SDK sends the trace's start (info ``IN_PROGRESS`` with its session
and user, the running root span) and then each span as it ends. The traces
list shows the new row without a reload, the trace page shows the root from
the first moment and grows span by span over server-sent events, and both show
the trace done when the root ends.
"""

from __future__ import annotations

import uuid

import mltrail
from mltrail.tracing.export import flush_trace_async_logging


def _labels(page) -> list[str]:
    return page.locator(".span-viewport .span-row .span-label").evaluate_all(
        "els => els.map(e => e.textContent)"
    )


def test_a_running_sdk_trace_appears_in_the_list_and_grows_on_its_page(page, ui_server, monkeypatch):
    monkeypatch.setenv("MLTRAIL_TRACE_LIVE_INTERVAL_MS", "100")
    mltrail.set_tracking_uri(ui_server)
    exp = mltrail.set_experiment(f"live-sdk-{uuid.uuid4().hex[:8]}").experiment_id
    page.goto(f"/#/experiments/{exp}/traces")
    page.wait_for_selector("text=No traces yet.")

    with mltrail.start_span("live-agent", span_type="AGENT") as root:
        root.set_inputs({"question": "Where is my refund?"})
        mltrail.update_current_trace(session_id="chat-7", user="ana")
        # The list hears about the trace while it runs: running, with its name, session and user.
        row = page.locator(f"tr[data-trace-id='{root.trace_id}']")
        row.wait_for()
        assert row.get_attribute("data-state") == "IN_PROGRESS"
        assert row.locator("td.latency").inner_text() == "running…"
        assert row.locator("td.session").inner_text() == "chat-7"
        assert row.locator("td.user").inner_text() == "ana"
        assert "live-agent" in row.inner_text()
        row.locator("a").first.click()
        # The page shows the root from the first moment, still running.
        page.wait_for_selector(".span-row .span-label:text('live-agent')")
        assert page.locator(".trace-state .badge").inner_text() == "IN_PROGRESS"
        assert _labels(page) == ["live-agent"]
        with mltrail.start_span("retrieve", span_type="RETRIEVER") as step:
            step.set_outputs([{"doc": "refunds.md"}])
        page.wait_for_selector(".span-row .span-label:text('retrieve')")
        assert _labels(page) == ["live-agent", "retrieve"]
        with mltrail.start_span("answer", span_type="LLM"):
            pass
        page.wait_for_selector(".span-row .span-label:text('answer')")
        assert _labels(page) == ["live-agent", "retrieve", "answer"]
        assert page.locator(".trace-state .badge").inner_text() == "IN_PROGRESS"
        root.set_outputs("It is on its way.")

    flush_trace_async_logging()
    page.wait_for_selector(".trace-state .badge:text-is('OK')")
    assert _labels(page) == ["live-agent", "retrieve", "answer"]
    page.go_back()
    page.wait_for_selector(f"tr[data-trace-id='{root.trace_id}'][data-state='OK']")
    assert page.console_errors == [], page.console_errors
