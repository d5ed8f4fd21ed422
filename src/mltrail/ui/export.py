"""CSV export of a runs table: the rows a filter selects, the columns the page shows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mltrail.exceptions import invalid

MAX_EXPORT_ROWS = 100_000
_PAGE = 1000
BASE_COLUMNS = ["run_id", "run_name", "experiment_id", "status", "user_id", "start_time", "end_time",
                "duration_s", "parent_run_id", "lifecycle_stage"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas (``=HYPERLINK(...)``) in user text; numbers stay numbers."""
    if isinstance(value, float):
        return "" if math.isnan(value) else value
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def parse_columns(columns: Sequence[str]) -> list[tuple[str, str]]:
    """``params.lr`` / ``metrics.loss`` / ``tags.team`` into (kind, key) pairs."""
    out = []
    for column in columns:
        kind, _, key = column.partition(".")
        if kind not in ("params", "metrics", "tags") or not key:
            raise invalid(f"Invalid column {column!r}: use params.<key>, metrics.<key> or tags.<key>")
        out.append((kind, key))
    return out


def collect_runs(
    store: Any,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
) -> list[Any]:
    """Every run the search selects, page by page, up to MAX_EXPORT_ROWS."""
    out: list[Any] = []
    token = None
    while len(out) < MAX_EXPORT_ROWS:
        page = store.search_runs(
            list(experiment_ids), filter_string, view_type, min(_PAGE, MAX_EXPORT_ROWS - len(out)),
            list(order_by or []), token,
        )
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            break
    return out


def runs_to_csv(runs: Sequence[Any], columns: Sequence[tuple[str, str]] | None = None) -> str:
    """The CSV text: base columns, then the chosen (or all non-system) params, metrics, tags."""
    if not columns:
        seen: dict[str, dict[str, None]] = {"params": {}, "metrics": {}, "tags": {}}
        for run in runs:
            for key in run.data.params:
                seen["params"][key] = None
            for key in run.data.metrics:
                seen["metrics"][key] = None
            for key in run.data.tags:
                if not key.startswith("mlflow."):
                    seen["tags"][key] = None
        columns = [(kind, key) for kind in ("params", "metrics", "tags") for key in sorted(seen[kind])]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(BASE_COLUMNS + [f"{kind}.{key}" for kind, key in columns])
    for run in runs:
        info = run.info
        data = {"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags}
        duration = ""
        if info.start_time is not None and info.end_time is not None:
            duration = (info.end_time - info.start_time) / 1000
        row = [
            info.run_id, info.run_name, info.experiment_id, info.status, info.user_id,
            _iso(info.start_time), _iso(info.end_time), duration,
            data["tags"].get("mlflow.parentRunId", ""), info.lifecycle_stage,
        ]
        row += [data[kind].get(key, "") for kind, key in columns]
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()
