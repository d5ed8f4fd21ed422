"""Feedback on a trace, read over a live server's REST API, and waiting for online scorers to write it.

A server's scorer worker judges new traces in the background, so a test polls for the feedback
it expects::

    [verdict] = wait_feedback(server.url, trace_id, "polite")
    assert verdict["feedback"]["value"] is True
"""

from __future__ import annotations

import time

import httpx

#: How long :func:`wait_feedback` waits by default (a loaded machine judges slowly).
WAIT_SECONDS = 30.0
#: How often it asks again.
POLL_SECONDS = 0.1


def trace_feedback(url: str, trace_id: str, name: str, workspace: str | None = None) -> list[dict]:
    """The feedback assessments named ``name`` on a trace, as JSON (``GET /api/3.0/mlflow/traces/<id>``).

    ``workspace`` goes in the ``X-MLFLOW-WORKSPACE`` header (``None``: the server's default).
    """
    headers = {"X-MLFLOW-WORKSPACE": workspace} if workspace else {}
    answer = httpx.get(f"{url}/api/3.0/mlflow/traces/{trace_id}", headers=headers, timeout=10)
    info = answer.json()["trace"]["trace_info"]
    return [a for a in info.get("assessments", []) if a["assessment_name"] == name and "feedback" in a]


def wait_feedback(
    url: str, trace_id: str, name: str, workspace: str | None = None, timeout: float = WAIT_SECONDS
) -> list[dict]:
    """:func:`trace_feedback` once it is not empty; an ``AssertionError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = trace_feedback(url, trace_id, name, workspace)
        if found:
            return found
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"no {name!r} feedback on {trace_id} after {timeout:g}s")
