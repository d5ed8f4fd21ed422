"""``mltrail.projects.run``: run a project's entry point as a tracked run.

The run is created here (tags ``mlflow.source.type=PROJECT``,
``mlflow.project.entryPoint``, the source and its git commit; the resolved
parameters logged as params), then the entry point's command runs in a
subprocess whose environment carries ``MLFLOW_RUN_ID``/``MLTRAIL_RUN_ID`` and
the tracking URI, so the program's ``mlflow.start_run()`` resumes that run.
When the command exits, the run is marked FINISHED (exit code 0) or FAILED.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from mltrail.entities import Param, RunTag
from mltrail.exceptions import MltrailException, invalid
from mltrail.projects import env as envs
from mltrail.projects.spec import Project, load_project
from mltrail.tracking import context
from mltrail.tracking._default_tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_RUN_NAME,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    default_tags,
    git_commit_for,
)

SOURCE_TYPE = "PROJECT"
TAG_ENTRY_POINT = "mlflow.project.entryPoint"
TAG_ENV = "mlflow.project.env"
TAG_BACKEND = "mlflow.project.backend"
TAG_GIT_REPO_URL = "mlflow.source.git.repoURL"


class SubmittedRun:
    """A launched project run: ``run_id``, ``wait()``, ``get_status()`` and ``cancel()`` (MLflow's interface)."""

    def __init__(self, run_id: str, process: subprocess.Popen[bytes], client: Any, cleanup: Path | None) -> None:
        self._run_id = run_id
        self._process = process
        self._client = client
        self._cleanup = cleanup
        self._cancelled = False
        self._status: str | None = None
        # An Event, not Thread.join: a join interrupted by Ctrl+C can wrongly report the thread as finished.
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"project-run-{run_id[:8]}", daemon=True)
        self._watcher.start()

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def command_proc(self) -> subprocess.Popen[bytes]:
        return self._process

    def _watch(self) -> None:
        code = self._process.wait()
        status = "KILLED" if self._cancelled else ("FINISHED" if code == 0 else "FAILED")
        try:
            self._client.set_terminated(self._run_id, status)
        finally:
            self._status = status
            if self._cleanup is not None:
                shutil.rmtree(self._cleanup, ignore_errors=True)
            self._done.set()

    def wait(self) -> bool:
        """Block until the command exits and the run is marked; True when it succeeded."""
        self._done.wait()
        return self._status == "FINISHED"

    def get_status(self) -> str:
        """RUNNING until the command exits, then FINISHED, FAILED or KILLED."""
        return self._status or "RUNNING"

    def cancel(self) -> None:
        """Stop the command (its whole process group) and mark the run KILLED."""
        if self._process.poll() is None:
            self._cancelled = True
            _kill_group(self._process)
        self.wait()


def _fetch(uri: str, version: str | None) -> tuple[Path, Path | None, str]:
    """The local project folder for ``uri`` (``path#subdir``), a temp dir to delete, and the source name."""
    base, _, subdir = uri.partition("#")
    if base.startswith("file://"):
        base = base[len("file://") :]
    local = Path(base).expanduser()
    is_local = local.is_dir()
    if is_local and version is None:
        folder = local.resolve() / subdir if subdir else local.resolve()
        return folder, None, str(local.resolve())
    if is_local and not (local / ".git").exists():
        raise invalid(f"--version needs a git repository, but {base} is not one.")
    if not is_local and "://" not in base and not base.startswith("git@"):
        raise invalid(f"Project {uri!r} is neither a local folder nor a git URI.")
    # A git source (a local repository at another version, or a remote one): clone, then check out.
    tmp = Path(tempfile.mkdtemp(prefix="mltrail-project-"))
    source = str(local.resolve()) if is_local else base
    try:
        _git(["clone", "--quiet", source, str(tmp / "repo")])
        if version:
            _git(["checkout", "--quiet", version], cwd=tmp / "repo")
    except MltrailException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    folder = tmp / "repo" / subdir if subdir else tmp / "repo"
    return folder, tmp, source


