"""The web UI in headless Chromium against a live server with seeded data."""

from __future__ import annotations

import io
import math
import re
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser

XSS_RUN = "<script>alert(1)</script>"
XSS_EXPERIMENT = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def data(seeder):
    """One experiment of prompt runs: params, metrics, histories, a nested sweep and artifacts."""
    suffix = time.time_ns()
    exp = seeder.experiment(f"ui-flow-{suffix}")
    t0 = int(time.time() * 1000) - 600_000
    runs = {}
    for i, (model, temp, score) in enumerate(
        [("gpt-4o", 0.1, 9.0), ("gpt-4o-mini", 0.7, 6.5), ("gpt-4o", 0.9, 7.5), ("gpt-4o-mini", 0.3, 4.0)]
    ):
        runs[f"r{i}"] = seeder.run(
            exp, f"prompt-v{i}", params={"model": model, "temperature": temp},
            metrics={"score": score}, tags={"team": "nlp"}, start_time=t0 + i * 1000,
        )
    seeder.history(runs["r0"], "loss", [math.exp(-s / 50) for s in range(200)], start_ms=t0)
    seeder.history(runs["r1"], "loss", [1.5 * math.exp(-s / 40) for s in range(150)], start_ms=t0)
    parent = seeder.run(exp, "sweep", params={"model": "gpt-4o"}, start_time=t0 + 10_000)
    kids = [seeder.run(exp, f"trial-{j}", params={"model": "gpt-4o", "temperature": j / 10},
                       metrics={"score": j}, parent=parent, start_time=t0 + 11_000 + j) for j in range(2)]
    seeder.artifact(runs["r0"], "model_output.txt", "Transformers use attention.\nThey are parallel.\nThe end.\n")
    seeder.artifact(runs["r1"], "model_output.txt", "Transformers use attention.\nThey are fast and parallel.\nThe end.\n")
    seeder.artifact(runs["r0"], "eval/results.json", '{"score": 9, "answer": "<b>bold?</b>"}')
    seeder.artifact(runs["r0"], "eval/chart.png", _png(8, 5))
    seeder.artifact(runs["r0"], "eval/table.csv", 'question,score\n"hello, world",7\n<i>x</i>,3\n')
    return {"exp": exp, "runs": runs, "parent": parent, "kids": kids, "seeder": seeder}


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _no_script_ran(page) -> None:
    assert not [d for d in page.dialogs if d[0] != "confirm"], page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")


def _run_rows(page):
    return page.locator("table.runs tbody tr[data-run-id]")


def test_experiments_runs_run_compare_and_artifact_diff(page, data):
    page.goto("/")
    page.get_by_role("link", name=re.compile(r"^ui-flow-")).first.wait_for()
    page.locator(f'tr[data-id="{data["exp"]}"] a').click()
    expect_rows = 7  # four prompts, the sweep and its two trials
    page.wait_for_function(f"() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === {expect_rows}")
    # Open a run, check the overview, and come back.
    page.get_by_role("link", name="prompt-v0", exact=True).click()
    page.wait_for_selector("h1:text('prompt-v0')")
    assert page.locator("dl.kv").inner_text().startswith("Run ID\n" + data["runs"]["r0"])
    page.go_back()
    _run_rows(page).first.wait_for()
    for name in ("prompt-v0", "prompt-v1"):
        page.get_by_label(f"Select run {name}").check()
    assert "sel=" in page.url
    page.get_by_role("button", name="Compare (2)").click()
    page.wait_for_selector("h1:text('Comparing 2 runs')")
    header = page.locator("table.compare thead").inner_text()
    assert "prompt-v0" in header and "prompt-v1" in header
    # "Only differences" hides the params both runs share.
    page.get_by_label("Only differences").check()
    assert page.locator('table.compare tr[data-key="params.model"]').count() == 1
    assert "diff=1" in page.url
    # The artifact diff: one changed line, side by side.
    page.get_by_label("Artifact path").fill("model_output.txt")
    page.get_by_role("button", name="Diff").click()
    page.wait_for_selector("table.diff tr.change")
    changed = page.locator("table.diff tr.change")
    assert changed.count() == 1
    cells = changed.first.locator("td").all_inner_texts()
    assert cells[1] == "They are parallel." and cells[3] == "They are fast and parallel."
    assert page.locator("table.diff tr.same").count() >= 3
    # Parallel coordinates and scatter rendered: every run a line / point.
    page.wait_for_selector(".pc-box svg")
    assert page.locator(".pc-box").get_attribute("data-lines") == "2"
    page.wait_for_selector("[aria-label='Scatter plot'][data-points='2']")
    # The URL restores the same view.
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_selector("table.diff tr.change")
    assert page.get_by_label("Only differences").is_checked()
    _no_script_ran(page)


