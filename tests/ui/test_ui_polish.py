"""The UI's rough edges, fixed and kept fixed: durations, live badge, evaluation runs, compare,
traces, registry, the experiment charts view and the experiments list, in headless Chromium."""

from __future__ import annotations

import json
import math
import re
import time

import pytest

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"
EVAL_TABLE = {
    "columns": ["inputs", "outputs", "ground_truth", "exact_match/v1/score"],
    "data": [
        ["What is MLflow?", "An MLOps platform.", "An MLOps platform.", 1],
        ["Capital of France?", XSS, "Paris", 0],
        [{"question": "nested"}, None, "x", 0.5],
    ],
}


def seed(seeder) -> dict:
    """Everything the polish tests look at, in fresh experiments (names carry a unique suffix)."""
    suffix = time.time_ns()
    exp = seeder.experiment(f"polish-{suffix}")
    seeder.post("experiments/set-experiment-tag", {"experiment_id": exp, "key": "team", "value": XSS})
    seeder.post("experiments/set-experiment-tag",
                {"experiment_id": exp, "key": "mlflow.note.content", "value": "Prompt tuning " + XSS})
    now = int(time.time() * 1000)
    t0 = now - 3_600_000
    runs = {}
    for i, lr in enumerate([0.1, 0.01, 0.001]):
        runs[f"train{i}"] = seeder.run(exp, f"train-{i}", params={"lr": lr, "note": XSS if i == 0 else "plain"},
                                       metrics={"acc": 0.5 + i / 10}, start_time=t0 + i * 1000)
        seeder.history(runs[f"train{i}"], "loss", [(1 + i) * math.exp(-s / 20) for s in range(60 + 20 * i)],
                       start_ms=t0)
    # Finish times that make the durations readable: 2m 5s, 1h 1m, 3s.
    for key, seconds in (("train0", 125), ("train1", 3660), ("train2", 3)):
        start = t0 + int(key[-1]) * 1000
        seeder.post("runs/update", {"run_id": runs[key], "status": "FINISHED", "end_time": start + seconds * 1000})
    runs["live"] = seeder.run(exp, "still-running", metrics={"acc": 0.1}, start_time=now - 90_000, finish=False)
    runs["eval"] = seeder.run(exp, "evaluation", metrics={"exact_match/v1": 0.0, "toxicity/v1/mean": 0.125,
                                                         "latency/mean": 1.5, "token_count": 42},
                              tags={"mlflow.user": "alice", "judge": XSS}, start_time=t0 + 5000)
    seeder.artifact(runs["eval"], "eval_results_table.json", json.dumps(EVAL_TABLE))
    xss_exp = seeder.experiment(f"polish-xss-{suffix}")
    xss_runs = [seeder.run(xss_exp, XSS, metrics={"acc": 0.5}, start_time=t0),
                seeder.run(xss_exp, "plain", metrics={"acc": 0.25}, start_time=t0 + 1)]
    for i, run_id in enumerate(xss_runs):
        seeder.history(run_id, "loss", [1.0, 0.5 - i / 10, 0.25], start_ms=t0)
    empty = seeder.experiment(f"polish-empty-{suffix}")
    traces_exp = seeder.experiment(f"polish-traces-{suffix}")
    traces = []
    for i in range(103):
        traces.append(seeder.trace(
            traces_exp, f"qa-{i}", json.dumps({"question": f"Question {i}?"}),
            json.dumps(XSS if i == 0 else f"Answer number {i}."), request_time_ms=now - i * 1000))
    model = f"polish-model-{suffix}"
    version = seeder.model_version(model, runs["eval"])
    return {"exp": exp, "empty": empty, "xss_exp": xss_exp, "runs": runs, "traces_exp": traces_exp, "traces": traces,
            "model": model, "version": version["version"], "seeder": seeder}


@pytest.fixture(scope="module")
def data(seeder):
    return seed(seeder)


def _no_script_ran(page) -> None:
    assert not [d for d in page.dialogs if d[0] != "confirm"], page.dialogs
    assert page.evaluate("window.__csp") == []
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("main img[src='x']").count() == 0


def _dom_module(page, name: str) -> str:
    """The versioned URL of one of the UI's modules (its path sits next to app.js)."""
    return page.evaluate(f"document.querySelector('script[type=module]').src.replace(/app\\.js$/, {name!r})")


# ------------------------------------------------------------------ durations and the live badge


