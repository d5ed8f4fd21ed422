"""Process-level behaviour: runs ended at exit, Ctrl-C, import cost, git commit tags.

Each case runs a real Python subprocess in the test's directory and then reads
the embedded store it wrote.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mltrail as mlflow
from mltrail.tracking._default_tags import find_git_dir, git_commit_for, read_head_commit


def _run_script(tmp_path: Path, code: str, name: str = "script.py") -> subprocess.CompletedProcess:
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_open_run_is_finished_at_exit(tmp_path):
    proc = _run_script(
        tmp_path,
        """
        import mltrail as mlflow
        run = mlflow.start_run()
        mlflow.start_run(nested=True)
        mlflow.log_metric("m", 1.0)
        print(run.info.run_id)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    runs = mlflow.search_runs(output_format="list")
    assert len(runs) == 2
    for run in runs:
        assert run.info.status == "FINISHED" and run.info.end_time is not None


def test_uncaught_exception_marks_open_run_failed(tmp_path):
    proc = _run_script(
        tmp_path,
        """
        import mltrail as mlflow
        mlflow.start_run()
        raise ValueError("boom")
        """,
    )
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr  # the traceback still shows
    (run,) = mlflow.search_runs(output_format="list")
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("with_block", [True, False])
def test_ctrl_c_marks_run_killed(tmp_path, with_block):
    body = (
        "with mlflow.start_run() as run:\n    print(run.info.run_id, flush=True)\n    time.sleep(60)\n"
        if with_block
        else "run = mlflow.start_run()\nprint(run.info.run_id, flush=True)\ntime.sleep(60)\n"
    )
    script = tmp_path / "sleeper.py"
    script.write_text("import time\nimport mltrail as mlflow\n" + body)
    # As from a terminal: a test run started in the background (a shell without job control)
    # passes SIGINT on ignored, and Python then installs no KeyboardInterrupt handler at all.
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in err
    run = mlflow.get_run(run_id)
    assert run.info.status == "KILLED" and run.info.end_time is not None


def test_import_is_light_and_pandas_is_lazy(tmp_path):
    proc = _run_script(
        tmp_path,
        """
        import sys
        import mltrail
        heavy = ("pandas", "numpy", "sqlalchemy", "httpx", "yaml", "starlette", "mltrail.tracking")
        print(sorted(m for m in heavy if m in sys.modules))
        with mltrail.start_run():
            mltrail.log_metric("m", 1)
            mltrail.log_dict({"a": 1}, "a.json")
        print(sorted(m for m in ("pandas", "numpy", "matplotlib", "PIL") if m in sys.modules))
        # Submodules are attributes after a bare import, like MLflow's.
        print(mltrail.entities.Run.__name__, mltrail.tracking.MlflowClient.__name__, mltrail.data.from_pandas.__name__)
        print(mltrail.pyfunc.PythonModel.__name__)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "[]"
    assert lines[2] == "Run MlflowClient from_pandas"
    assert lines[3] == "PythonModel"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        _ = mlflow.no_such_function
    assert "start_run" in dir(mlflow) and "__version__" in dir(mlflow)


def _fake_repo(root: Path, sha: str, packed: bool = False) -> None:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    if packed:
        (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{'0' * 40} refs/heads/other\n{sha} refs/heads/main\n")
    else:
        (git / "refs" / "heads" / "main").write_text(sha + "\n")


def test_git_commit_tag_from_the_scripts_work_tree(tmp_path):
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    _fake_repo(repo, sha)
    proc = _run_script(
        repo / "src",
        """
        import mltrail as mlflow
        mlflow.set_tracking_uri("sqlite:///../../mltrail.db")
        with mlflow.start_run() as run:
            print(run.info.run_id)
        """,
        name="train.py",
    )
    assert proc.returncode == 0, proc.stderr
    tags = mlflow.get_run(proc.stdout.strip()).data.tags
    assert tags["mlflow.source.git.commit"] == sha
    assert tags["mlflow.source.name"] == str(repo / "src" / "train.py")
    assert tags["mlflow.source.type"] == "LOCAL"


def test_git_refs_packed_detached_and_worktree(tmp_path):
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    _fake_repo(tmp_path / "packed", sha, packed=True)
    assert read_head_commit(find_git_dir(tmp_path / "packed")) == sha
    detached = tmp_path / "detached" / ".git"
    detached.mkdir(parents=True)
    (detached / "HEAD").write_text(sha + "\n")
    assert read_head_commit(find_git_dir(tmp_path / "detached")) == sha
    unborn = tmp_path / "unborn" / ".git"
    unborn.mkdir(parents=True)
    (unborn / "HEAD").write_text("ref: refs/heads/main\n")
    assert read_head_commit(find_git_dir(tmp_path / "unborn")) is None
    # A linked worktree: .git is a file pointing at <main>/.git/worktrees/wt, branches live in <main>/.git.
    _fake_repo(tmp_path / "main", sha)
    wt_git = tmp_path / "main" / ".git" / "worktrees" / "wt"
    wt_git.mkdir(parents=True)
    (wt_git / "HEAD").write_text("ref: refs/heads/main\n")
    (wt_git / "commondir").write_text("../..\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {wt_git}\n")
    assert read_head_commit(find_git_dir(tmp_path / "wt")) == sha


def test_git_commit_matches_real_git(tmp_path):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    import os

    env = {**os.environ, **env}
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True, env=env)
    (tmp_path / "r" / "f").write_text("x")
    subprocess.run(["git", "-C", str(tmp_path / "r"), "add", "f"], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path / "r"), "commit", "-qm", "c"], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path / "r"), "pack-refs", "--all"], check=True, env=env)
    expected = subprocess.run(
        ["git", "-C", str(tmp_path / "r"), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert read_head_commit(find_git_dir(tmp_path / "r")) == expected
    assert git_commit_for(str(tmp_path / "r" / "f")) == expected
    # A git-ignored script (one inside a virtualenv, say) has no commit, as in MLflow.
    (tmp_path / "r" / ".gitignore").write_text("venv/\n")
    (tmp_path / "r" / "venv").mkdir()
    (tmp_path / "r" / "venv" / "tool.py").write_text("")
    assert git_commit_for(str(tmp_path / "r" / "venv" / "tool.py")) is None


def test_every_public_name_in_the_lazy_table_resolves(tmp_path):
    # A subprocess, so the import cost and side effects of every module stay out of this one.
    proc = _run_script(
        tmp_path,
        """
        import mltrail
        broken = []
        for name in sorted(set(mltrail._ATTRIBUTES) | set(mltrail._ALIASES)):
            try:
                getattr(mltrail, name)
            except Exception as err:
                broken.append(f"{name}: {err!r}")
        print(broken)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
