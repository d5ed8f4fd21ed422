"""The run write routes over HTTP: runs/update's answer and a refused log-batch."""

from __future__ import annotations

import uuid

API = "/api/2.0/mlflow"


def _new_run(api, name: str) -> str:
    exp = api.post(f"{API}/experiments/create", json={"name": name}).json()["experiment_id"]
    run = api.post(f"{API}/runs/create", json={"experiment_id": exp, "start_time": 10, "run_name": "r"})
    return run.json()["run"]["info"]["run_id"]


def test_update_answers_the_stored_run_info(api):
    run_id = _new_run(api, "update-answers")
    done = api.post(f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 20})
    assert done.status_code == 200, done.text
    info = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["info"]
    assert done.json() == {"run_info": info}
    assert info["status"] == "FINISHED" and info["end_time"] == 20
    # No status: it stays as it is; the new name is the run's and its mlflow.runName tag.
    renamed = api.post(f"{API}/runs/update", json={"run_id": run_id, "run_name": "r2"})
    assert renamed.status_code == 200, renamed.text
    run = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert renamed.json() == {"run_info": run["info"]}
    assert run["info"]["status"] == "FINISHED" and run["info"]["run_name"] == "r2"
    assert {"key": "mlflow.runName", "value": "r2"} in run["data"]["tags"]


def test_update_of_missing_and_deleted_runs(api):
    ghost = api.post(f"{API}/runs/update", json={"run_id": uuid.uuid4().hex, "end_time": 5})
    assert ghost.status_code == 404 and ghost.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    run_id = _new_run(api, "update-deleted")
    assert api.post(f"{API}/runs/delete", json={"run_id": run_id}).status_code == 200
    gone = api.post(f"{API}/runs/update", json={"run_id": run_id, "end_time": 5})
    assert gone.status_code == 400
    assert gone.json()["message"] == f"The run {run_id} must be in the 'active' state. Current state is deleted."


def test_log_batch_with_a_changed_param_writes_nothing(api):
    run_id = _new_run(api, "batch-refused")
    first = {"run_id": run_id, "params": [{"key": "a", "value": "1"}]}
    assert api.post(f"{API}/runs/log-batch", json=first).status_code == 200
    batch = {
        "run_id": run_id,
        "params": [{"key": "b", "value": "2"}, {"key": "a", "value": "9"}],
        "tags": [{"key": "t", "value": "v"}],
        "metrics": [{"key": "m", "value": 1.5, "timestamp": 1, "step": 0}],
    }
    refused = api.post(f"{API}/runs/log-batch", json=batch)
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Param with key='a' was already logged with value='1'" in refused.json()["message"]
    data = api.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]
    assert data["params"] == [{"key": "a", "value": "1"}]
    assert not data.get("metrics") and all(t["key"] != "t" for t in data["tags"])