def test_duration_is_end_minus_start_in_human_units(page, data):
    page.goto(f"/#/experiments/{data['exp']}")
    page.wait_for_function("() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === 5")

    def duration(key: str) -> str:
        return page.locator(f'tr[data-run-id="{data["runs"][key]}"] td').nth(3).inner_text()

    assert duration("train0") == "2m 5s"
    assert duration("train1") == "1h 1m"
    assert duration("train2") == "3s"
    assert duration("eval") == "1.5s"  # the seeder finishes runs 1.5 s after their start
    # Running: now - start; it started 90 s before seeding, so minutes by now (however late this test runs).
    assert re.fullmatch(r"\d+m( \d+s)?|\d+h( \d+m)?", duration("live")), duration("live")
    dom = _dom_module(page, "dom.js")
    formatted = page.evaluate(
        "async (url) => { const d = await import(url); return [d.fmtDuration(1000, 1850), d.fmtDuration(1000, 2300),"
        " d.fmtDuration(1000, 43000), d.fmtDuration(1000, 1000 + 2 * 86400000 + 3 * 3600000), d.fmtDuration(null, 5)]; }",
        dom,
    )
    assert formatted == ["850ms", "1.3s", "42s", "2d 3h", ""]
    page.goto(f"/#/runs/{data['runs']['train0']}")
    page.wait_for_selector("h1:text('train-0')")
    assert "Duration\n2m 5s\n" in page.locator("dl.kv").inner_text()
    _no_script_ran(page)


def test_live_badge_only_while_the_run_is_running(page, data):
    page.goto(f"/#/runs/{data['runs']['train0']}")
    page.locator(".live[data-connected=true]").wait_for(state="attached")  # the event stream is open
    assert page.locator(".live").inner_text() == ""
    page.goto(f"/#/runs/{data['runs']['live']}")
    page.wait_for_selector(".live:text('live')")
    assert "(running)" in page.locator("dl.kv").inner_text()
    _no_script_ran(page)


# ------------------------------------------------------------------ evaluation runs


def test_evaluation_run_shows_scalars_as_numbers_and_its_results_as_a_table(page, data):
    page.goto(f"/#/runs/{data['runs']['eval']}")
    page.wait_for_selector(".eval-results table.eval-table")
    metrics = dict(
        page.locator("table.metrics tbody tr").evaluate_all("rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])")
    )
    assert metrics == {"exact_match/v1": "0", "latency/mean": "1.5", "token_count": "42", "toxicity/v1/mean": "0.125"}
    # No chart for a metric logged once: the charts section stays hidden and draws nothing.
    assert page.locator(".run-charts").is_hidden()
    assert page.locator(".chart").count() == 0
    table = page.locator(".eval-results table.eval-table")
    assert table.locator("th").all_inner_texts() == EVAL_TABLE["columns"]
    cells = table.locator("tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert cells == [
        ["What is MLflow?", "An MLOps platform.", "An MLOps platform.", "1"],
        ["Capital of France?", XSS, "Paris", "0"],
        ['{"question":"nested"}', "", "x", "0.5"],
    ]
    assert "Evaluation results (3 rows)" in page.locator(".eval-results h2").inner_text()
    # The artifact browser previews the same file as a table too.
    page.locator(".tree button[data-path='eval_results_table.json']").click()
    page.wait_for_selector(".preview table.eval-table")
    assert page.locator(".preview table.eval-table tbody tr").count() == 3
    assert XSS in page.locator(".preview table.eval-table").inner_text()
    _no_script_ran(page)


def test_a_run_charts_only_metrics_with_a_history(page, data):
    page.goto(f"/#/runs/{data['runs']['train0']}")
    page.locator('.chart[data-metric="loss"][data-points="60"]').wait_for()
    assert page.locator(".run-charts").is_visible()
    assert page.locator('.chart[data-metric="acc"]').count() == 0  # one value: in the metrics table only
    assert "acc" in page.locator("table.metrics").inner_text()
    _no_script_ran(page)


# ------------------------------------------------------------------ compare