def test_filter_with_or_and_a_bad_filter_explained_in_place(page, data):
    page.goto(f"/#/experiments/{data['exp']}")
    _run_rows(page).first.wait_for()
    box = page.get_by_label("Filter runs")
    box.fill("metrics.score >= 7 OR params.temperature = '0.3'")
    box.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === 3")
    names = sorted(page.locator("table.runs tbody tr[data-run-id] td.name a").all_inner_texts())
    assert names == ["prompt-v0", "prompt-v2", "prompt-v3"]
    assert "filter=" in page.url
    box.fill("metrics.score >>> 1")
    box.press("Enter")
    err = page.locator(".filter-error [role=alert]")
    err.wait_for()
    server = httpx.post(page.url.split("/#")[0] + "/api/2.0/mlflow/runs/search",
                        json={"experiment_ids": [data["exp"]], "filter": "metrics.score >>> 1"}).json()
    assert server["error_code"] == "INVALID_PARAMETER_VALUE"
    assert server["message"] in err.inner_text()
    assert box.get_attribute("aria-invalid") == "true"
    _no_script_ran(page)


def test_columns_are_chosen_remembered_and_sortable(page, data):
    page.goto(f"/#/experiments/{data['exp']}")
    _run_rows(page).first.wait_for()
    page.get_by_role("button", name="Columns").click()
    page.locator('input[data-column="params.temperature"]').check()
    header = page.locator("table.runs thead")
    assert "param: temperature" in header.inner_text()
    assert "params.temperature" in page.url
    # Remembered: a plain link to the experiment (no cols in the URL) shows the same columns.
    page.goto("about:blank")
    page.goto(f"/#/experiments/{data['exp']}")
    _run_rows(page).first.wait_for()
    assert "param: temperature" in page.locator("table.runs thead").inner_text()
    # Sort by the score metric, descending then ascending.
    page.locator('th[data-column="metrics.score"] button').click()
    page.wait_for_selector('th[data-column="metrics.score"][aria-sort]')
    first = _run_rows(page).first.locator("td.name a").inner_text()
    assert first == "prompt-v0"  # score 9.0 is the highest
    page.locator('th[data-column="metrics.score"] button').click()
    page.wait_for_selector('th[data-column="metrics.score"][aria-sort=ascending]')
    # Lowest score first; trials stay nested under their (score-less, so last) parent.
    page.wait_for_function(
        "() => document.querySelector('table.runs tbody tr[data-run-id] td.name a').textContent === 'prompt-v3'"
    )
    assert "sort=metrics.score%3Aasc" in page.url or "sort=metrics.score:asc" in page.url


def test_nested_runs_sit_under_their_parent(page, data):
    page.goto(f"/#/experiments/{data['exp']}")
    _run_rows(page).first.wait_for()
    ids = page.locator("table.runs tbody tr[data-run-id]").evaluate_all(
        "rows => rows.map(r => [r.dataset.runId, r.dataset.depth])")
    order = [i for i, _ in ids]
    p = order.index(data["parent"])
    assert sorted(order[p + 1 : p + 3]) == sorted(data["kids"])
    assert all(depth == "1" for run_id, depth in ids if run_id in data["kids"])
    # Collapsing the parent hides its children.
    page.locator(f'tr[data-run-id="{data["parent"]}"] button[aria-expanded]').click()
    assert page.locator(f'tr[data-run-id="{data["kids"][0]}"]').count() == 0


