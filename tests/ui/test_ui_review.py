"""The review pages of the web UI (MLflow 3.14's review queues), in Chromium: a reviewer labels one trace.

The queue, its questions (a categorical, a numeric expectation and a free-text one with a
comment) and two traces are made over the REST API as the official client sends them; the
reviewer opens the experiment's Review tab, works on the first trace, and the answers must
arrive as assessments on the trace (Feedback / Expectation, source HUMAN) with the item
complete, the page moving on to the next pending trace. Values carrying markup show as text.
"""

from __future__ import annotations

import time

import httpx
import pytest
from trace_seed import seed_trace

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"


def test_reviewer_labels_one_trace(page, ui_server, seeder):
    exp = seeder.experiment(f"review-{time.time_ns()}")
    api = f"{ui_server}/api/3.0/mlflow"
    with httpx.Client(timeout=30) as http:
        first = seed_trace(seeder.http, exp, 1, "What is 2+2? " + XSS, "4", None, None, 10)
        second = seed_trace(seeder.http, exp, 2, "Capital of France?", "Paris", None, None, 10)

        def schema(name: str, kind: str, spec: dict, **extra) -> str:
            body = {"experiment_id": exp, "name": name, "type": kind, "input": spec, **extra}
            resp = http.post(f"{api}/label-schemas/create", json=body)
            assert resp.status_code == 200, resp.text
            return resp.json()["label_schema"]["schema_id"]

        ids = [
            schema("correct", "FEEDBACK", {"categorical": {"options": ["yes", "no", XSS]}}, instruction=XSS),
            schema("score", "EXPECTATION", {"numeric": {"min_value": 0, "max_value": 5}}),
            schema("notes", "FEEDBACK", {"text": {}}, enable_comment=True),
        ]
        body = {
            "experiment_id": exp,
            "name": "triage",
            "queue_type": "CUSTOM",
            "users": ["anonymous"],
            "schema_ids": ids,
        }
        queue = http.post(f"{api}/review-queues/create", json=body).json()["review_queue"]
        for trace_id in (first, second):  # attached one after the other: the page starts with the oldest
            added = http.post(
                f"{api}/review-queues/items/add", json={"queue_id": queue["queue_id"], "item_ids": [trace_id]}
            )
            assert added.status_code == 200, added.text
            time.sleep(0.01)

    page.goto(f"/#/experiments/{exp}")
    page.get_by_role("link", name="Review").click()
    page.wait_for_selector(f"tr[data-queue-id='{queue['queue_id']}']")
    assert page.locator(f"tr[data-queue-id='{queue['queue_id']}'] .queue-pending").inner_text() == "2 / 2"
    assert page.locator("tr[data-schema-id]").count() == 4  # the three and the default "Feedback" question

    page.get_by_role("link", name="triage").click()
    page.wait_for_selector("form.review-form")
    assert "Item 1 of 2" in page.locator(".review-progress").inner_text()
    shown = page.locator(".review-trace").inner_text()
    assert XSS in shown and '"question": "What is 2+2?' in shown  # the request, as text
    assert XSS in page.locator("fieldset[data-schema='correct']").inner_text()  # option and instruction
    page.get_by_role("combobox", name="correct").select_option("yes")
    page.get_by_role("spinbutton", name="score").fill("7")
    page.get_by_role("button", name="Save and next").click()
    page.wait_for_selector("[role=alert]")  # out of range: nothing saved
    assert "between 0 and 5" in page.locator("[role=alert]").inner_text()
    page.get_by_role("spinbutton", name="score").fill("4.5")
    page.get_by_role("textbox", name="notes", exact=True).fill("fine")
    page.get_by_role("textbox", name="notes comment").fill("short answer")
    page.get_by_role("button", name="Save and next").click()
    page.wait_for_selector(".review-progress:has-text('1 done')")
    assert "Capital of France?" in page.locator(".review-trace").inner_text()
    assert page.locator(".review-status").inner_text() == "pending"

    with httpx.Client(timeout=30) as http:
        trace = http.get(f"{api}/traces/{first}").json()["trace"]
        items = http.get(f"{api}/review-queues/items/list", params={"queue_id": queue["queue_id"]}).json()[
            "items"
        ]
    got = {a["assessment_name"]: a for a in trace["trace_info"]["assessments"]}
    assert got["correct"]["feedback"]["value"] == "yes"
    assert got["score"]["expectation"]["value"] == 4.5
    assert got["notes"]["feedback"]["value"] == "fine" and got["notes"]["rationale"] == "short answer"
    assert {a["source"]["source_type"] for a in got.values()} == {"HUMAN"}
    assert {a["source"]["source_id"] for a in got.values()} == {"anonymous"}
    status = {i["item_id"]: (i["status"], i.get("completed_by")) for i in items}
    assert status == {first: ("COMPLETE", "anonymous"), second: ("PENDING", None)}
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("window.__csp") == []
    errors = [e for e in page.console_errors if not e.startswith("Failed to load resource")]
    assert errors == [], errors
