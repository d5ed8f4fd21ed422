"""Timestamps as MLflow's trace and assessment JSON writes them (RFC 3339, millisecond precision).

Example::

    ms_to_rfc3339(1714564800123)  # "2024-05-01T12:00:00.123Z"
    rfc3339_to_ms("2024-05-01T12:00:00.123Z")  # 1714564800123
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def ms_to_rfc3339(ms: int) -> str:
    """Epoch milliseconds -> ``2024-05-01T12:00:00.123Z`` (the JSON form of protobuf Timestamps)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def rfc3339_to_ms(value: Any) -> int:
    """An RFC 3339 timestamp (or epoch milliseconds, as a number or digits) -> epoch milliseconds."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    frac_ms = 0
    base = text.rstrip("Z")
    if "+" in base[10:]:
        base = base[: 10 + base[10:].index("+")]
    if "." in base:
        base, frac = base.split(".", 1)
        frac_ms = int((frac + "000")[:3])
    dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1000 + frac_ms