def test_run_chart_and_compare_chart_have_one_series_per_run(page, data):
    r0, r1 = data["runs"]["r0"], data["runs"]["r1"]
    page.goto(f"/#/runs/{r0}")
    chart = page.locator('.chart[data-metric="loss"][data-series-count]')
    chart.wait_for()
    assert chart.get_attribute("data-series-count") == "1"
    assert chart.get_attribute("data-points") == "200"
    assert page.locator('.chart[data-metric="loss"] .scatterlayer .trace').count() == 1
    # Log scale and smoothing redraw in place and are kept in the URL.
    page.get_by_label("Log scale").check()
    page.wait_for_function("() => document.querySelector('.chart[data-metric=loss]').layout.yaxis.type === 'log'")
    assert "log=1" in page.url
    page.goto(f"/#/compare?runs={r0},{r1}")
    page.wait_for_selector("h1:text('Comparing 2 runs')")
    both = page.locator('.chart[data-metric="loss"][data-series-count]')
    both.wait_for()
    assert both.get_attribute("data-series-count") == "2"
    legend = page.locator('.chart[data-metric="loss"] .legend .traces').evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(t.strip() for t in legend) == ["prompt-v0", "prompt-v1"]
    _no_script_ran(page)


def test_artifact_browser_previews_text_json_csv_and_offers_download(page, data):
    page.goto(f"/#/runs/{data['runs']['r0']}")
    page.locator(".tree button[data-path='model_output.txt']").click()
    page.wait_for_selector(".preview pre")
    assert page.locator(".preview pre").inner_text().startswith("Transformers use attention.")
    download = page.locator(".preview a[download]")
    assert download.get_attribute("href").startswith("/get-artifact?")
    page.locator(".tree button[data-path='eval']").click()
    page.locator(".tree button[data-path='eval/results.json']").click()
    page.wait_for_selector(".preview pre.json")
    assert '"answer": "<b>bold?</b>"' in page.locator(".preview pre.json").inner_text()
    page.locator(".tree button[data-path='eval/chart.png']").click()
    img = page.locator(".preview img")
    img.wait_for()
    page.wait_for_function("() => document.querySelector('.preview img').complete")
    assert page.evaluate("document.querySelector('.preview img').naturalWidth") == 8
    page.locator(".tree button[data-path='eval/table.csv']").click()
    page.wait_for_selector(".preview table.csv")
    assert page.locator(".preview table.csv th").all_inner_texts() == ["question", "score"]
    assert page.locator(".preview table.csv tbody td").all_inner_texts() == ["hello, world", "7", "<i>x</i>", "3"]
    _no_script_ran(page)


def test_live_run_page_updates_without_reload(page, data):
    seeder = data["seeder"]
    run = seeder.run(data["exp"], "live-run", metrics={"acc": 0.1}, finish=False)
    page.goto(f"/#/runs/{run}")
    page.wait_for_selector(".live:text('live')")
    page.wait_for_selector("table.metrics td:text('acc')")  # one value: a number, not yet a chart
    page.evaluate("window.__sameDocument = true")
    seeder.history(run, "acc", [0.2, 0.4, 0.6, 0.8])
    page.locator('.chart[data-metric="acc"][data-points="5"]').wait_for()  # the first value plus four
    seeder.history(run, "new_metric", [1.0, 2.0])
    page.locator('.chart[data-metric="new_metric"][data-points="2"]').wait_for()
    seeder.post("runs/update", {"run_id": run, "status": "FINISHED", "end_time": int(time.time() * 1000)})
    page.wait_for_selector("h1 + .status .status-finished, .status .status-finished")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def test_description_and_tags_are_editable(page, data):
    run = data["seeder"].run(data["exp"], "editable")
    page.goto(f"/#/runs/{run}")
    page.get_by_role("button", name="Add a description").click()
    page.get_by_label("Description text").fill("First line\n<b>not bold</b>")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("p.note")
    assert page.locator("p.note").inner_text() == "First line\n<b>not bold</b>"
    page.get_by_label("New tag key").fill("stage")
    page.get_by_label("New tag value").fill("<svg onload=alert(9)>")
    page.get_by_role("button", name="Add tag").click()
    page.locator('tr[data-tag="stage"]').wait_for()
    assert "<svg onload=alert(9)>" in page.locator('tr[data-tag="stage"]').inner_text()
    page.locator('tr[data-tag="stage"]').get_by_role("button", name="Delete").click()
    page.locator('tr[data-tag="stage"]').wait_for(state="detached")
    got = data["seeder"].http.get("/api/2.0/mlflow/runs/get", params={"run_id": run}).json()["run"]["data"]["tags"]
    tags = {t["key"]: t["value"] for t in got}
    assert tags["mlflow.note.content"] == "First line\n<b>not bold</b>" and "stage" not in tags
    _no_script_ran(page)


