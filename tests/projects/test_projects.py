"""MLflow Projects: `mltrail run` as a real subprocess and mltrail.projects.run, against real SQLite stores."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mltrail as mlflow
from mltrail.exceptions import MltrailException

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _cli(*args: str, cwd: Path, uri: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLTRAIL_TRACKING_URI": uri}
    return subprocess.run([sys.executable, "-m", "mltrail", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _only_run(experiment_name: str):
    exp = mlflow.get_experiment_by_name(experiment_name)
    runs = mlflow.MlflowClient().search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


def test_cli_runs_entry_point_and_script_attaches_to_the_run(example_project, tmp_path, sqlite_uri):
    proc = _cli(str(example_project), "-P", "alpha=0.2", "-P", "extra=x", "--env-manager", "local",
                "--experiment-name", "proj", "--run-name", "first", cwd=tmp_path, uri=sqlite_uri)
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stderr
    mlflow.set_tracking_uri(sqlite_uri)
    run = _only_run("proj")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.data.params == {"alpha": "0.2", "epochs": "3", "label": "baseline", "extra": "x"}
    tags = run.data.tags
    assert tags["mlflow.source.type"] == "PROJECT"
    assert tags["mlflow.source.name"] == str(example_project.resolve())
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert HEX40.match(tags["mlflow.source.git.commit"])  # the example lives in this git work tree
    # The script's own start_run() resumed the run, and unknown parameters reached it as --key value.
    assert tags["label"] == "baseline"
    assert tags["unknown_args"] == "--extra x"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]
    assert history[-1].value == pytest.approx(0.9**3)


def test_python_api_synchronous_and_asynchronous(example_project):
    submitted = mlflow.projects.run(str(example_project), parameters={"alpha": 1, "label": "api"},
                                    env_manager="local", experiment_name="api")
    assert submitted.get_status() == "FINISHED"
    run = mlflow.get_run(submitted.run_id)
    assert run.data.params["alpha"] == "1"
    assert run.data.tags["label"] == "api"
    assert run.data.metrics["loss"] == pytest.approx(0.125)

    background = mlflow.run(str(example_project), parameters={"epochs": 1}, env_manager="local",
                            experiment_name="api", synchronous=False)
    assert background.wait() is True
    assert background.get_status() == "FINISHED"
    assert mlflow.get_run(background.run_id).info.status == "FINISHED"


def test_failing_entry_point_marks_run_failed(example_project, tmp_path, sqlite_uri):
    with pytest.raises(MltrailException, match="failed"):
        mlflow.projects.run(str(example_project), entry_point="fail", env_manager="local", experiment_name="bad")
    run = _only_run("bad")
    assert run.info.status == "FAILED"
    assert run.data.tags["mlflow.project.entryPoint"] == "fail"

    proc = _cli(str(example_project), "-e", "fail", "--env-manager", "local", "--experiment-name", "bad-cli",
                cwd=tmp_path, uri=sqlite_uri)
    assert proc.returncode != 0
    assert "training diverged" in proc.stderr
    mlflow.set_tracking_uri(sqlite_uri)
    assert _only_run("bad-cli").info.status == "FAILED"


def test_path_parameters_are_made_absolute(example_project, tmp_path):
    (tmp_path / "data.txt").write_text("a\nb\nc\n")
    submitted = mlflow.projects.run(str(example_project), entry_point="with_data",
                                    parameters={"data": "data.txt", "alpha": "0.5"}, env_manager="local")
    run = mlflow.get_run(submitted.run_id)
    assert run.data.params["data"] == str(tmp_path / "data.txt")
    assert run.data.metrics["data_lines"] == 3


@pytest.mark.parametrize(
    ("entry", "params", "message"),
    [
        ("main", {"alpha": "fast"}, "of type float got 'fast'"),
        ("with_data", {"alpha": "0.1"}, "missing parameters: 'data'"),
        ("nope", {}, "Could not find entry point 'nope'"),
    ],
)
def test_parameter_errors_create_no_run(example_project, entry, params, message):
    with pytest.raises(MltrailException, match=message) as err:
        mlflow.projects.run(str(example_project), entry_point=entry, parameters=params, env_manager="local")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_cli_parameter_errors_are_clear(example_project, tmp_path, sqlite_uri):
    proc = _cli(str(example_project), "-P", "alpha=abc", "--env-manager", "local", cwd=tmp_path, uri=sqlite_uri)
    assert proc.returncode != 0
    assert "INVALID_PARAMETER_VALUE" in proc.stderr and "'abc'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli(str(example_project), "-P", "alpha", cwd=tmp_path, uri=sqlite_uri)
    assert proc.returncode == 2 and "name=value" in proc.stderr


def _project(folder: Path, mlproject: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if mlproject:
        (folder / "MLproject").write_text(textwrap.dedent(mlproject))
    for name, text in (files or {}).items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_values_are_shell_quoted(tmp_path):
    project = _project(tmp_path / "quoting", """
        name: quoting
        entry_points:
          main:
            parameters:
              msg: string
            command: "python -c 'import sys; open(\\"out.txt\\", \\"w\\").write(sys.argv[1])' {msg}"
    """)
    submitted = mlflow.projects.run(str(project), parameters={"msg": "hi; touch pwned $(id)"}, env_manager="local")
    assert submitted.get_status() == "FINISHED"
    assert (project / "out.txt").read_text() == "hi; touch pwned $(id)"
    assert not (project / "pwned").exists()


def test_bare_script_project_and_cancel(tmp_path):
    project = _project(tmp_path / "bare", "", {
        "job.py": """
            import sys
            import mltrail as mlflow
            with mlflow.start_run():
                mlflow.log_param("argv", " ".join(sys.argv[1:]))
        """,
    })
    submitted = mlflow.projects.run(str(project), entry_point="job.py", parameters={"lr": 0.1}, env_manager="local")
    run = mlflow.get_run(submitted.run_id)
    assert run.data.params == {"lr": "0.1", "argv": "--lr 0.1"}
    assert run.data.tags["mlflow.project.entryPoint"] == "job.py"

    sleeper = _project(tmp_path / "sleeper", """
        name: sleeper
        entry_points:
          main:
            command: "sleep 60"
    """)
    background = mlflow.projects.run(str(sleeper), env_manager="local", synchronous=False)
    assert background.get_status() == "RUNNING"
    background.cancel()
    assert background.get_status() == "KILLED"
    assert mlflow.get_run(background.run_id).info.status == "KILLED"


@pytest.mark.parametrize(
    ("mlproject", "manager", "message"),
    [
        ("entry_points:\n  main:\n    parameters:\n      a: int\n    command: echo {a}\n", "local", "unknown type 'int'"),
        ("entry_points:\n  main:\n    command: echo {b}\n", "local", "uses {b}, which is not a declared"),
        ("entry_points:\n  main: {}\n", "local", "needs a 'command'"),
        ("entry_points: [\n", "local", "Could not parse"),
        ("docker_env:\n  image: x\nentry_points:\n  main:\n    command: echo\n", "local", "Docker projects"),
        ("conda_env: conda.yaml\nentry_points:\n  main:\n    command: echo\n", None, "conda"),
        ("python_env: missing.yaml\nentry_points:\n  main:\n    command: echo\n", "uv", "does not exist"),
    ],
)
def test_bad_projects_are_rejected_before_a_run_exists(tmp_path, mlproject, manager, message):
    project = _project(tmp_path / "p", mlproject)
    with pytest.raises(MltrailException, match=message):
        mlflow.projects.run(str(project), env_manager=manager)
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_git_version_of_a_local_repository(tmp_path):
    repo = _project(tmp_path / "repo", """
        name: versioned
        entry_points:
          main:
            command: "python train.py"
    """, {"train.py": "import mltrail as mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('v', 1)\n"})

    def git(*args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@x"}
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env=env).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "v1")
    first = git("rev-parse", "HEAD")
    (repo / "train.py").write_text("import mltrail as mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('v', 2)\n")
    git("commit", "-q", "-am", "v2")

    old = mlflow.projects.run(str(repo), version=first, env_manager="local")
    new = mlflow.projects.run(str(repo), env_manager="local")
    assert mlflow.get_run(old.run_id).data.metrics["v"] == 1
    assert mlflow.get_run(old.run_id).data.tags["mlflow.source.git.commit"] == first
    assert mlflow.get_run(new.run_id).data.metrics["v"] == 2
    assert mlflow.get_run(new.run_id).data.tags["mlflow.source.git.commit"] == git("rev-parse", "HEAD")
    with pytest.raises(MltrailException, match="git checkout failed"):
        mlflow.projects.run(str(repo), version="no-such-branch", env_manager="local")


def test_run_is_a_listed_cli_command():
    out = subprocess.run([sys.executable, "-m", "mltrail", "--help"], capture_output=True, text=True).stdout
    assert re.search(r"^\s+run\b", out, re.MULTILINE)


@pytest.mark.slow
def test_uv_env_manager_runs_in_an_isolated_env(tmp_path, monkeypatch):
    pytest.importorskip("uv")
    monkeypatch.setenv("MLTRAIL_ENV_ROOT", str(tmp_path / "envs"))
    project = _project(tmp_path / "iso", """
        name: isolated
        python_env: python_env.yaml
        entry_points:
          main:
            command: "python job.py"
    """, {
        "python_env.yaml": "python: '3'\nbuild_dependencies: [pip]\ndependencies: []\n",
        "job.py": "import sys\nimport mltrail as mlflow\nwith mlflow.start_run():\n    mlflow.set_tag('prefix', sys.prefix)\n",
    })
    submitted = mlflow.projects.run(str(project), env_manager="uv")
    run = mlflow.get_run(submitted.run_id)
    assert run.data.tags["mlflow.project.env"] == "uv"
    assert Path(run.data.tags["prefix"]).is_relative_to(tmp_path / "envs")


def test_ctrl_c_on_mltrail_run_stops_the_command(tmp_path, sqlite_uri):
    import signal

    sleeper = _project(tmp_path / "sleeper", """
        name: sleeper
        entry_points:
          main:
            command: "echo started > started.txt; sleep 60"
    """)
    env = {**os.environ, "MLTRAIL_TRACKING_URI": sqlite_uri}
    proc = subprocess.Popen([sys.executable, "-m", "mltrail", "run", str(sleeper), "--experiment-name", "sig"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (sleeper / "started.txt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    mltrail_run = _only_run_at(sqlite_uri, "sig")
    assert mltrail_run.info.status == "KILLED"


def _only_run_at(uri: str, experiment_name: str):
    mlflow.set_tracking_uri(uri)
    return _only_run(experiment_name)
