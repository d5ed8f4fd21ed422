"""Fluent run lifecycle: experiments, start/resume/nest/end, statuses, system tags.

Each test runs on the embedded default (no configuration), PostgreSQL and MariaDB.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mltrail as mlflow
from mltrail.exceptions import MltrailException


def test_embedded_default_needs_no_configuration(tmp_path):
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mltrail.db'}"
    with mlflow.start_run() as run:
        mlflow.log_param("p", 1)
        mlflow.log_text("hi", "a.txt")
    assert (tmp_path / "mltrail.db").is_file()
    assert run.info.experiment_id == "0"
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "mltrail-artifacts")
    assert (Path(run.info.artifact_uri.removeprefix("file://")) / "a.txt").read_text() == "hi"


def test_env_vars_choose_the_store(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{other}"
    monkeypatch.setenv("MLTRAIL_TRACKING_URI", f"sqlite:///{tmp_path / 'first.db'}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'first.db'}"  # MLTRAIL_ wins
    with mlflow.start_run():
        pass
    assert (tmp_path / "first.db").is_file() and not (tmp_path / "mltrail.db").exists()
    mlflow.set_tracking_uri(str(tmp_path / "folder"))  # a folder holds mltrail.db + artifacts
    assert mlflow.get_tracking_uri() == (tmp_path / "folder").as_uri()
    with mlflow.start_run() as run:
        mlflow.log_text("x", "x.txt")
    assert (tmp_path / "folder" / "mltrail.db").is_file()
    assert (tmp_path / "folder" / "mltrail-artifacts").is_dir()
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"


def test_unsupported_uri_is_a_clear_error():
    mlflow.set_tracking_uri("databricks://profile")
    with pytest.raises(MltrailException) as err:
        mlflow.search_experiments()
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Unsupported tracking URI" in err.value.message


def test_set_experiment_creates_by_name_and_selects_by_id(backend):
    exp = mlflow.set_experiment(backend)
    assert exp.name == backend and exp.lifecycle_stage == "active"
    again = mlflow.set_experiment(backend)
    assert again.experiment_id == exp.experiment_id  # not created twice
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == exp.experiment_id
    other_id = mlflow.create_experiment(backend + "-other", tags={"team": "llm"})
    assert mlflow.set_experiment(experiment_id=other_id).name == backend + "-other"
    assert mlflow.get_experiment(other_id).tags == {"team": "llm"}
    assert mlflow.get_experiment_by_name(backend + "-other").experiment_id == other_id
    assert mlflow.get_experiment_by_name(backend + "-missing") is None
    mlflow.set_experiment_tags({"a": 1, "b": "two"})
    mlflow.set_experiment_tag("c", 3)
    assert mlflow.get_experiment(other_id).tags == {"team": "llm", "a": "1", "b": "two", "c": "3"}


def test_set_experiment_errors(backend):
    with pytest.raises(MltrailException, match="exactly one of"):
        mlflow.set_experiment()
    with pytest.raises(MltrailException, match="exactly one of"):
        mlflow.set_experiment(backend, experiment_id="1")
    with pytest.raises(MltrailException) as err:
        mlflow.set_experiment(experiment_id="987654321")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp_id = mlflow.create_experiment(backend)
    mlflow.delete_experiment(exp_id)
    with pytest.raises(MltrailException, match="Cannot set a deleted experiment") as err:
        mlflow.set_experiment(backend)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_start_run_sets_system_tags(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run(run_name="first", tags={"team": "llm", "n": 3}, description="a note") as run:
        assert isinstance(run, mlflow.ActiveRun) and isinstance(run, mlflow.entities.Run)
        assert mlflow.active_run().info.run_id == run.info.run_id
        assert run.info.status == "RUNNING" and run.info.run_name == "first"
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags["mlflow.runName"] == "first"
    assert tags["mlflow.note.content"] == "a note"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"]
    assert tags["mlflow.source.name"]
    assert tags["team"] == "llm" and tags["n"] == "3"
    assert "mlflow.parentRunId" not in tags
    with pytest.raises(MltrailException, match="Description is already set"):
        mlflow.start_run(description="x", tags={"mlflow.note.content": "y"})
    assert mlflow.active_run() is None


def test_run_without_name_gets_a_generated_one(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        pass
    fetched = mlflow.get_run(run.info.run_id)
    assert fetched.info.run_name and fetched.data.tags["mlflow.runName"] == fetched.info.run_name


def test_starting_a_second_run_needs_nested(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as outer:
        with pytest.raises(MltrailException) as err:
            mlflow.start_run()
        assert f"Run with UUID {outer.info.run_id} is already active" in err.value.message
        assert "nested=True" in err.value.message
        assert mlflow.active_run().info.run_id == outer.info.run_id


def test_nested_runs_get_parent_tag(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            with mlflow.start_run(nested=True) as grandchild:
                assert mlflow.active_run().info.run_id == grandchild.info.run_id
            assert mlflow.active_run().info.run_id == child.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id
    assert mlflow.active_run() is None
    child_tags = mlflow.get_run(child.info.run_id).data.tags
    assert child_tags["mlflow.parentRunId"] == parent.info.run_id
    assert mlflow.get_run(grandchild.info.run_id).data.tags["mlflow.parentRunId"] == child.info.run_id
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mlflow.get_parent_run(parent.info.run_id) is None
    for r in (parent, child, grandchild):
        assert mlflow.get_run(r.info.run_id).info.status == "FINISHED"


def test_parent_run_id_argument(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as parent:
        pass
    with mlflow.start_run(parent_run_id=parent.info.run_id) as child:
        pass
    assert mlflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    with mlflow.start_run() as other, pytest.raises(MltrailException, match="does not match the specified parent_run_id"):
        mlflow.start_run(nested=True, parent_run_id=parent.info.run_id)
    assert mlflow.active_run() is None and mlflow.get_run(other.info.run_id).info.status == "FINISHED"


def test_leaving_with_block_ends_inner_runs_left_open(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as outer:
        inner = mlflow.start_run(nested=True)  # never ended explicitly
    assert mlflow.active_run() is None
    assert mlflow.get_run(inner.info.run_id).info.status == "FINISHED"
    assert mlflow.get_run(outer.info.run_id).info.status == "FINISHED"


def test_resume_run_sets_running_and_keeps_data(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0, step=0)
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    resumed = mlflow.start_run(run_id=run.info.run_id, tags={"resumed": "yes"})
    assert resumed.info.run_id == run.info.run_id
    assert resumed.info.status == "RUNNING"
    assert resumed.data.tags["resumed"] == "yes"
    mlflow.log_metric("m", 2.0, step=1)
    mlflow.end_run()
    final = mlflow.get_run(run.info.run_id)
    assert final.info.status == "FINISHED" and final.data.metrics["m"] == 2.0
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m")
    assert [(h.step, h.value) for h in history] == [(0, 1.0), (1, 2.0)]


def test_resume_with_a_name_renames(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run(run_name="before") as run:
        pass
    with mlflow.start_run(run_id=run.info.run_id, run_name="after") as resumed:
        assert resumed.info.run_name == "after"
    assert mlflow.get_run(run.info.run_id).data.tags["mlflow.runName"] == "after"


def test_resume_errors(backend):
    mlflow.set_experiment(backend)
    for bad in ("../etc", "-x", "a" * 300, "a b"):
        with pytest.raises(MltrailException, match="Invalid run ID") as err:
            mlflow.start_run(run_id=bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="Invalid run ID"):
        mlflow.start_run(parent_run_id="../x")
    other = mlflow.create_experiment(backend + "-other")
    with mlflow.start_run(experiment_id=other) as elsewhere:
        pass
    with pytest.raises(MltrailException, match="active experiment ID does not match"):
        mlflow.start_run(run_id=elsewhere.info.run_id)
    with pytest.raises(MltrailException) as err:
        mlflow.start_run(run_id="0123456789abcdef0123456789abcdef")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    with pytest.raises(MltrailException, match="deleted state"):
        mlflow.start_run(run_id=run.info.run_id)
    assert mlflow.active_run() is None


def test_run_id_env_var_resumes(backend, monkeypatch):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        pass
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with mlflow.start_run() as again:
        assert again.info.run_id == run.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ  # used once, like MLflow


def test_exception_marks_failed_and_propagates(backend):
    mlflow.set_experiment(backend)
    with pytest.raises(ZeroDivisionError), mlflow.start_run() as run:
        1 / 0  # noqa: B018
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"
    assert mlflow.active_run() is None


@pytest.mark.parametrize(("code", "status"), [(0, "FINISHED"), (None, "FINISHED"), (2, "FAILED")])
def test_sys_exit_inside_a_run(code, status):
    with pytest.raises(SystemExit), mlflow.start_run() as run:
        raise SystemExit(code)
    assert mlflow.get_run(run.info.run_id).info.status == status


def test_keyboard_interrupt_marks_killed(backend):
    mlflow.set_experiment(backend)
    with pytest.raises(KeyboardInterrupt), mlflow.start_run() as run:
        raise KeyboardInterrupt
    assert mlflow.get_run(run.info.run_id).info.status == "KILLED"


def test_end_run_status_and_last_active_run(backend):
    mlflow.set_experiment(backend)
    assert mlflow.last_active_run() is None
    mlflow.end_run()  # no active run: nothing happens
    run = mlflow.start_run()
    mlflow.log_param("x", "1")
    assert mlflow.last_active_run().data.params == {"x": "1"}  # the active one, fresh
    mlflow.end_run(status="KILLED")
    assert mlflow.active_run() is None
    last = mlflow.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "KILLED"
    assert last.info.end_time >= last.info.start_time
    with pytest.raises(MltrailException, match="Invalid run status"):
        mlflow.start_run()
        mlflow.end_run(status="DONE")


def test_logging_without_active_run_starts_one(backend):
    mlflow.set_experiment(backend)
    mlflow.log_metric("auto", 1)
    run = mlflow.active_run()
    assert run is not None
    mlflow.end_run()
    assert mlflow.get_run(run.info.run_id).data.metrics == {"auto": 1.0}


def test_experiment_id_argument_and_env(backend, monkeypatch):
    exp_id = mlflow.create_experiment(backend)
    with mlflow.start_run(experiment_id=exp_id) as run:
        pass
    assert run.info.experiment_id == exp_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", exp_id)
    with mlflow.start_run() as run1:
        pass
    assert run1.info.experiment_id == exp_id
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", backend)
    assert mlflow.start_run().info.experiment_id == exp_id  # name and id agree
    mlflow.end_run()
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", backend + "-env")  # the name wins; created on first use
    with mlflow.start_run() as run2:
        pass
    assert mlflow.get_experiment(run2.info.experiment_id).name == backend + "-env"
    with pytest.raises(MltrailException, match="does not match"):
        mlflow.start_run()  # now it exists, and the id variable names another experiment
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "987654321")
    with pytest.raises(MltrailException, match="does not exist") as err:
        mlflow.start_run()
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_delete_run_and_search_experiments(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        pass
    mlflow.delete_run(run.info.run_id)
    assert mlflow.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    names = [e.name for e in mlflow.search_experiments(filter_string=f"name = '{backend}'")]
    assert names == [backend]
    assert len(mlflow.search_experiments(max_results=1)) == 1


def test_each_thread_has_its_own_active_run(backend):
    import threading

    mlflow.set_experiment(backend)
    seen = {}

    def worker(name):
        assert mlflow.active_run() is None  # the main thread's run is not this thread's
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_param("thread", name)
            seen[name] = run.info.run_id

    with mlflow.start_run() as main_run:
        threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert mlflow.active_run().info.run_id == main_run.info.run_id
    assert len(set(seen.values())) == 3
    for name, run_id in seen.items():
        run = mlflow.get_run(run_id)
        assert run.data.params == {"thread": name} and run.info.status == "FINISHED"
        assert "mlflow.parentRunId" not in run.data.tags


def test_relative_sqlite_uri_is_pinned_when_set(tmp_path, monkeypatch):
    mlflow.set_tracking_uri("sqlite:///rel.db")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'rel.db'}"
    run = mlflow.start_run()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    mlflow.log_param("still", "same store")  # the run keeps logging where it was started
    mlflow.end_run()
    assert not (tmp_path / "elsewhere" / "rel.db").exists()
    assert mlflow.get_run(run.info.run_id).data.params == {"still": "same store"}
