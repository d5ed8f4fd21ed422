"""A fresh server answers a burst of first-use calls from many clients at once, with no 500.

Many routes load a module on their first call (the gateway's budget, guardrail and endpoint
stores, the webhook dispatcher, graphql-core, the review and scorer stores), in whichever
thread serves it, while the store-opening thread and the scorer worker load theirs. Two
threads importing modules at once once stopped a server start with ``ImportError: cannot
import name ... (most likely due to a circular import)``; every late import now holds
``mltrail.lazy_imports.LAZY_IMPORTS``. Each round starts a fresh server and sends the calls
as soon as it accepts connections, before its stores are open.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support.live_server import running_server

_V2, _V3 = "/api/2.0/mlflow", "/api/3.0/mlflow"


def _first_use_calls() -> list[tuple[str, str, dict | None]]:
    """``(method, path, json body)``, three times over, for routes that import something on first use."""
    reads: list[tuple[str, str, dict | None]] = [
        ("GET", f"{_V3}/gateway/budgets/list", None),
        ("GET", f"{_V3}/gateway/guardrails/list", None),
        ("GET", f"{_V3}/gateway/endpoints/list", None),
        ("GET", f"{_V2}/webhooks", None),
        ("GET", f"{_V3}/scorers/list?experiment_id=0", None),
        ("GET", f"{_V2}/traces?experiment_ids=0", None),
        ("GET", f"{_V3}/review-queues/list?experiment_id=0", None),
        ("POST", f"{_V2}/logged-models/search", {"experiment_ids": ["0"]}),
        ("GET", f"{_V2}/registered-models/search", None),
        ("POST", "/graphql", {"query": "{ __typename }"}),
    ]
    # A new registered model fires a webhook event: the dispatcher (and httpx) load with the first.
    creates = [("POST", f"{_V2}/registered-models/create", {"name": f"model-{i}"}) for i in range(3)]
    return reads + creates + reads * 2


def _send(url: str, call: tuple[str, str, dict | None]) -> tuple[str, int, str]:
    method, path, body = call
    resp = httpx.request(method, url + path, json=body, timeout=120)
    return path, resp.status_code, resp.text[:300]


@pytest.mark.slow
@pytest.mark.parametrize("round_no", range(3))
def test_a_fresh_server_serves_concurrent_first_use_calls_without_500(tmp_path, round_no):
    env = {"MLTRAIL_SCORER_POLL_INTERVAL": "0.05"}  # the scorer worker thread asks the database at once
    # /version answers before the stores open: the burst arrives while the server still loads them.
    with running_server(tmp_path, None, env=env, health_path="/version") as server:
        calls = _first_use_calls()
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda call: _send(server.url, call), calls))
        log = server.log.read_text(errors="replace")
    failed = [answer for answer in answers if answer[1] != 200]
    assert not failed, f"{failed}\nserver log:\n{log[-4000:]}"
    assert "ImportError" not in log and "Traceback" not in log, log[-4000:]
