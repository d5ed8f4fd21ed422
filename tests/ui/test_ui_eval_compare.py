""" "Compare evaluations" and the evaluation run's rows table, in a real Chromium against ``mltrail server``.

Two real ``mltrail.genai.evaluate`` runs land on the server over REST (a bool
scorer, a yes/no feedback with a rationale, a scorer that fails on one
candidate row; one output carries markup). The runs page offers "Compare
evaluations" once both are selected; the page shows the per-scorer deltas,
colours rows that got worse or better and filters by scorer and change. The
candidate's run page lists its rows with every scorer's value and rationale,
filterable by result.
"""

from __future__ import annotations

import uuid

import pytest

XSS = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def evals(ui_server):
    import mltrail as mlflow
    from mltrail.entities.assessment import Feedback
    from mltrail.genai.scorers import scorer

    @scorer
    def exact(outputs, expectations):
        return outputs == expectations["expected"]

    @scorer
    def rated(inputs, outputs):
        return Feedback(
            value="yes" if outputs.isupper() else "no", rationale=f"{inputs['q']} read as {outputs}"
        )

    @scorer
    def picky(outputs):
        if outputs.endswith("?"):
            raise ValueError("cannot rate a question")
        return True

    data = [
        {"inputs": {"q": w}, "expectations": {"expected": w.upper()}}
        for w in ("alpha", "beta", "gamma", "delta")
    ]
    mlflow.set_tracking_uri(ui_server)
    try:
        exp_id = mlflow.set_experiment(f"evalcmp-{uuid.uuid4().hex[:8]}").experiment_id
        base = mlflow.genai.evaluate(
            data=data,
            predict_fn=lambda q: "beta!" if q == "beta" else q.upper(),
            scorers=[exact, rated, picky],
        )
        cand = mlflow.genai.evaluate(
            data=data,
            predict_fn=lambda q: {"gamma": "gamma?", "delta": XSS}.get(q, q.upper()),
            scorers=[exact, rated, picky],
        )
        mlflow.flush_trace_async_logging()
    finally:
        mlflow.set_tracking_uri(None)
    return exp_id, base.run_id, cand.run_id


def _no_script_ran(page) -> None:
    assert not page.dialogs, page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")
    assert page.console_errors == [], page.console_errors


def test_compare_evaluations_from_the_runs_list(page, evals, tmp_path):
    exp_id, base_id, cand_id = evals
    page.goto(f"/#/experiments/{exp_id}")
    button = page.locator("button.eval-compare")
    page.locator(f"tr[data-run-id='{base_id}'] input[type=checkbox]").check()
    assert button.is_hidden()  # one run selected: nothing to compare yet
    page.locator(f"tr[data-run-id='{cand_id}'] input[type=checkbox]").check()
    button.click()
    page.wait_for_selector("h1:text('Compare evaluations')")
    assert (
        f"baseline={base_id}" in page.url and f"candidate={cand_id}" in page.url
    )  # the older run is the baseline

    # Aggregate deltas on top: exact went 3/4 -> 2/4 (beta better; gamma and delta worse).
    exact = page.locator("table.eval-aggregates tr[data-scorer='exact']")
    assert exact.locator("td").all_inner_texts()[:3] == ["0.75", "0.5", "-0.25"]
    assert exact.locator("td[data-change='worse']").inner_text() == "2"
    assert exact.locator("td[data-change='better']").inner_text() == "1"

    rows = page.locator("table.eval-compare-table tbody tr")
    assert rows.count() == 4
    assert page.locator("table.eval-compare-table tr.row-worse").count() == 2
    assert page.locator("table.eval-compare-table tr.row-better").count() == 1
    gamma = page.locator("table.eval-compare-table tbody tr", has_text="gamma?")
    assert (
        gamma.locator("td[data-change='worse']").count() == 3
        and "cannot rate a question" in gamma.inner_text()
    )
    assert "gamma read as GAMMA" in gamma.inner_text() and "gamma read as gamma?" in gamma.inner_text()
    assert page.locator("table.eval-compare-table", has_text=XSS).count() == 1  # markup is text

    page.select_option("select[aria-label='Filter change']", "better")
    assert rows.count() == 1 and "BETA" in rows.first.inner_text()
    assert page.locator(".eval-count").inner_text() == "1 of 4 rows"
    page.select_option("select[aria-label='Filter scorer']", "picky")
    page.select_option("select[aria-label='Filter change']", "worse")
    assert rows.count() == 1 and "gamma?" in rows.first.inner_text()
    assert page.locator("table.eval-compare-table thead th").all_inner_texts()[-1] == "picky"
    assert "scorer=picky" in page.url and "change=worse" in page.url  # shareable
    page.screenshot(path=str(tmp_path / "eval-compare.png"), full_page=True)
    _no_script_ran(page)


def test_evaluation_run_page_lists_rows_with_scores_and_rationales(page, evals, tmp_path):
    _, _, cand_id = evals
    page.goto(f"/#/runs/{cand_id}")
    table = page.locator("section.eval-rows table.eval-rows-table")
    table.wait_for()
    assert table.locator("thead th").all_inner_texts() == [
        "#",
        "Inputs",
        "Outputs",
        "Expectations",
        "exact",
        "picky",
        "rated",
    ]
    assert table.locator("tbody tr").count() == 4
    beta = table.locator("tbody tr", has_text="BETA")
    assert "beta read as BETA" in beta.locator("td.score.pass").last.inner_text()
    page.select_option("section.eval-rows select[aria-label='Filter scorer']", "picky")
    page.select_option("section.eval-rows select[aria-label='Filter result']", "error")
    assert table.locator("tbody tr").count() == 1
    assert "cannot rate a question" in table.locator("tbody tr").inner_text()
    page.select_option("section.eval-rows select[aria-label='Filter scorer']", "")
    page.select_option("section.eval-rows select[aria-label='Filter result']", "fail")
    assert table.locator("tbody tr").count() == 2  # gamma? and the markup row fail exact and rated
    page.screenshot(path=str(tmp_path / "eval-rows.png"), full_page=True)
    _no_script_ran(page)
