"""Raw REST shapes: query parameters like MLflow, JSON field names and types, sampling endpoints."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def two_runs(live_server):
    import httpx

    with httpx.Client(base_url=live_server.url + "/api/2.0/mlflow") as c:
        exp = c.post("/experiments/create", json={"name": "rest-shapes", "tags": [{"key": "a", "value": "1"}]})
        exp_id = exp.json()["experiment_id"]
        ids = []
        for n in range(2):
            run = c.post("/runs/create", json={"experiment_id": exp_id, "start_time": 1000 + n, "run_name": f"r{n}"})
            run_id = run.json()["run"]["info"]["run_id"]
            metrics = [{"key": "loss", "value": s / 10, "timestamp": 5000 + s, "step": s} for s in range(100)]
            assert c.post("/runs/log-batch", json={"run_id": run_id, "metrics": metrics}).status_code == 200
            ids.append(run_id)
        return exp_id, ids


def test_json_field_names_and_types(api, two_runs):
    exp_id, (run_id, _) = two_runs
    exp = api.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id}).json()["experiment"]
    assert exp["experiment_id"] == exp_id and isinstance(exp["creation_time"], int)
    assert exp["tags"] == [{"key": "a", "value": "1"}]
    run = api.get("/api/2.0/mlflow/runs/get", params={"run_uuid": run_id}).json()["run"]
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] == run_id
    assert info["start_time"] == 1000 and isinstance(info["start_time"], int)
    assert "end_time" not in info  # empty fields are left out, as protobuf JSON does
    assert info["status"] == "RUNNING" and info["lifecycle_stage"] == "active"
    assert run["data"]["metrics"] == [{"key": "loss", "value": 9.9, "timestamp": 5099, "step": 99}]
    # The ajax prefix serves the same API.
    same = api.get("/ajax-api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()
    assert same["run"]["info"] == info


def test_get_search_with_query_params(api, two_runs):
    resp = api.get("/api/2.0/mlflow/experiments/search",
                   params=[("max_results", "1"), ("filter", "name = 'rest-shapes'"), ("order_by", "name ASC"),
                           ("view_type", "ALL")])
    assert resp.status_code == 200, resp.text
    assert [e["name"] for e in resp.json()["experiments"]] == ["rest-shapes"]


def test_history_paging(api, two_runs):
    _, (run_id, _) = two_runs
    params = {"run_id": run_id, "metric_key": "loss", "max_results": "40"}
    first = api.get("/api/2.0/mlflow/metrics/get-history", params=params).json()
    assert [m["step"] for m in first["metrics"]] == list(range(40))
    second = api.get("/api/2.0/mlflow/metrics/get-history",
                     params={**params, "page_token": first["next_page_token"]}).json()
    assert [m["step"] for m in second["metrics"]] == list(range(40, 80))


def test_history_bulk_interval_samples_each_run(api, two_runs):
    _, ids = two_runs
    params = [("run_ids", ids[0]), ("run_ids", ids[1]), ("metric_key", "loss"), ("max_results", "10")]
    metrics = api.get("/api/2.0/mlflow/metrics/get-history-bulk-interval", params=params).json()["metrics"]
    for run_id in ids:
        steps = [m["step"] for m in metrics if m["run_id"] == run_id]
        assert steps[0] == 0 and steps[-1] == 99 and 2 <= len(steps) <= 12 and steps == sorted(steps)
    ranged = api.get("/api/2.0/mlflow/metrics/get-history-bulk-interval",
                     params=[*params[:3], ("start_step", "10"), ("end_step", "19")]).json()["metrics"]
    assert sorted({m["step"] for m in ranged}) == list(range(10, 20))
    bad = api.get("/api/2.0/mlflow/metrics/get-history-bulk-interval", params=[("metric_key", "loss")])
    assert bad.status_code == 400


def test_run_artifact_listing(api, two_runs):
    _, (run_id, _) = two_runs
    info = api.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    rel = info["artifact_uri"].split(":", 1)[1].lstrip("/")
    for path in ("a.txt", "dir/b.txt", "dir/sub/c.txt"):
        assert api.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/{path}", content=b"x").status_code == 200
    top = api.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
    assert top["root_uri"] == info["artifact_uri"]
    assert top["files"] == [{"path": "a.txt", "is_dir": False, "file_size": 1}, {"path": "dir", "is_dir": True}]
    inner = api.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "dir"}).json()
    assert [f["path"] for f in inner["files"]] == ["dir/b.txt", "dir/sub"]
    shown = api.get("/get-artifact", params={"run_uuid": run_id, "path": "dir/sub/c.txt"})
    assert shown.status_code == 200 and shown.content == b"x"
    assert api.delete(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/dir").status_code == 200
    after = api.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
    assert [f["path"] for f in after["files"]] == ["a.txt"]
