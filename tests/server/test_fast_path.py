"""The app's fast path (exact API paths skip Starlette's router) and the access-log switch."""

from __future__ import annotations

import httpx

from support.live_server import start_server, stop_server


def test_fast_path_keeps_errors_head_and_fallback_routes(api):
    run = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]
    run_id = run["info"]["run_id"]
    url = f"/api/2.0/mlflow/runs/get?run_id={run_id}"
    assert api.get(url).json()["run"]["info"]["run_id"] == run_id
    assert api.get(url.replace("/api/", "/ajax-api/")).status_code == 200

    head = api.head(url)
    assert head.status_code == 200 and head.content == b""

    wrong_method = api.post("/api/2.0/mlflow/runs/get", json={"run_id": run_id})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error_code"] == "ENDPOINT_NOT_FOUND"

    missing = api.get("/api/2.0/mlflow/runs/no-such-endpoint")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"

    unknown = api.get("/api/2.0/mlflow/runs/get", params={"run_id": "0" * 32})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    bad_json = api.post(
        "/api/2.0/mlflow/runs/log-batch", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    # Parameterised routes still go through Starlette's router behind the fast path.
    assert api.get("/health").status_code == 200


def test_access_log_is_off_by_default_and_on_with_the_flag(tmp_path):
    quiet = start_server(tmp_path / "quiet")
    loud = start_server(tmp_path / "loud", None, "--access-log")
    try:
        for server in (quiet, loud):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).is_success
    finally:
        stop_server(quiet)
        stop_server(loud)
    assert "/api/2.0/mlflow/experiments/get" not in quiet.log.read_text()
    assert "/api/2.0/mlflow/experiments/get" in loud.log.read_text()


def test_concurrent_searches_on_the_database_thread_all_answer(api, live_server):
    """Searches share one database thread on SQLite; concurrent ones queue and all succeed."""
    from concurrent.futures import ThreadPoolExecutor

    exp = api.post("/api/2.0/mlflow/experiments/create", json={"name": "concurrent-search"}).json()["experiment_id"]
    for i in range(5):
        run_id = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp}).json()["run"]["info"]["run_id"]
        api.post("/api/2.0/mlflow/runs/log-metric", json={"run_id": run_id, "key": "m", "value": i, "timestamp": 1, "step": 0})
    body = {"experiment_ids": [exp], "filter": "metrics.m >= 2", "order_by": ["metrics.m DESC"]}

    def search(_: int) -> list[float]:
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            runs = client.post("/api/2.0/mlflow/runs/search", json=body).json()["runs"]
        return [r["data"]["metrics"][0]["value"] for r in runs]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(search, range(24)))
    assert results == [[4.0, 3.0, 2.0]] * 24


def test_query_strings_split_as_parse_qsl_does():
    """The GET fast path's query split gives parse_qsl's pairs on every shape of query."""
    import itertools
    from urllib.parse import parse_qsl

    from mltrail.server.dispatch import query_pairs

    pieces = [b"a", b"=", b"&", b"b", b"%20", b"+", b";", b"\xe9", b""]
    cases = [b"run_id=abc", b"run_id=abc&run_uuid=", b"k=v&k=w", b"a=b=c"]
    cases += [b"".join(p) for p in itertools.product(pieces, repeat=4)]
    for query in cases:
        assert query_pairs(query) == parse_qsl(query.decode("latin-1"), keep_blank_values=True), query