def test_compare_puts_values_under_their_run_and_gives_each_run_one_colour(page, data):
    r = data["runs"]
    ids = [r["train0"], r["train1"], r["eval"]]
    page.goto("/#/compare?runs=" + ",".join(ids))
    page.locator('.chart[data-metric="loss"][data-series-count="2"]').wait_for()
    page.locator('.chart[data-metric="acc"][data-series-count="2"]').wait_for()
    page.locator(".pc-box svg polyline").first.wait_for()
    # Each value starts where its run's name starts (a value is never nearer another run's header).
    offsets = page.evaluate(
        """() => {
          const left = (el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect().left; };
          const heads = new Map([...document.querySelectorAll('table.compare thead th[data-run-id]')]
            .map((th) => [th.dataset.runId, left(th.querySelector('a'))]));
          return [...document.querySelectorAll('table.compare tbody td[data-run-id]')].filter((td) => td.textContent)
            .map((td) => [td.closest('tr').dataset.key, td.dataset.runId, left(td) - heads.get(td.dataset.runId)]);
        }"""
    )
    assert len(offsets) == 12  # lr, note, acc, loss for two runs; four metrics of the evaluation
    assert all(abs(dx) < 24 for _, _, dx in offsets), offsets
    colours = page.evaluate(
        """() => {
          const chart = (key) => document.querySelector(`.chart[data-metric="${key}"]`).data.filter((t) => t.meta === 'series');
          return {
            lines: Object.fromEntries(chart('loss').map((t) => [t.name, t.line.color])),
            bars: Object.fromEntries(chart('acc')[0].text.map((name, i) => [name, chart('acc')[0].marker.color[i]])),
            evalBar: chart('latency/mean')[0].marker.color[0],
            parallel: Object.fromEntries([...document.querySelectorAll('.pc-box polyline')]
              .map((l) => [l.querySelector('title').textContent, l.getAttribute('stroke')])),
          };
        }"""
    )
    hex_to_rgb = page.evaluate(
        "(cs) => cs.map((c) => { const d = document.createElement('div'); d.style.color = c; document.body.append(d);"
        " const v = getComputedStyle(d).color; d.remove(); return v; })",
        [colours["lines"]["train-0"], colours["lines"]["train-1"], colours["evalBar"],
         colours["parallel"]["train-0"], colours["parallel"]["train-1"], colours["parallel"]["evaluation"]],
    )
    assert colours["lines"] == colours["bars"] == {"train-0": colours["lines"]["train-0"], "train-1": colours["lines"]["train-1"]}
    assert hex_to_rgb[0:2] == hex_to_rgb[3:5]  # parallel coordinates: the same colour per run as the lines
    assert hex_to_rgb[2] == hex_to_rgb[5]
    assert len(set(hex_to_rgb[0:3])) == 3
    _no_script_ran(page)


# ------------------------------------------------------------------ traces


def test_traces_list_shows_readable_previews_and_pages_without_repeats(page, data):
    page.goto(f"/#/experiments/{data['traces_exp']}/traces")
    rows = page.locator("table.traces tbody tr[data-trace-id]")
    page.wait_for_function("() => document.querySelectorAll('table.traces tbody tr[data-trace-id]').length === 100")
    first = rows.nth(0)
    assert first.locator("td.response").inner_text() == XSS  # a JSON string preview shown as its text
    assert rows.nth(1).locator("td.response").inner_text() == "Answer number 1."
    assert "\\" not in rows.nth(1).locator("td.request").inner_text()
    assert 'Question 1?' in rows.nth(1).locator("td.request").inner_text()
    more = page.get_by_role("button", name="Load more")
    assert more.is_visible()
    more.click()
    page.wait_for_function("() => document.querySelectorAll('table.traces tbody tr[data-trace-id]').length === 103")
    page.wait_for_function("() => getComputedStyle(document.querySelector('button.load-more')).display === 'none'")
    assert not more.is_visible()
    # A click that still reaches the hidden button (a script, a stale double click) must not start over.
    page.evaluate("document.querySelector('button.load-more').click()")
    page.wait_for_load_state("networkidle")
    ids = rows.evaluate_all("rows => rows.map(r => r.dataset.traceId)")
    assert len(ids) == len(set(ids)) == 103
    assert set(ids) == set(data["traces"])
    _no_script_ran(page)


def test_trace_previews_are_parsed_once(page, data):
    page.goto(f"/#/experiments/{data['traces_exp']}/traces")
    page.locator("table.traces tbody tr[data-trace-id]").first.wait_for()
    cases = [
        ('"Paris"', "Paris"),
        (json.dumps(json.dumps({"a": 1})), '{"a": 1}'),  # a JSON string holding JSON: parsed once only
        ('{"question": "Why?"}', '{ "question": "Why?" }'),
        ('{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]}', "Hi!"),
        ('{"choices": [{"message": {"role": "assistant", "content": "Hello."}}]}', "Hello."),
        ('{"answer": "cut off mid', '{"answer": "cut off mid'),  # truncated by MLflow: shown as it is
        ("", ""),
    ]
    got = page.evaluate(
        "async ([url, raws]) => { const t = await import(url); return raws.map((r) => t.previewText(r)); }",
        [_dom_module(page, "pages/traces.js"), [raw for raw, _ in cases]],
    )
    assert got == [want for _, want in cases]


