"""The UI's HTTP surface against a live ``mltrail server``: headers, assets and UI-only JSON."""

from __future__ import annotations

import csv
import http.client as http_client
import io
import json
import time

import httpx
import pytest


@pytest.fixture(scope="module")
def http(ui_server):
    with httpx.Client(base_url=ui_server, timeout=30) as client:
        yield client


def _asset_base(http) -> str:
    html = http.get("/").text
    start = html.index('/static/v-')
    return html[start : html.index("/", start + len("/static/v-")) + 1]


def test_shell_has_strict_csp_and_no_inline_script(http):
    res = http.get("/")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/html")
    assert res.headers["x-content-type-options"] == "nosniff"
    csp = res.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    body = res.text
    # Every <script> has a src from our origin: nothing inline to execute.
    assert body.count("<script") == body.count('<script type="module" src="/static/')
    assert "no-cache" in res.headers["cache-control"]


def test_static_assets_are_versioned_and_cached_for_a_year(http):
    base = _asset_base(http)
    res = http.get(base + "app.js")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/javascript")
    assert "immutable" in res.headers["cache-control"] and "max-age=31536000" in res.headers["cache-control"]
    assert res.headers["x-content-type-options"] == "nosniff"
    assert "import" in res.text
    # A stale version still loads the file but is not cached as that version.
    old = http.get("/static/v-000000000000/app.js")
    assert old.status_code == 200 and "immutable" not in old.headers["cache-control"]


def test_plotly_is_served_from_the_installed_wheel_gzipped(http):
    import plotly

    res = http.get(_asset_base(http) + "vendor/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["content-encoding"] == "gzip"
    assert "window.Plotly" in res.text
    wheel_js = plotly.__file__.replace("__init__.py", "package_data/plotly.min.js")
    with open(wheel_js, encoding="utf-8") as fh:
        assert res.text == fh.read()


@pytest.mark.parametrize(
    "path", ["../routes.py", "..%2Froutes.py", "index.html", "pages/../../assets.py", "nope.js", "%2e%2e/%2e%2e/x"]
)
def test_static_refuses_anything_but_shipped_assets(ui_server, http, path):
    # http.client sends the path exactly as written (httpx would resolve the dot segments first).
    host, port = ui_server.rsplit("//", 1)[1].split(":")
    conn = http_client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", _asset_base(http) + path)
        res = conn.getresponse()
        body = res.read().decode("utf-8", "replace")
    finally:
        conn.close()
    assert res.status == 404
    assert "import " not in body


def test_metric_history_downsamples_with_an_envelope_that_keeps_spikes(http, seeder):
    exp = seeder.experiment(f"history-{time.time_ns()}")
    run = seeder.run(exp, "long", finish=False)
    values = [1.0] * 30000
    values[12345] = 1000.0  # a single spike
    values[20000] = -50.0
    seeder.history(run, "loss", values)
    res = http.get("/ajax-api/mltrail/metrics/history", params={"run_id": run, "key": "loss", "max_points": 1000})
    assert res.status_code == 200
    out = res.json()
    assert out["total"] == 30000 and out["downsampled"] is True
    assert 100 < len(out["value"]) <= 1000
    assert len(out["step"]) == len(out["min"]) == len(out["max"]) == len(out["value"])
    assert max(out["max"]) == 1000.0 and min(out["min"]) == -50.0
    assert out["step"] == sorted(out["step"])
    # Short series come back untouched, by time too.
    raw = http.get("/ajax-api/mltrail/metrics/history", params={"run_id": run, "key": "loss", "axis": "time",
                                                               "max_points": 20000}).json()
    assert raw["downsampled"] is True
    small = http.get("/ajax-api/mltrail/metrics/history",
                     params={"run_id": run, "key": "nothing-logged"}).json()
    assert small["total"] == 0 and small["value"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"run_id": "0123456789abcdef0123456789abcdef", "key": "loss"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"run_id": "../etc", "key": "loss"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "abc"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "abc", "key": "k", "max_points": "many"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "abc", "key": "k", "max_points": "1"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "abc", "key": "k", "axis": "sideways"}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_metric_history_bad_input_is_a_clear_error(http, params, status, code):
    res = http.get("/ajax-api/mltrail/metrics/history", params=params)
    assert res.status_code == status
    assert res.json()["error_code"] == code


def test_columns_lists_every_key_of_the_experiments(http, seeder):
    exp = seeder.experiment(f"columns-{time.time_ns()}")
    seeder.run(exp, "a", params={"lr": 0.1}, metrics={"loss": 1.0}, tags={"team": "x"})
    seeder.run(exp, "b", params={"batch": 32}, metrics={"acc": 0.5})
    out = http.get("/ajax-api/mltrail/experiments/columns", params={"experiment_ids": exp}).json()
    assert out["params"] == ["batch", "lr"]
    assert out["metrics"] == ["acc", "loss"]
    assert "team" in out["tags"]
    bad = http.get("/ajax-api/mltrail/experiments/columns", params={"experiment_ids": "x"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_csv_export_follows_filter_order_and_columns_and_defuses_formulas(http, seeder):
    exp = seeder.experiment(f"csv-{time.time_ns()}")
    for i in range(5):
        seeder.run(exp, f"run-{i}", params={"lr": i / 10, "cmd": "=HYPERLINK(\"x\")"}, metrics={"loss": 5 - i})
    res = http.get("/ajax-api/mltrail/runs/export.csv", params={
        "experiment_ids": exp, "filter": "metrics.loss < 4 OR params.lr = '0.0'",
        "order_by": "metrics.loss ASC", "columns": "params.lr,metrics.loss,params.cmd"})
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(res.text.lstrip("\ufeff"))))
    assert [r["run_name"] for r in rows] == ["run-4", "run-3", "run-2", "run-0"]
    assert [float(r["metrics.loss"]) for r in rows] == [1, 2, 3, 5]
    assert rows[0]["params.cmd"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    bad = http.get("/ajax-api/mltrail/runs/export.csv", params={"experiment_ids": exp, "filter": "metrics.loss <<< 1"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad_col = http.get("/ajax-api/mltrail/runs/export.csv", params={"experiment_ids": exp, "columns": "oops"})
    assert bad_col.status_code == 400


def _read_event(lines) -> tuple[str, dict]:
    name, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data += line.split(":", 1)[1].strip()
        elif line == "" and name:
            return name, json.loads(data)
    raise AssertionError("stream ended")


def test_run_events_push_new_metrics_and_status(ui_server, seeder):
    exp = seeder.experiment(f"sse-{time.time_ns()}")
    run = seeder.run(exp, "live", finish=False)
    with httpx.Client(base_url=ui_server, timeout=20) as client, client.stream(
        "GET", f"/ajax-api/mltrail/runs/{run}/events"
    ) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        lines = res.iter_lines()
        name, first = _read_event(lines)
        assert name == "run" and first["run"]["info"]["status"] == "RUNNING"
        seeder.history(run, "acc", [0.1, 0.2, 0.3])
        name, update = _read_event(lines)
        assert name == "run"
        assert update["changed_metrics"] == ["acc"]
        assert {m["key"]: m["step"] for m in update["run"]["data"]["metrics"]} == {"acc": 2}
        seeder.post("runs/update", {"run_id": run, "status": "FINISHED", "end_time": int(time.time() * 1000)})
        name, done = _read_event(lines)
        assert done["run"]["info"]["status"] == "FINISHED" and done["changed_metrics"] == []


def test_run_events_for_unknown_run_is_404(http):
    res = http.get("/ajax-api/mltrail/runs/0123456789abcdef0123456789abcdef/events")
    assert res.status_code == 404
    assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
