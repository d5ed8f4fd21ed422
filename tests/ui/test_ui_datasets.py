"""The Datasets pages of the web UI (an experiment's evaluation datasets, one dataset's records), in Chromium.

Datasets are created over MLflow's REST API (``/api/3.0/mlflow/datasets/…``, as the official client
sends them), with names, tags and record values carrying markup that must show as text.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"


def test_experiment_datasets_tab_and_dataset_records(page, ui_server, seeder):
    exp = seeder.experiment(f"datasets-{time.time_ns()}")
    api = f"{ui_server}/api/3.0/mlflow/datasets"
    with httpx.Client(timeout=30) as http:

        def create(name: str, tags: dict) -> dict:
            body = {"name": name, "experiment_ids": [exp], "tags": json.dumps(tags)}
            resp = http.post(f"{api}/create", json=body)
            assert resp.status_code == 200, resp.text
            return resp.json()["dataset"]

        qa = create("qa " + XSS, {"team": XSS})
        create("empty", {})
        records = [
            {"inputs": {"question": f"q{i}"}, "expectations": {"answer": f"a{i}"}} for i in range(3)
        ] + [
            {
                "inputs": {"question": XSS},
                "outputs": XSS,
                "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-9"}},
            }
        ]
        resp = http.post(f"{api}/{qa['dataset_id']}/records", json={"records": json.dumps(records)})
        assert resp.json() == {"inserted_count": 4, "updated_count": 0}
        digest = http.get(f"{api}/{qa['dataset_id']}").json()["dataset"]["digest"]

    page.goto(f"/#/experiments/{exp}")
    page.get_by_role("link", name="Datasets").click()
    page.wait_for_selector("h1:text-is('Datasets')")
    page.wait_for_selector(f"tr[data-dataset-id='{qa['dataset_id']}']")
    rows = page.locator("table.datasets tbody tr")
    assert rows.count() == 2
    assert (
        rows.nth(1).locator("td").nth(0).inner_text() == "empty"
    )  # last updated first: qa got records later
    cells = page.locator(f"tr[data-dataset-id='{qa['dataset_id']}'] td").all_inner_texts()
    assert cells[0] == "qa " + XSS and cells[1] == "4" and cells[2] == digest and cells[3] == f"team={XSS}"

    page.get_by_role("link", name="qa " + XSS).click()
    page.wait_for_selector("table.dataset-records tbody tr[data-record-id]")
    assert page.locator("h1").inner_text() == "qa " + XSS
    assert page.locator(".record-count").inner_text() == "4"
    assert page.locator(".digest").inner_text() == digest
    record_rows = page.locator("table.dataset-records tbody tr")
    assert record_rows.count() == 4
    first = record_rows.nth(0).locator("td").all_inner_texts()
    assert json.loads(first[0]) == {"question": "q0"} and json.loads(first[1]) == {"answer": "a0"}
    last = record_rows.nth(3).locator("td").all_inner_texts()
    assert json.loads(last[0]) == {"question": XSS} and last[2] == XSS and last[4].startswith("TRACE")
    assert "tr-9" in last[4]
    assert page.evaluate("window.__pwned === undefined")
    assert page.evaluate("window.__csp") == []
    errors = [e for e in page.console_errors if not e.startswith("Failed to load resource")]
    assert errors == [], errors

    page.goto("/#/datasets/d-unknown")
    page.wait_for_selector("[role=alert]")
    assert "RESOURCE_DOES_NOT_EXIST" in page.locator("[role=alert]").inner_text()