def test_trace_search_pages_have_no_duplicates_over_http(data):
    seeder = data["seeder"]
    seen: list[str] = []
    token = None
    while True:
        body = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": data["traces_exp"]}}],
                "max_results": 40, "order_by": ["timestamp_ms DESC"]}
        if token:
            body["page_token"] = token
        res = seeder.http.post("/ajax-api/3.0/mlflow/traces/search", json=body)
        assert res.status_code == 200, res.text
        page = res.json()
        seen += [t["trace_id"] for t in page.get("traces", [])]
        token = page.get("next_page_token")
        if not token:
            break
    assert len(seen) == len(set(seen)) == 103
    assert seen == data["traces"]  # newest first, as seeded


# ------------------------------------------------------------------ registry


def test_registered_by_is_the_source_runs_user(page, data):
    page.goto(f"/#/models/{data['model']}/versions/{data['version']}")
    page.wait_for_selector(".version-user")
    assert page.locator(".version-user").inner_text() == "alice"
    _no_script_ran(page)


# ------------------------------------------------------------------ experiment charts view


def test_experiment_charts_view_draws_every_run_per_metric_in_few_requests(page, data):
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url) if "/ajax-api/mltrail/metrics/" in req.url else None)
    page.set_viewport_size({"width": 1280, "height": 400})
    page.goto(f"/#/experiments/{data['exp']}")
    page.wait_for_function("() => document.querySelectorAll('table.runs tbody tr[data-run-id]').length === 5")
    page.get_by_role("tab", name="Charts").click()
    assert "tab=charts" in page.url
    page.locator('.chart[data-metric="loss"][data-series-count="3"]').wait_for()
    page.locator('.chart[data-metric="acc"][data-series-count="4"]').wait_for()  # bars: one per run that logged it
    # Charts far below the fold (the third row, in this short window) are drawn when scrolled to.
    toxicity = page.locator('.chart[data-metric="toxicity/v1/mean"]')
    assert toxicity.get_attribute("data-series-count") is None
    toxicity.scroll_into_view_if_needed()
    page.locator('.chart[data-metric="toxicity/v1/mean"][data-series-count="1"]').wait_for()
    assert page.locator("#view-table").is_hidden()
    # One request per charted history, one for the counts; single values come from the runs already loaded.
    assert [u for u in requests if "/metrics/history?" in u] == []
    assert len([u for u in requests if "/metrics/history-bulk?" in u]) == 1
    assert len([u for u in requests if "/metrics/counts?" in u]) == 1
    legend = page.locator(".run-legend li").all_inner_texts()
    assert legend == ["still-running", "evaluation", "train-2", "train-1", "train-0"]  # the table's order
    lines = page.evaluate(
        "() => Object.fromEntries(document.querySelector('.chart[data-metric=loss]').data"
        ".filter((t) => t.meta === 'series').map((t) => [t.name, t.line.color]))"
    )
    bars = page.evaluate(
        "() => { const t = document.querySelector('.chart[data-metric=acc]').data[0];"
        " return Object.fromEntries(t.text.map((name, i) => [name, t.marker.color[i]])); }"
    )
    assert {k: bars[k] for k in lines} == lines  # a run has one colour on every chart
    # The metric filter narrows the charts, and is kept in the URL.
    page.get_by_label("Filter metrics").fill("los")
    page.wait_for_function("() => document.querySelectorAll('.chart[data-metric]').length === 1")
    assert page.locator('.chart[data-metric="loss"]').count() == 1
    assert "mf=los" in page.url
    # Selected runs only: pick two in the table, come back to the charts.
    page.get_by_label("Filter metrics").fill("")
    page.get_by_role("tab", name="Table").click()
    page.get_by_label("Select run train-0").check()
    page.get_by_label("Select run train-1").check()
    page.get_by_role("tab", name="Charts").click()
    page.locator('.chart[data-metric="loss"][data-series-count="2"]').wait_for()
    assert page.locator(".charts-info").inner_text() == "2 selected runs"
    assert page.locator(".run-legend li").all_inner_texts() == ["train-1", "train-0"]
    _no_script_ran(page)


