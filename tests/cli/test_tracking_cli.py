"""The tracking CLI through click's CliRunner, on real SQLite files (and one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mltrail.cli.main import cli
from mltrail.entities import Metric, Param, RunTag
from mltrail.exceptions import MltrailException
from mltrail.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [
        ["experiments"],
        ["experiments", "create"],
        ["experiments", "list"],
        ["experiments", "rename"],
        ["experiments", "delete"],
        ["experiments", "restore"],
        ["runs"],
        ["runs", "list"],
        ["runs", "describe"],
        ["runs", "delete"],
        ["runs", "restore"],
        ["db"],
        ["db", "upgrade"],
        ["gc"],
    ],
)
def test_help_everywhere(command):
    out = _ok(*command, "--help")
    assert "Usage:" in out
    assert len(out.splitlines()) > 3


def test_experiments_lifecycle(uri, tmp_path):
    out = _ok("experiments", "create", "-n", "prompts", "--tracking-uri", uri)
    assert "Created experiment 'prompts' with id 1" in out
    _ok(
        "experiments",
        "create",
        "--experiment-name",
        "custom",
        "-l",
        str(tmp_path / "elsewhere"),
        "--backend-store-uri",
        uri,
    )
    listed = _ok("experiments", "list", "--tracking-uri", uri)
    assert "prompts" in listed and "Default" in listed and str(tmp_path / "elsewhere") in listed
    assert str(Path.cwd() / "mltrail-artifacts" / "1") in listed
    _ok("experiments", "rename", "-x", "1", "--new-name", "prompt-dev", "--tracking-uri", uri)
    _ok("experiments", "delete", "-x", "1", "--tracking-uri", uri)
    assert "prompt-dev" not in _ok("experiments", "list", "--tracking-uri", uri)
    deleted = _ok("experiments", "list", "--view", "deleted_only", "--tracking-uri", uri)
    assert "prompt-dev" in deleted and "deleted" in deleted
    _ok("experiments", "restore", "-x", "1", "--tracking-uri", uri)
    assert "prompt-dev" in _ok("experiments", "search", "--tracking-uri", uri)


def test_experiment_errors_are_clear(uri):
    _ok("experiments", "create", "-n", "dup", "--tracking-uri", uri)
    assert "RESOURCE_ALREADY_EXISTS" in _fails("experiments", "create", "-n", "dup", "--tracking-uri", uri)
    assert "RESOURCE_DOES_NOT_EXIST" in _fails("experiments", "delete", "-x", "99", "--tracking-uri", uri)
    assert "Missing option" in _fails("experiments", "create", "--tracking-uri", uri)


def test_tracking_uri_from_environment(tmp_path):
    env_uri = f"sqlite:///{tmp_path / 'env.db'}"
    _ok("experiments", "create", "-n", "via-env", env={"MLFLOW_TRACKING_URI": env_uri})
    assert "via-env" in _ok("experiments", "list", env={"MLTRAIL_TRACKING_URI": env_uri})
    assert not (Path.cwd() / "mltrail.db").exists()


def test_default_uri_is_local_sqlite_file():
    _ok("experiments", "create", "-n", "local")
    assert (Path.cwd() / "mltrail.db").exists()


def test_runs_commands(uri, tmp_path):
    store = SqlTrackingStore(uri, str(tmp_path / "art"))
    run = store.create_run("0", "alice", None, [RunTag("team", "nlp")], "my-run")
    run_id = run.info.run_id
    store.log_batch(run_id, metrics=[Metric("acc", float("nan"), 1, 0)], params=[Param("lr", "0.1")])
    listed = _ok("runs", "list", "-x", "0", "--tracking-uri", uri)
    assert run_id in listed and "my-run" in listed and "RUNNING" in listed
    described = json.loads(_ok("runs", "describe", "--run-id", run_id, "--tracking-uri", uri))
    assert described["info"]["run_id"] == run_id
    assert described["data"]["params"] == [{"key": "lr", "value": "0.1"}]
    assert described["data"]["metrics"][0]["value"] == "NaN"
    _ok("runs", "delete", "--run-id", run_id, "--tracking-uri", uri)
    assert run_id not in _ok("runs", "list", "-x", "0", "--tracking-uri", uri)
    assert run_id in _ok("runs", "list", "-x", "0", "-v", "deleted_only", "--tracking-uri", uri)
    _ok("runs", "restore", "--run-id", run_id, "--tracking-uri", uri)
    assert run_id in _ok("runs", "list", "-x", "0", "--tracking-uri", uri)
    assert "RESOURCE_DOES_NOT_EXIST" in _fails(
        "runs", "describe", "--run-id", "0" * 32, "--tracking-uri", uri
    )
    assert "RESOURCE_DOES_NOT_EXIST" in _fails("runs", "list", "-x", "77", "--tracking-uri", uri)


def _run_with_artifact(store: SqlTrackingStore, exp_id: str = "0") -> tuple[str, Path]:
    run = store.create_run(exp_id, "u", None, [], None)
    folder = Path(run.info.artifact_uri)
    folder.mkdir(parents=True)
    (folder / "model.txt").write_text("weights")
    store.log_metric(run.info.run_id, Metric("m", 1.0, 1, 0))
    return run.info.run_id, folder


def test_gc_purges_deleted_runs_and_artifacts(uri, tmp_path):
    store = SqlTrackingStore(uri, str(tmp_path / "art"))
    kept, kept_dir = _run_with_artifact(store)
    gone, gone_dir = _run_with_artifact(store)
    exp = store.create_experiment("old")
    _in_exp, in_exp_dir = _run_with_artifact(store, exp)
    store.delete_run(gone)
    store.delete_experiment(exp)
    # Recently deleted: --older-than keeps them.
    assert "Purged 0 run(s) and 0 experiment(s)" in _ok("gc", "--older-than", "1d", "--tracking-uri", uri)
    out = _ok("gc", "--tracking-uri", uri)
    assert "Purged 2 run(s) and 1 experiment(s)" in out
    assert not gone_dir.exists() and not in_exp_dir.exists()
    assert not gone_dir.parent.exists() and not in_exp_dir.parent.exists()  # no empty <run_id>/ left
    assert kept_dir.exists() and (kept_dir / "model.txt").read_text() == "weights"
    assert store.get_run(kept).info.run_id == kept
    with pytest.raises(MltrailException):
        store.get_run(gone)
    with pytest.raises(MltrailException):
        store.get_experiment(exp)


def test_gc_with_explicit_ids(uri, tmp_path):
    store = SqlTrackingStore(uri, str(tmp_path / "art"))
    first, first_dir = _run_with_artifact(store)
    second, second_dir = _run_with_artifact(store)
    assert "not in the deleted state" in _fails("gc", "--run-ids", first, "--tracking-uri", uri)
    store.delete_run(first)
    store.delete_run(second)
    assert "Purged 1 run(s)" in _ok("gc", "--run-ids", first, "--tracking-uri", uri)
    assert not first_dir.exists() and second_dir.exists()
    assert store.get_deleted_runs() == [second]
    exp = store.create_experiment("x")
    assert "not in the deleted state" in _fails("gc", "--experiment-ids", exp, "--tracking-uri", uri)
    assert "not a duration" in _fails("gc", "--older-than", "soon", "--tracking-uri", uri)


def test_gc_proxied_artifacts(uri, tmp_path):
    store = SqlTrackingStore(uri, "mlflow-artifacts:/")
    run = store.create_run("0", "u", None, [], None)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/0/")
    served = tmp_path / "served"
    folder = served / "0" / run.info.run_id / "artifacts"
    folder.mkdir(parents=True)
    (folder / "f.txt").write_text("x")
    store.delete_run(run.info.run_id)
    _ok("gc", "--artifacts-destination", str(served), "--tracking-uri", uri)
    assert not folder.exists() and (served / "0").exists()


def test_gc_older_than_parsing():
    from mltrail.cli.gc import parse_duration

    assert parse_duration("30d") == 30 * 86_400_000
    assert parse_duration("1d2h30m") == 86_400_000 + 2 * 3_600_000 + 30 * 60_000
    assert parse_duration("45s") == 45_000


def test_cli_as_a_real_process(tmp_path):
    uri = f"sqlite:///{tmp_path / 'proc.db'}"
    env = {**os.environ, "MLTRAIL_TRACKING_URI": uri}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "mltrail.cli.main", "experiments", "create", "-n", "from-process"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "from-process" in done.stdout
