"""The official ``mlflow`` client (mlflow-skinny 3.17.2), unchanged, against a live ``mltrail server``."""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def client(live_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(live_server.url)
    yield MlflowClient(live_server.url)
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_fluent_workflow_end_to_end(client, tmp_path, live_server):
    exp = mlflow.set_experiment(_name("llm-prompts"))
    assert exp.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}"
    with mlflow.start_run(run_name="outer") as outer:
        mlflow.log_params({"model": "gpt-4o-mini", "temperature": 0.7, "max_tokens": 512})
        mlflow.log_metrics({"prompt_tokens": 12, "completion_tokens": 30, "total_cost_usd": 0.0001})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tags({"team": "nlp", "stage": "dev"})
        mlflow.log_text("You are a concise technical writer.", "system_prompt.txt")
        mlflow.log_dict({"results": [1, 2, 3]}, "eval/results.json")
        (tmp_path / "a.txt").write_text("alpha")
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "b.txt").write_text("beta")
        (tmp_path / "d" / "sub").mkdir()
        (tmp_path / "d" / "sub" / "c.txt").write_text("gamma")
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        mlflow.log_artifacts(str(tmp_path / "d"), artifact_path="tree")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 3.0)
    run = client.get_run(outer.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "gpt-4o-mini", "temperature": "0.7", "max_tokens": "512"}
    assert run.data.metrics["loss"] == pytest.approx(0.2)
    assert run.data.tags["team"] == "nlp"
    assert run.data.tags["mlflow.runName"] == "outer"
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == outer.info.run_id

    history = client.get_metric_history(outer.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert [m.value for m in history] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])

    # The files really went through the proxy into --artifacts-destination.
    stored = live_server.artifacts / exp.experiment_id / outer.info.run_id / "artifacts"
    assert (stored / "system_prompt.txt").read_text() == "You are a concise technical writer."
    assert (stored / "tree" / "sub" / "c.txt").read_text() == "gamma"

    names = sorted(f.path for f in client.list_artifacts(outer.info.run_id))
    assert names == ["a.txt", "eval", "system_prompt.txt", "tree"]
    # (A sub-path listing via runs:/ also searches logged models; list the proxy URI directly.)
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{outer.info.artifact_uri}/tree")
    assert sorted(f.path for f in listed) == ["tree/b.txt", "tree/sub"]
    out = mlflow.artifacts.download_artifacts(run_id=outer.info.run_id, dst_path=str(tmp_path / "dl"))
    assert json.loads((Path(out) / "eval" / "results.json").read_text()) == {"results": [1, 2, 3]}
    assert (Path(out) / "tree" / "sub" / "c.txt").read_text() == "gamma"
    assert mlflow.artifacts.load_text(f"runs:/{outer.info.run_id}/system_prompt.txt").startswith("You are")


def test_resume_run_and_search(client):
    exp_id = mlflow.create_experiment(_name("search"))
    mlflow.set_experiment(experiment_id=exp_id)
    ids = []
    for i in range(4):
        with mlflow.start_run(experiment_id=exp_id, run_name=f"r{i}") as run:
            mlflow.log_param("lr", str(0.1 * (i + 1)))
            mlflow.log_metric("acc", i / 10)
            mlflow.set_tag("parity", "even" if i % 2 == 0 else "odd")
            ids.append(run.info.run_id)
    with mlflow.start_run(run_id=ids[0]):
        mlflow.log_metric("acc", 0.99)
    assert client.get_run(ids[0]).data.metrics["acc"] == 0.99

    runs = client.search_runs([exp_id], "tags.parity = 'odd'", order_by=["metrics.acc DESC"])
    assert [r.info.run_id for r in runs] == [ids[3], ids[1]]
    df = mlflow.search_runs(experiment_ids=[exp_id], filter_string="metrics.acc > 0.15", order_by=["metrics.acc ASC"])
    assert list(df["run_id"]) == [ids[2], ids[3], ids[0]]
    assert "params.lr" in df.columns and "tags.parity" in df.columns

    page = client.search_runs([exp_id], max_results=3, order_by=["attributes.start_time ASC"])
    assert len(page) == 3 and page.token
    rest = client.search_runs([exp_id], max_results=3, order_by=["attributes.start_time ASC"], page_token=page.token)
    assert {r.info.run_id for r in page} | {r.info.run_id for r in rest} == set(ids)


def test_every_tracking_endpoint_through_mlflow_client(client):
    name = _name("endpoints")
    exp_id = client.create_experiment(name, tags={"k": "v"})
    assert client.get_experiment(exp_id).name == name
    assert client.get_experiment_by_name(name).experiment_id == exp_id
    assert client.get_experiment_by_name(_name("missing")) is None
    assert client.get_experiment(exp_id).tags == {"k": "v"}
    found = client.search_experiments(filter_string=f"name = '{name}'")
    assert [e.experiment_id for e in found] == [exp_id]
    client.rename_experiment(exp_id, name + "-renamed")
    assert client.get_experiment(exp_id).name == name + "-renamed"
    client.set_experiment_tag(exp_id, "k2", "v2")
    if hasattr(client, "delete_experiment_tag"):  # MLflow 3 only
        client.delete_experiment_tag(exp_id, "k")
        assert client.get_experiment(exp_id).tags == {"k2": "v2"}
    else:
        assert client.get_experiment(exp_id).tags == {"k": "v", "k2": "v2"}

    run = client.create_run(exp_id, tags={"t": "1"}, run_name="ep-run")
    run_id = run.info.run_id
    assert run.info.run_name == "ep-run"
    client.log_metric(run_id, "m", 1.5, step=2, timestamp=1000)
    client.log_metric(run_id, "nan", float("nan"))
    client.log_metric(run_id, "inf", float("inf"))
    client.log_param(run_id, "p", "x")
    client.set_tag(run_id, "t2", "2")
    client.delete_tag(run_id, "t")
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric("b", float(i), now + i, i) for i in range(50)],
        params=[Param("bp", "1")],
        tags=[RunTag("bt", "y")],
    )
    from mlflow.data.dataset_source import DatasetSource  # noqa: F401 - the client's own types
    from mlflow.entities import Dataset, DatasetInput, InputTag

    ds = Dataset(name="train", digest="abc123", source_type="local", source="/data/train.csv")
    client.log_inputs(run_id, [DatasetInput(ds, [InputTag("mlflow.data.context", "training")])])
    client.update_run(run_id, status="KILLED", name="renamed-run")

    got = client.get_run(run_id)
    assert got.info.status == "KILLED" and got.info.run_name == "renamed-run"
    assert got.data.metrics["m"] == 1.5 and math.isnan(got.data.metrics["nan"]) and got.data.metrics["inf"] == math.inf
    assert got.data.params == {"p": "x", "bp": "1"}
    assert "t" not in got.data.tags and got.data.tags["t2"] == "2" and got.data.tags["bt"] == "y"
    assert got.inputs.dataset_inputs[0].dataset.digest == "abc123"
    assert [m.value for m in client.get_metric_history(run_id, "b")] == [float(i) for i in range(50)]

    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert run_id not in [r.info.run_id for r in client.search_runs([exp_id])]
    assert run_id in [r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    assert client.get_run(run_id).info.status == "FINISHED"


def test_errors_come_back_as_mlflow_exceptions(client):
    with pytest.raises(MlflowException) as err:
        client.get_run("0" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    name = _name("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as err:
        client.create_experiment(name)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(client.get_experiment_by_name(name).experiment_id)
    client.log_param(run.info.run_id, "p", "1")
    with pytest.raises(MlflowException) as err:
        client.log_param(run.info.run_id, "p", "2")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
