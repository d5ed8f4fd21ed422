"""``mltrail.Client`` / ``mltrail.tracking.MlflowClient``: the explicit tracking API."""

from __future__ import annotations

import pytest

import mltrail
from mltrail.entities import Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.tracking import MlflowClient


def test_client_names_are_the_same_class():
    assert mltrail.Client is MlflowClient is mltrail.MlflowClient
    assert mltrail.MlflowException is mltrail.exceptions.MltrailException


def test_uris_default_and_explicit(tmp_path):
    client = MlflowClient()
    assert client.tracking_uri == f"sqlite:///{tmp_path / 'mltrail.db'}"
    assert client._registry_uri == client.tracking_uri
    other = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'x.db'}", registry_uri=f"sqlite:///{tmp_path / 'r.db'}")
    assert other._tracking_uri.endswith("x.db") and other._registry_uri.endswith("r.db")
    mltrail.set_registry_uri(f"sqlite:///{tmp_path / 'reg.db'}")
    assert MlflowClient()._registry_uri.endswith("reg.db")
    assert mltrail.get_registry_uri().endswith("reg.db")


def test_experiment_methods(backend):
    client = MlflowClient()
    exp_id = client.create_experiment(backend, tags={"k": "v"})
    with pytest.raises(MltrailException) as err:
        client.create_experiment(backend)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MltrailException) as err:
        client.create_experiment("")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    client.set_experiment_tag(exp_id, "k2", 2)
    client.delete_experiment_tag(exp_id, "k")
    assert client.get_experiment(exp_id).tags == {"k2": "2"}
    client.rename_experiment(exp_id, backend + "-renamed")
    assert client.get_experiment_by_name(backend + "-renamed").experiment_id == exp_id
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    found = client.search_experiments(view_type="DELETED_ONLY", filter_string=f"name = '{backend}-renamed'")
    assert [e.experiment_id for e in found] == [exp_id]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    with pytest.raises(MltrailException) as err:
        client.get_experiment("99999999")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_run_methods(backend):
    client = MlflowClient()
    exp_id = client.create_experiment(backend)
    run = client.create_run(exp_id, start_time=1234, tags={"mlflow.user": "alice", "t": 1}, run_name="explicit")
    run_id = run.info.run_id
    assert run.info.status == "RUNNING" and run.info.start_time == 1234 and run.info.user_id == "alice"
    assert run.info.run_name == "explicit" and run.data.tags["t"] == "1"
    assert client.log_param(run_id, "p", 3) == 3
    client.log_metric(run_id, "m", 1.5, timestamp=10, step=2)
    client.log_batch(
        run_id,
        metrics=[Metric("m", 2.5, 20, 3), Metric("n", 0.0, 20, 0)],
        params=[Param("q", "x")],
        tags=[RunTag("tag", "v")],
    )
    client.set_tag(run_id, "tag2", "w")
    client.delete_tag(run_id, "tag2")
    with pytest.raises(MltrailException) as err:
        client.delete_tag(run_id, "tag2")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    got = client.get_run(run_id)
    assert got.data.params == {"p": "3", "q": "x"}
    assert got.data.metrics == {"m": 2.5, "n": 0.0}
    assert "tag2" not in got.data.tags and got.data.tags["tag"] == "v"
    assert [(m.value, m.step, m.timestamp) for m in client.get_metric_history(run_id, "m")] == [(1.5, 2, 10), (2.5, 3, 20)]
    client.update_run(run_id, name="renamed")
    got = client.get_run(run_id)
    assert got.info.run_name == "renamed" and got.data.tags["mlflow.runName"] == "renamed"
    assert got.info.status == "RUNNING"
    client.update_run(run_id, status="SCHEDULED")
    assert client.get_run(run_id).info.status == "SCHEDULED"
    client.set_terminated(run_id, status="FAILED", end_time=5000)
    got = client.get_run(run_id)
    assert got.info.status == "FAILED" and got.info.end_time == 5000
    client.set_terminated(run_id)
    assert client.get_run(run_id).info.status == "FINISHED"
    with pytest.raises(MltrailException, match="Invalid run status"):
        client.set_terminated(run_id, status="NOPE")
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert list(client.search_runs(exp_id)) == []
    client.restore_run(run_id)
    runs = client.search_runs([exp_id], filter_string="metrics.m > 2")
    assert [r.info.run_id for r in runs] == [run_id] and runs.token is None
    with pytest.raises(MltrailException) as err:
        client.get_run("f" * 32)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_parent_and_artifacts(backend, tmp_path):
    client = MlflowClient()
    exp_id = client.create_experiment(backend)
    parent = client.create_run(exp_id)
    child = client.create_run(exp_id, tags={"mlflow.parentRunId": parent.info.run_id})
    assert client.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert client.get_parent_run(parent.info.run_id) is None
    rid = child.info.run_id
    client.log_text(rid, "text", "a/b.txt")
    client.log_dict(rid, {"x": 1}, "d.json")
    f = tmp_path / "f.bin"
    f.write_bytes(b"\x00\x01")
    client.log_artifact(rid, str(f), "bin")
    assert [(i.path, i.is_dir) for i in client.list_artifacts(rid)] == [("a", True), ("bin", True), ("d.json", False)]
    assert [(i.path, i.file_size) for i in client.list_artifacts(rid, "bin")] == [("bin/f.bin", 2)]
    local = client.download_artifacts(rid, "a", str(tmp_path / "out"))
    assert local == str(tmp_path / "out" / "a")
    assert (tmp_path / "out" / "a" / "b.txt").read_text() == "text"


def test_clients_for_two_stores_are_independent(tmp_path):
    a = MlflowClient(f"sqlite:///{tmp_path / 'a.db'}")
    b = MlflowClient(f"sqlite:///{tmp_path / 'b.db'}")
    a.create_experiment("only-in-a")
    assert b.get_experiment_by_name("only-in-a") is None
    assert a.get_experiment_by_name("only-in-a") is not None


def test_mlflow_import_paths_for_the_client():
    from mltrail.client import MlflowClient as FromClientModule

    assert FromClientModule is MlflowClient
    assert mltrail.client.MlflowClient is MlflowClient


def test_file_uris_and_relative_paths_are_pinned_to_the_directory(tmp_path, monkeypatch):
    from mltrail.tracking._store_registry import plan_store

    assert plan_store("file:./runs") == (
        "sql", f"sqlite:///{tmp_path / 'runs' / 'mltrail.db'}", str(tmp_path / "runs" / "mltrail-artifacts")
    )
    assert plan_store("sqlite:///rel.db")[1] == f"sqlite:///{tmp_path / 'rel.db'}"
    assert plan_store(str(tmp_path / "x.db"))[:2] == ("sql", f"sqlite:///{tmp_path / 'x.db'}")
    assert plan_store("https://tracking.example:5000/")[:2] == ("rest", "https://tracking.example:5000")
    assert plan_store("postgresql://u@h/db") == ("sql", "postgresql://u@h/db", str(tmp_path / "mltrail-artifacts"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:./runs")
    mltrail.flush_async_logging()  # nothing buffered: a no-op
    with mltrail.start_run():
        mltrail.log_metric("m", 1)
    assert (tmp_path / "runs" / "mltrail.db").is_file()