def _git(args: list[str], cwd: Path | None = None) -> str:
    if shutil.which("git") is None:
        raise invalid("Running a project from git needs the git command, which is not installed.")
    proc = subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise invalid(f"git {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _git_info(folder: Path) -> dict[str, str]:
    tags: dict[str, str] = {}
    commit = git_commit_for(str(folder / "MLproject"))
    if commit:
        tags[MLFLOW_GIT_COMMIT] = commit
        if shutil.which("git"):
            proc = subprocess.run(["git", "-C", str(folder), "remote", "get-url", "origin"],
                                  capture_output=True, text=True)
            if proc.returncode == 0 and proc.stdout.strip():
                tags[TAG_GIT_REPO_URL] = tags["mlflow.gitRepoURL"] = proc.stdout.strip()
    return tags


def _experiment_id(client: Any, experiment_name: str | None, experiment_id: str | None) -> str:
    if experiment_name is not None and experiment_id is not None:
        raise invalid("Give either experiment_name or experiment_id, not both.")
    if experiment_id is not None:
        return client.get_experiment(str(experiment_id)).experiment_id
    if experiment_name is not None:
        found = client.get_experiment_by_name(experiment_name)
        return found.experiment_id if found else client.create_experiment(experiment_name)
    return context.experiment_id(client)


def run(
    uri: str,
    entry_point: str = "main",
    version: str | None = None,
    parameters: dict[str, Any] | None = None,
    docker_args: dict[str, Any] | None = None,
    experiment_name: str | None = None,
    experiment_id: str | None = None,
    backend: str = "local",
    backend_config: dict[str, Any] | None = None,
    storage_dir: str | None = None,
    synchronous: bool = True,
    run_id: str | None = None,
    run_name: str | None = None,
    env_manager: str | None = None,
    build_image: bool = False,
    docker_auth: dict[str, Any] | None = None,
) -> SubmittedRun:
    """Run ``entry_point`` of the project at ``uri`` (a folder, ``folder#subdir`` or a git repo) as a run.

    Raises ``MltrailException`` when the project, its parameters or the
    environment are invalid (nothing is logged then); with ``synchronous=True``
    also when the command fails (the run is then FAILED).

    Example::

        import mltrail

        submitted = mltrail.projects.run("examples/train", parameters={"alpha": 0.3})
        print(submitted.run_id, submitted.get_status())
    """
    if backend != "local":
        raise invalid(f"Unsupported backend {backend!r}: mltrail runs projects with the 'local' backend only.")
    with _CtrlC() as ctrl_c:
        return _run(uri, entry_point, version, parameters, experiment_name, experiment_id, synchronous, run_id,
                    run_name, env_manager, ctrl_c)


class _CtrlC:
    """While a synchronous run is in flight, Ctrl+C only sets a flag the waiting loop acts on.

    The command runs in its own session (so it can be stopped as a group), so Ctrl+C does not
    reach it; a KeyboardInterrupt raised at an arbitrary point (say, between starting the
    process and remembering it) could leave it running. Deferring the signal closes that window.
    """

    def __init__(self) -> None:
        self.hit = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, lambda *_: self.hit.set())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _run(uri: str, entry_point: str, version: str | None, parameters: dict[str, Any] | None,
         experiment_name: str | None, experiment_id: str | None, synchronous: bool, run_id: str | None,
         run_name: str | None, env_manager: str | None, ctrl_c: _CtrlC) -> SubmittedRun:
    folder, cleanup, source = _fetch(uri, version)
    try:
        project = load_project(folder)
        entry = project.entry_point(entry_point)
        declared, extra = entry.resolve(dict(parameters or {}))
        command = entry.command_line(declared, extra)
        manager = env_manager or envs.default_env_manager(project.env_type)
        env_vars = envs.prepare(folder, project.env_type, project.env_value, manager)
        if ctrl_c.hit.is_set():
            raise KeyboardInterrupt
        submitted = _launch(project, entry_point, source, declared, extra, command, env_vars, manager,
                            experiment_name, experiment_id, run_id, run_name, cleanup)
    except BaseException:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    if not synchronous:
        if ctrl_c.hit.is_set():
            submitted.cancel()
            raise KeyboardInterrupt
        return submitted
    while not submitted._done.wait(0.1):
        if ctrl_c.hit.is_set():
            submitted.cancel()  # stop the command's process group; the run becomes KILLED
            raise KeyboardInterrupt
    if ctrl_c.hit.is_set() and submitted.get_status() != "FINISHED":
        raise KeyboardInterrupt
    if submitted.get_status() != "FINISHED":
        raise MltrailException(
            f"Run (ID '{submitted.run_id}') of entry point {entry_point!r} failed "
            f"(exit code {submitted.command_proc.returncode})."
        )
    return submitted


def _launch(project: Project, entry_point: str, source: str, declared: dict[str, str], extra: dict[str, str],
            command: str, env_vars: dict[str, str], manager: str, experiment_name: str | None,
            experiment_id: str | None, run_id: str | None, run_name: str | None,
            cleanup: Path | None) -> SubmittedRun:
    import sys

    client = context.client()
    if run_id is not None:
        existing = client.get_run(run_id)
        exp_id = existing.info.experiment_id
        client.update_run(run_id, status="RUNNING")
    else:
        exp_id = _experiment_id(client, experiment_name, experiment_id)
    tags = {k: v for k, v in default_tags().items() if k != "mlflow.source.git.commit"}
    tags.update({
        MLFLOW_SOURCE_NAME: source,
        MLFLOW_SOURCE_TYPE: SOURCE_TYPE,
        TAG_ENTRY_POINT: entry_point,
        TAG_ENV: manager,
        TAG_BACKEND: "local",
        **_git_info(project.directory),
    })
    if run_name:
        tags[MLFLOW_RUN_NAME] = run_name
    if run_id is None:
        run_id = client.create_run(exp_id, tags=tags, run_name=run_name).info.run_id
    else:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    try:
        client.log_batch(run_id, params=[Param(k, v) for k, v in {**declared, **extra}.items()])
        env = dict(os.environ)
        env.update(env_vars)
        for var in ("MLFLOW_RUN_ID", "MLTRAIL_RUN_ID"):
            env[var] = run_id
        for var in ("MLFLOW_TRACKING_URI", "MLTRAIL_TRACKING_URI"):
            env[var] = client.tracking_uri
        for var in ("MLFLOW_EXPERIMENT_ID", "MLTRAIL_EXPERIMENT_ID"):
            env[var] = exp_id
        for var in ("MLFLOW_EXPERIMENT_NAME", "MLTRAIL_EXPERIMENT_NAME"):
            env.pop(var, None)
        print(f"=== Running command '{command}' in run with ID '{run_id}' ===", file=sys.stderr, flush=True)
        # Its own process group, so cancel() stops the command and everything it started.
        process = subprocess.Popen(["bash", "-c", command], cwd=project.directory, env=env, start_new_session=True)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    try:
        return SubmittedRun(run_id, process, client, cleanup)
    except BaseException:  # e.g. Ctrl+C right after the start: the command must not outlive us
        _kill_group(process)
        client.set_terminated(run_id, "KILLED")
        raise


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
