"""Offline logging's settings, read from the environment at each use.

``MLTRAIL_OFFLINE``
    ``auto`` (default): write to the journal when the server cannot be reached;
    ``never``: raise as before; ``always``: write only to the journal until
    ``mltrail sync``.
``MLTRAIL_OFFLINE_DIR``
    Where journals live (default ``~/.mltrail/offline``); each server gets
    a subdirectory named by a hash of its URL.
``MLTRAIL_OFFLINE_RETRY_SECONDS``
    The first wait before the SDK checks whether the server is back (default 2;
    doubled after each failed check up to ``MLTRAIL_OFFLINE_RETRY_MAX_SECONDS``,
    default 60).
``MLTRAIL_OFFLINE_REPLAY_BATCH``
    Records per replay request (default 200, at most 500).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mltrail.exceptions import invalid
from mltrail.protocol.offline import MAX_REPLAY_RECORDS

MODES = ("auto", "never", "always")


def mode() -> str:
    """``auto``, ``never`` or ``always`` (``MLTRAIL_OFFLINE``); anything else is an error."""
    value = (os.environ.get("MLTRAIL_OFFLINE") or "auto").strip().lower()
    if value not in MODES:
        raise invalid(f"MLTRAIL_OFFLINE must be one of {', '.join(MODES)}, got {value!r}")
    return value


def root_dir() -> Path:
    """The directory holding every server's journals."""
    configured = os.environ.get("MLTRAIL_OFFLINE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".mltrail" / "offline"


def journal_dir(base_url: str) -> Path:
    """The journal directory of one tracking server (a hash of its URL, so any URL is a safe name)."""
    key = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return root_dir() / key


def _float(name: str, default: float) -> float:
    try:
        return max(0.01, float(os.environ.get(name) or default))
    except ValueError:
        return default


def retry_seconds() -> tuple[float, float]:
    """(first wait, longest wait) between checks for the server while offline."""
    first = _float("MLTRAIL_OFFLINE_RETRY_SECONDS", 2.0)
    return first, max(first, _float("MLTRAIL_OFFLINE_RETRY_MAX_SECONDS", 60.0))


def replay_batch() -> int:
    """Records per replay request."""
    try:
        value = int(os.environ.get("MLTRAIL_OFFLINE_REPLAY_BATCH") or 200)
    except ValueError:
        value = 200
    return min(max(value, 1), MAX_REPLAY_RECORDS)
