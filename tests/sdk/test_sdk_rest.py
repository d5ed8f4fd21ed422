"""The SDK against a live ``mltrail server`` over HTTP (``set_tracking_uri("http://…")``).

The fluent API and client must behave exactly as on the embedded store:
buffered metrics are flushed when a run ends, artifacts go through the
server's artifact proxy (``mlflow-artifacts:/`` URIs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import mltrail as mlflow
from mltrail.exceptions import MltrailException
from support.live_server import running_server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("sdk-server")) as server:
        yield server.url


@pytest.fixture
def remote(server_url) -> str:
    mlflow.set_tracking_uri(server_url)
    return f"remote-{uuid.uuid4().hex[:8]}"


def test_fluent_run_over_http(remote, tmp_path):
    mlflow.set_experiment(remote)
    with mlflow.start_run(run_name="over-http", description="remote") as run:
        mlflow.log_params({"model": "gpt-4o-mini", "temperature": 0.7})
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)  # buffered by the REST store
        mlflow.log_metrics({"prompt_tokens": 12, "completion_tokens": 30})
        mlflow.set_tag("where", "server")
        mlflow.log_text("You are a concise technical writer.", "system_prompt.txt")
        mlflow.log_dict({"a": [1, 2]}, "cfg/config.yaml")
        with mlflow.start_run(nested=True) as child:
            mlflow.log_metric("child_metric", 1)
    fetched = mlflow.get_run(run.info.run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.artifact_uri.startswith("mlflow-artifacts:")
    assert fetched.data.params == {"model": "gpt-4o-mini", "temperature": "0.7"}
    assert fetched.data.metrics["loss"] == pytest.approx(1 / 50)
    assert fetched.data.tags["mlflow.note.content"] == "remote"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(50))
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == run.info.run_id
    client = mlflow.MlflowClient()
    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["cfg", "system_prompt.txt"]
    local = client.download_artifacts(run.info.run_id, "system_prompt.txt", str(tmp_path))
    assert Path(local).read_text() == "You are a concise technical writer."
    df = mlflow.search_runs(filter_string="tags.where = 'server'")
    assert list(df["run_id"]) == [run.info.run_id]
    assert df.loc[0, "metrics.prompt_tokens"] == 12.0


def test_resume_and_failure_over_http(remote):
    mlflow.set_experiment(remote)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_dict({"k": "v"}, "evaluation_results.json")
        mlflow.log_metric("m", 2, step=1)
    assert mlflow.get_run(run.info.run_id).data.metrics["m"] == 2.0
    with pytest.raises(RuntimeError), mlflow.start_run() as failed:
        raise RuntimeError("boom")
    assert mlflow.get_run(failed.info.run_id).info.status == "FAILED"
    with pytest.raises(MltrailException) as err:
        mlflow.get_run("0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