def test_user_values_are_shown_as_text_never_run(page, seeder):
    exp = seeder.experiment(XSS_EXPERIMENT + f" {time.time_ns()}")
    payload = "<img src=x onerror=\"window.__pwned=1;alert(3)\">"
    run = seeder.run(exp, XSS_RUN, params={"prompt": payload}, metrics={"m": 1.0},
                     tags={"note": "<svg onload=alert(4)>", "mlflow.note.content": payload})
    other = seeder.run(exp, "plain", params={"prompt": "x"}, metrics={"m": 2.0})
    seeder.artifact(run, "page.html", "<script>window.__pwned=1;alert(5)</script>")
    seeder.artifact(run, "pic.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(6)"></svg>')
    page.goto("/")
    page.get_by_text(XSS_EXPERIMENT, exact=False).first.wait_for()
    page.goto(f"/#/experiments/{exp}")
    page.get_by_role("link", name=XSS_RUN).wait_for()
    page.get_by_role("link", name=XSS_RUN).click()
    page.locator("table.params").wait_for()  # the run page, not the runs table it came from
    assert page.locator("h1").inner_text() == XSS_RUN
    assert payload in page.locator("table.params").inner_text()
    assert page.locator("p.note").inner_text() == payload
    page.locator(".tree button[data-path='page.html']").click()
    page.wait_for_selector(".preview pre")
    assert page.locator(".preview pre").inner_text().startswith("<script>")
    page.locator(".tree button[data-path='pic.svg']").click()
    page.wait_for_function("() => document.querySelector('.preview pre')?.textContent.startsWith('<svg')")
    page.goto(f"/#/compare?runs={run},{other}")
    page.wait_for_selector(".pc-box svg")
    assert XSS_RUN in page.locator("table.compare thead").inner_text()
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script:not([src])").count() == 0
    _no_script_ran(page)


def test_experiment_create_rename_delete_restore(page):
    name = f"crud-{time.time_ns()}"
    page.goto("/")
    page.get_by_label("New experiment name").fill(name)
    page.get_by_role("button", name="Create").click()
    row = page.locator("table.experiments tr", has_text=name)
    row.wait_for()
    # Creating it twice explains the conflict in place.
    page.get_by_label("New experiment name").fill(name)
    page.get_by_role("button", name="Create").click()
    page.locator("[role=alert]", has_text="RESOURCE_ALREADY_EXISTS").wait_for()
    row.get_by_role("button", name="Rename").click()
    page.get_by_label("New name").fill(name + "-renamed")
    page.get_by_role("button", name="Save").click()
    row = page.locator("table.experiments tr", has_text=name + "-renamed")
    row.wait_for()
    row.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    page.get_by_label("Show").select_option("DELETED_ONLY")
    deleted = page.locator("table.experiments tr", has_text=name + "-renamed")
    deleted.get_by_role("button", name="Restore").click()
    deleted.wait_for(state="detached")
    page.get_by_label("Show").select_option("ACTIVE_ONLY")
    page.locator("table.experiments tr", has_text=name + "-renamed").wait_for()
    # The search box filters the list.
    page.get_by_label("Search experiments").fill(name)
    assert page.locator("table.experiments tbody tr").count() == 1


def test_runs_delete_and_restore_from_the_table(page, data):
    run = data["seeder"].run(data["exp"], "to-delete")
    page.goto(f"/#/experiments/{data['exp']}")
    page.get_by_label("Select run to-delete").check()
    page.get_by_role("button", name="Delete").click()
    page.locator(f'tr[data-run-id="{run}"]').wait_for(state="detached")
    page.get_by_label("Show runs").select_option("DELETED_ONLY")
    page.get_by_label("Select run to-delete").check()
    page.get_by_role("button", name="Restore").click()
    page.locator(f'tr[data-run-id="{run}"]').wait_for(state="detached")
    got = data["seeder"].http.get("/api/2.0/mlflow/runs/get", params={"run_id": run}).json()["run"]["info"]
    assert got["lifecycle_stage"] == "active"


def test_csv_download_link_matches_the_view(page, data):
    page.goto(f"/#/experiments/{data['exp']}")
    _run_rows(page).first.wait_for()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("run_id,run_name")
    assert "prompt-v0" in text


def test_usable_at_phone_width_and_by_keyboard(browser, ui_server, data):
    context = browser.new_context(base_url=ui_server, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(f"/#/experiments/{data['exp']}")
        _run_rows(page).first.wait_for()
        # Wide tables scroll inside their own box; the page itself does not scroll sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.goto(f"/#/runs/{data['runs']['r0']}")
        page.locator('.chart[data-metric="loss"][data-series-count]').wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        context.close()


def test_keyboard_alone_reaches_and_opens_an_experiment(page, data):
    page.goto("/")
    page.locator(f'tr[data-id="{data["exp"]}"]').wait_for()
    target = page.locator(f'tr[data-id="{data["exp"]}"] a').inner_text()
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName === 'A' && document.activeElement.textContent") == target:
            break
    else:
        raise AssertionError("the experiment link is not reachable with Tab")
    page.keyboard.press("Enter")
    _run_rows(page).first.wait_for()
    assert f"#/experiments/{data['exp']}" in page.url


def test_dark_mode_follows_the_os(browser, ui_server):
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(base_url=ui_server, color_scheme=scheme)
        page = context.new_page()
        page.goto("/")
        page.locator("table.experiments").wait_for()
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        context.close()
    def lightness(rgb: str) -> int:
        return sum(int(x) for x in re.findall(r"\d+", rgb)[:3])
    assert lightness(backgrounds["dark"]) < 200 < lightness(backgrounds["light"])


def test_runs_of_several_experiments_in_one_table(page, data, seeder):
    other = seeder.experiment(f"ui-other-{time.time_ns()}")
    seeder.run(other, "elsewhere", metrics={"score": 3.0})
    page.goto(f"/#/experiments/{data['exp']},{other}")
    page.get_by_role("link", name="elsewhere").wait_for()
    assert "+" in page.locator("h1").inner_text()
    row = page.locator("table.runs tr", has_text="elsewhere")
    page.wait_for_function("() => [...document.querySelectorAll('table.runs th')].some(t => t.textContent === 'Experiment')")
    assert "ui-other-" in row.inner_text()


def test_a_run_logged_by_the_official_mlflow_client_shows_fully(page, ui_server, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import mlflow\n"
        f"mlflow.set_tracking_uri({ui_server!r})\n"
        f"mlflow.set_experiment('from-mlflow-{time.time_ns()}')\n"
        "with mlflow.start_run(run_name='official') as run:\n"
        "    mlflow.log_params({'model': 'gpt-4o-mini', 'temperature': 0.7})\n"
        "    for step in range(5):\n"
        "        mlflow.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "    mlflow.log_text('Explain transformers.', 'user_prompt.txt')\n"
        "    mlflow.log_dict({'score': 8}, 'evaluation_results.json')\n"
        "    print(run.info.run_id)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = next(line for line in done.stdout.splitlines() if re.fullmatch(r"[0-9a-f]{32}", line))
    # The link the mlflow client prints (MLflow's URL shape) opens the run page.
    link = next(line for line in (done.stdout + done.stderr).splitlines() if "View run official at" in line)
    assert link.endswith(f"/runs/{run_id}")
    page.goto("/#" + link.split("/#", 1)[1])
    page.wait_for_selector("h1:text('official')")
    overview = page.locator("dl.kv").inner_text()
    assert "train.py" in overview  # mlflow.source.name
    assert "FINISHED" in overview
    page.locator('.chart[data-metric="loss"][data-points="5"]').wait_for()
    page.locator(".tree button[data-path='user_prompt.txt']").click()
    page.wait_for_selector(".preview pre")
    assert page.locator(".preview pre").inner_text() == "Explain transformers."
    _no_script_ran(page)


def test_mlflow_style_compare_link_opens_the_compare_view(page, data):
    r0, r1 = data["runs"]["r0"], data["runs"]["r1"]
    page.goto(f'/#/compare-runs?runs=["{r0}","{r1}"]&experiments=["{data["exp"]}"]')
    page.wait_for_selector("h1:text('Comparing 2 runs')")


def test_model_registry_pages_list_models_and_link_versions_to_runs(page, data, seeder):
    name = f"prompt-app-{time.time_ns()}"
    run_id = data["runs"]["r0"]
    seeder.post("registered-models/create", {"name": name, "description": "<b>Answers questions</b>"})
    for _ in range(2):
        seeder.post("model-versions/create", {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id})
    seeder.post("registered-models/alias", {"name": name, "alias": "champion", "version": "2"})
    page.goto("/")
    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name=name).click()
    page.wait_for_selector(f"h1:text('{name}')")
    assert page.locator("p.note").inner_text() == "<b>Answers questions</b>"
    rows = page.locator("table.versions tbody tr")
    assert rows.count() == 2
    assert "@champion" in page.locator('tr[data-version="2"]').inner_text()
    page.locator('tr[data-version="1"] a.run-link').click()
    page.wait_for_selector("h1:text('prompt-v0')")
    _no_script_ran(page)


def test_traces_from_the_official_client_show_as_a_span_tree(page, ui_server, seeder, tmp_path):
    import os
    import subprocess
    import sys

    exp_name = f"traced-{time.time_ns()}"
    script = tmp_path / "traced.py"
    script.write_text(
        "import mlflow\n"
        f"mlflow.set_tracking_uri({ui_server!r})\n"
        f"mlflow.set_experiment({exp_name!r})\n"
        "@mlflow.trace(span_type='LLM')\n"
        "def llm(q):\n"
        "    return 'answer to ' + q\n"
        "@mlflow.trace\n"
        "def chain(q):\n"
        "    with mlflow.start_span('retrieve') as s:\n"
        "        s.set_inputs({'q': q})\n"
        "        s.set_outputs(['doc1', '<script>alert(7)</script>'])\n"
        "    return llm(q)\n"
        "with mlflow.start_run(run_name='traced-run') as run:\n"
        "    chain('What is MLflow?')\n"
        "print(mlflow.get_last_active_trace_id())\n"
        "print('run', run.info.run_id)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    trace_id = next(line for line in done.stdout.splitlines() if line.startswith("tr-"))
    exp = seeder.http.get("/api/2.0/mlflow/experiments/get-by-name",
                          params={"experiment_name": exp_name}).json()["experiment"]["experiment_id"]
    page.goto(f"/#/experiments/{exp}")
    page.get_by_role("link", name="Traces").click()
    page.locator(f'tr[data-trace-id="{trace_id}"] a').click()
    page.wait_for_selector("h1:text('chain')")
    assert page.locator(".span-tree button[data-span]").evaluate_all("bs => bs.map(b => b.dataset.span)") == [
        "chain", "retrieve", "llm"]
    assert '"q": "What is MLflow?"' in page.locator(".span-detail pre.span-inputs").inner_text()
    page.locator(".span-tree button[data-span='retrieve']").click()
    page.wait_for_selector(".span-detail h2:text('retrieve')")
    assert "<script>alert(7)</script>" in page.locator(".span-detail pre.span-outputs").inner_text()
    page.locator(".span-tree button[data-span='llm']").click()
    assert page.locator(".span-detail dd").first.inner_text() == "LLM"
    # The run the trace was recorded in lists it.
    run_id = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("run "))
    page.goto(f"/#/runs/{run_id}")
    page.locator(".run-traces a", has_text="chain").click()
    page.wait_for_selector("h1:text('chain')")
    _no_script_ran(page)
