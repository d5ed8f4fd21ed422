"""Trace page speed: a 10,000-span trace, opened and scrolled in headless Chromium (never asserted).

    python bench/ui_trace.py              # a 10,000-span trace
    python bench/ui_trace.py --quick      # 2,000 spans
    python bench/run.py --only ui_trace   # the same, as a section of the benchmark report

Starts ``mltrail server`` on a free port, sends the trace's spans over OTLP/HTTP
(as a collector would), then reports: the server time of the trace page's one
request (its ``Server-Timing``) and its round trip next to MLflow's REST
``traces/get`` on the same trace; the time from navigation until the span list
is drawn; the time per scroll step (scrollTop moved, rows redrawn, next frame
painted) over a sweep of the whole list; and how many span rows the DOM holds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from ui_speed import start_server, timed, wait_ready

CHROMIUM = os.environ.get("MLTRAIL_TEST_CHROMIUM", "/usr/bin/chromium")


def span_count(quick: bool) -> int:
    return 2_000 if quick else 10_000


def _otlp_span(trace_hex: str, span_id: str, parent: str | None, name: str, start_ns: int, end_ns: int,
               inputs: object) -> dict:
    d = {
        "traceId": trace_hex, "spanId": span_id, "name": name,
        "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns), "status": {"code": 1},
        "attributes": [{"key": "mlflow.spanType", "value": {"stringValue": '"CHAIN"'}},
                       {"key": "mlflow.spanInputs", "value": {"stringValue": json.dumps(inputs)}},
                       {"key": "mlflow.spanOutputs", "value": {"stringValue": json.dumps({"ok": True, "n": len(name)})}}],
    }
    if parent:
        d["parentSpanId"] = parent
    return d


def seed_trace(client: httpx.Client, n_spans: int) -> str:
    """One finished trace of ``n_spans`` spans: a root, 100 steps, the rest leaves under the steps."""
    exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": f"trace-bench-{uuid.uuid4().hex[:6]}"})
    exp_id = exp.json()["experiment_id"]
    t = uuid.uuid4().hex
    origin = time.time_ns()
    root = uuid.uuid4().hex[:16]
    spans = [_otlp_span(t, root, None, "root", origin, origin + 10_000_000_000, {"question": "bench"})]
    steps = [uuid.uuid4().hex[:16] for _ in range(100)]
    for i, sid in enumerate(steps):
        spans.append(_otlp_span(t, sid, root, f"step-{i}", origin + i * 100_000_000, origin + i * 100_000_000 + 95_000_000,
                                {"step": i}))
    for i in range(n_spans - len(spans)):
        p = i % len(steps)
        start = origin + p * 100_000_000 + (i // len(steps)) * 900_000
        spans.append(_otlp_span(t, uuid.uuid4().hex[:16], steps[p], f"leaf-{i}", start, start + 800_000,
                                {"i": i, "text": "lorem ipsum " * 8}))
    for i in range(0, len(spans), 2500):
        body = {"resourceSpans": [{"scopeSpans": [{"spans": spans[i:i + 2500]}]}]}
        res = client.post("/v1/traces", json=body, headers={"x-mlflow-experiment-id": exp_id})
        assert res.status_code == 200, res.text
    info = {"trace_id": "tr-" + t, "state": "OK", "request_time": "2026-01-01T00:00:00.000Z",
            "execution_duration": "10s", "tags": {"mlflow.traceName": "bench"},
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}}
    assert client.post("/api/3.0/mlflow/traces", json={"trace": {"trace_info": info}}).status_code == 200
    return "tr-" + t


def server_times(client: httpx.Client, trace_id: str, reps: int = 5) -> tuple[float, float, float]:
    """(Server-Timing of the UI route, its round trip, REST traces/get round trip), medians in ms."""
    server = []
    for _ in range(reps):
        res = client.get(f"/ajax-api/mltrail/traces/{trace_id}")
        server.append(float(res.headers["server-timing"].split("dur=")[1]))
    ui = timed(client, "GET", f"/ajax-api/mltrail/traces/{trace_id}", reps=reps)
    rest = timed(client, "GET", "/api/3.0/mlflow/traces/get", reps=reps, params={"trace_id": trace_id})
    return statistics.median(server), ui, rest


SCROLL_SWEEP = """async (steps) => {
  const v = document.querySelector('.span-viewport');
  const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const times = []; let maxRows = 0;
  for (let i = 1; i <= steps; i++) {
    const t0 = performance.now();
    v.scrollTop = (v.scrollHeight - v.clientHeight) * i / steps;
    await frame();
    times.push(performance.now() - t0);
    maxRows = Math.max(maxRows, document.querySelectorAll('.span-row').length);
  }
  return {times, maxRows};
}"""


def browser_times(base: str, trace_id: str, n_spans: int) -> tuple[list[float], list[float], int]:
    """Open times (ms, one per visit), per-step scroll times (ms) and the most span rows seen in the DOM."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        opens = []
        for _ in range(3):
            page.goto(base + "/")
            page.wait_for_selector("table.experiments")
            start = time.perf_counter()
            page.goto(f"{base}/#/traces/{trace_id}")
            page.wait_for_selector(f".span-count:text('{n_spans} spans')", timeout=120_000)
            page.wait_for_selector(".span-detail h2")
            opens.append((time.perf_counter() - start) * 1000)
        sweep = page.evaluate(SCROLL_SWEEP, 200)
        browser.close()
    return opens, sweep["times"], sweep["maxRows"]


def measure(quick: bool) -> tuple[list[tuple[str, float]], int]:
    """Start a server, seed a trace, time it: ((label, ms) rows, most span rows in the DOM)."""
    n_spans = span_count(quick)
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_server(f"sqlite:///{Path(tmp) / 'ui.db'}", tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                wait_ready(client)
                trace_id = seed_trace(client, n_spans)
                server, ui, rest = server_times(client, trace_id)
            opens, scrolls, max_rows = browser_times(base, trace_id, n_spans)
        finally:
            proc.terminate()
            proc.wait(10)
    scrolls.sort()
    rows = [
        (f"trace page request, server time ({n_spans:,} spans)", server),
        ("trace page request, round trip", ui),
        ("MLflow REST traces/get on the same trace, round trip", rest),
        ("open the trace page in Chromium (navigation to spans drawn)", statistics.median(opens)),
        ("scroll step, median (scrollTop moved to next painted frame)", statistics.median(scrolls)),
        ("scroll step, 95th percentile", scrolls[int(len(scrolls) * 0.95) - 1]),
    ]
    return rows, max_rows


def run(quick: bool):
    """Section ``ui_trace`` of ``bench/run.py``."""
    from report import Section

    n_spans = span_count(quick)
    sec = Section("ui_trace", f"Trace page ({n_spans:,} spans in one trace; medians)")
    sec.columns = ("mltrail",)
    rows, max_rows = measure(quick)
    for label, ms in rows:
        sec.row(label).set("mltrail", ms / 1000)
    sec.notes.append(f"at most {max_rows} span rows were in the DOM while scrolling through {n_spans:,} spans")
    sec.notes.append("a scroll step lasts at least two animation frames (~33 ms at 60 Hz): it waits for the paint")
    return sec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    rows, max_rows = measure(ap.parse_args().quick)
    print("\n| what | median ms |\n|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.1f} |")
    print(f"\nat most {max_rows} span rows in the DOM while scrolling")


if __name__ == "__main__":
    main()
