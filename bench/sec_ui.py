"""Section "ui": what the web UI asks the server for, and how fast Chromium draws a big chart.

mltrail only: MLflow's UI is a different application, so there is no like-for-like
peer figure. The targets (issue 5, and issue 18 at ten times the runs): the
experiment page under 300 ms of server time, a runs-table page under 50 ms, the
runs table of 100,000 runs and a 1,000,000-point chart drawn in headless Chromium. The measuring code is
``ui_speed.py``, which also runs on its own.
"""

from __future__ import annotations

import ui_speed
from report import Section


def run(quick: bool) -> Section:
    n_runs, n_points = ui_speed.sizes(quick)
    sec = Section("ui", f"Web UI ({n_runs:,} runs, a {n_points:,}-point metric; median of repeated calls)")
    sec.columns = ("mltrail",)
    for label, ms in ui_speed.measure(quick):
        sec.row(label).set("mltrail", ms / 1000)
    sec.notes.append(
        "server time is the HTTP round trip on loopback; the chart time runs from navigation to drawn"
    )
    return sec
