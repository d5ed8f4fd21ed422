"""Result tables: one markdown table per section, and the JSON form for machines.

A row holds, per server, either a summary (``{"median", "min", "max", "n"}``) or an
``NA`` with its reason. ``kind`` says how to print and compare it: ``time``
(seconds, lower is better), ``rate`` (per second, higher is better), ``bytes``
(lower is better) or ``count`` (a plain number, not compared).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common import LABELS, NA, SERVERS, summarize

# Typographic characters, spelled as escapes so the source stays plain ASCII.
EN_DASH = "\u2013"
TIMES = "\u00d7"


@dataclass
class Row:
    op: str
    kind: str = "time"  # time | rate | bytes | count
    values: dict[str, dict | NA] = field(default_factory=dict)
    unit: str = ""  # shown after rates, e.g. "req/s"

    def set(self, server: str, value: list[float] | float | dict | NA) -> None:
        if isinstance(value, NA | dict):
            self.values[server] = value
        elif isinstance(value, list):
            self.values[server] = summarize(value) if value else NA("no samples")
        else:
            self.values[server] = summarize([float(value)])


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    columns: tuple[str, ...] = SERVERS

    def row(self, op: str, kind: str = "time", unit: str = "") -> Row:
        r = Row(op, kind, unit=unit)
        self.rows.append(r)
        return r

    def na_all(self, reason: str) -> None:
        """Mark the whole section as not measured (shown as a note)."""
        self.notes.append(f"n/a — {reason}")


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms" if s < 0.01 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def fmt_bytes(b: float) -> str:
    return f"{b / 1e6:.0f} MB" if b >= 1e7 else f"{b / 1e6:.1f} MB"


def fmt_rate(r: float, unit: str) -> str:
    if r >= 100:
        return f"{r:,.0f} {unit}".strip()
    return f"{r:.1f} {unit}".strip()


def at_least(seconds: float) -> dict:
    """A call that gave up after ``seconds``: shown as "> N s", compared as a bound."""
    return {"median": seconds, "min": seconds, "max": seconds, "n": 1, "lower_bound": True}


def fmt_value(row: Row, v: dict | NA | None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, dict) and v.get("lower_bound"):
        return f"> {fmt_time(v['median'])} (no answer within the client timeout)"
    if isinstance(v, NA):
        reason = " ".join(v.reason.split()).replace("|", "/")
        return f"n/a \u2014 {reason[:140]}"
    f = {"time": fmt_time, "bytes": fmt_bytes, "count": lambda x: f"{x:,.0f}"}.get(
        row.kind, lambda x: fmt_rate(x, row.unit)
    )
    text = f(v["median"])
    if v.get("n", 1) > 1 and v["max"] > v["min"]:
        text += f" ({f(v['min'])}{EN_DASH}{f(v['max'])})"
    return text


def ratio(row: Row, ours: str, peer: str) -> str:
    """How much better ``ours`` is than ``peer`` on this row, as "N x faster"/"N x slower".

    A timed-out side (``at_least``) turns the ratio into a bound: "> N x" when the
    true ratio can only be larger than shown, "< N x" when only smaller.
    """
    a, b = row.values.get(ours), row.values.get(peer)
    if row.kind == "count":
        return EN_DASH
    if not isinstance(a, dict) or not isinstance(b, dict) or a["median"] <= 0 or b["median"] <= 0:
        return EN_DASH
    a_bound, b_bound = bool(a.get("lower_bound")), bool(b.get("lower_bound"))
    if a_bound and b_bound:
        return EN_DASH
    if row.kind == "rate":
        r = a["median"] / b["median"]
        better, worse = "faster", "slower"
    else:
        r = b["median"] / a["median"]
        better, worse = ("smaller", "larger") if row.kind == "bytes" else ("faster", "slower")
    # r is ours' advantage: a peer bound means the true r is larger, ours' bound smaller.
    up, down = ("> ", "< ") if b_bound else ("< ", "> ") if a_bound else ("", "")
    if r >= 1:
        return up + (f"{r:.1f}{TIMES} {better}" if r < 10 else f"{r:.0f}{TIMES} {better}")
    inv = 1 / r
    return down + (f"{inv:.1f}{TIMES} {worse}" if inv < 10 else f"{inv:.0f}{TIMES} {worse}")


def to_markdown(section: Section) -> str:
    cols = [c for c in section.columns]
    head = ["operation", *(LABELS[c] for c in cols)]
    if "mltrail" in cols and "mlflow" in cols:
        head.append("mltrail vs MLflow")
    if "mltrail" in cols and "fasttrackml" in cols:
        head.append("mltrail vs FastTrackML")
    lines = [f"### {section.title}", ""]
    if section.rows:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" for _ in head) + "|")
        for row in section.rows:
            cells = [row.op, *(fmt_value(row, row.values.get(c)) for c in cols)]
            if "mltrail" in cols and "mlflow" in cols:
                cells.append(ratio(row, "mltrail", "mlflow"))
            if "mltrail" in cols and "fasttrackml" in cols:
                cells.append(ratio(row, "mltrail", "fasttrackml"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    for note in section.notes:
        lines.append(f"- {note}")
    if section.notes:
        lines.append("")
    return "\n".join(lines)


def to_json(section: Section) -> dict:
    def enc(v):
        return v.to_json() if isinstance(v, NA) else v

    return {
        "title": section.title,
        "notes": section.notes,
        "rows": [
            {"op": r.op, "kind": r.kind, "unit": r.unit, "values": {k: enc(v) for k, v in r.values.items()}}
            for r in section.rows
        ],
    }