def test_charts_view_shows_a_run_named_like_markup_as_text(page, data):
    page.goto(f"/#/experiments/{data['xss_exp']}?tab=charts")
    page.locator('.chart[data-metric="loss"][data-series-count="2"]').wait_for()
    page.locator('.chart[data-metric="acc"][data-series-count="2"]').wait_for()
    assert page.locator(".run-legend li").all_inner_texts() == ["plain", XSS]
    legend = page.locator('.chart[data-metric="loss"] .legend .traces').evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(t.strip() for t in legend) == sorted(["plain", XSS])
    ticks = page.locator('.chart[data-metric="acc"] .xtick text').evaluate_all("els => els.map(e => e.textContent)")
    assert ticks == ["plain", XSS]
    _no_script_ran(page)


def test_charts_tab_opens_from_a_shared_link(page, data):
    page.goto(f"/#/experiments/{data['exp']}?tab=charts")
    page.locator('.chart[data-metric="loss"][data-series-count="3"]').wait_for()
    assert page.get_by_role("tab", name="Charts").get_attribute("aria-selected") == "true"
    _no_script_ran(page)


# ------------------------------------------------------------------ experiments list


def test_experiments_list_shows_run_counts_tags_and_descriptions(page, data):
    page.goto("/")
    row = page.locator(f'tr[data-id="{data["exp"]}"]')
    row.locator(".exp-runs").wait_for()
    page.wait_for_function(
        f"() => document.querySelector('tr[data-id=\"{data['exp']}\"] .exp-runs').textContent.startsWith('5')"
    )
    assert row.locator(".exp-runs").inner_text() == "5 (1 running)"
    assert page.locator(f'tr[data-id="{data["empty"]}"] .exp-runs').inner_text() == "0"
    assert row.locator(".exp-tags .badge").all_inner_texts() == [f"team: {XSS}"]
    assert row.locator(".exp-description").inner_text() == "Prompt tuning " + XSS
    # The search box finds an experiment by its description and its tags too.
    page.get_by_label("Search experiments").fill("prompt tuning <img")
    page.wait_for_function("() => document.querySelectorAll('table.experiments tbody tr[data-id]').length === 1")
    assert page.locator("table.experiments tbody tr[data-id]").get_attribute("data-id") == data["exp"]
    page.get_by_label("Search experiments").fill("team <img src=x")
    page.wait_for_function("() => document.querySelectorAll('table.experiments tbody tr[data-id]').length === 1")
    _no_script_ran(page)


def test_ui_summary_routes_answer_in_one_request_and_refuse_bad_input(data):
    http = data["seeder"].http
    res = http.get("/ajax-api/mltrail/experiments/summary")
    assert res.status_code == 200
    summary = res.json()["experiments"]
    assert summary[data["exp"]]["runs"] == 5 and summary[data["exp"]]["running"] == 1
    assert data["empty"] not in summary
    only = http.get("/ajax-api/mltrail/experiments/summary", params={"experiment_ids": data["exp"]}).json()
    assert list(only["experiments"]) == [data["exp"]]
    runs = data["runs"]
    counts = http.get("/ajax-api/mltrail/metrics/counts", params={"run_ids": f"{runs['train0']},{runs['eval']}"}).json()
    assert counts["counts"] == {runs["train0"]: {"acc": 1, "loss": 60},
                                runs["eval"]: {"exact_match/v1": 1, "latency/mean": 1, "toxicity/v1/mean": 1,
                                               "token_count": 1}}
    bulk = http.get("/ajax-api/mltrail/metrics/history-bulk",
                    params={"run_ids": f"{runs['train0']},{runs['eval']}", "key": "loss", "max_points": 20}).json()
    assert [(r["run_id"], r["total"], r["downsampled"]) for r in bulk["runs"]] == [
        (runs["train0"], 60, True), (runs["eval"], 0, False)]
    assert len(bulk["runs"][0]["value"]) <= 20
    for path, params in [
        ("experiments/summary", {"experiment_ids": "abc"}),
        ("metrics/counts", {}),
        ("metrics/counts", {"run_ids": "../etc"}),
        ("metrics/counts", {"run_ids": ",".join(f"r{i}" for i in range(1001))}),
        ("metrics/history-bulk", {"run_ids": runs["train0"]}),
        ("metrics/history-bulk", {"run_ids": runs["train0"], "key": "loss", "axis": "sideways"}),
    ]:
        res = http.get(f"/ajax-api/mltrail/{path}", params=params)
        assert res.status_code == 400, (path, params, res.text)
        assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"
