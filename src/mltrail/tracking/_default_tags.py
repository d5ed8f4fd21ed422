"""System tags every run started with ``start_run`` gets, with MLflow's names.

``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.type`` (LOCAL) and,
when the program lives in a git work tree, ``mlflow.source.git.commit``. The
commit is read from ``.git`` directly (HEAD, loose refs, packed-refs,
worktrees) rather than by spawning ``git``: no subprocess, no dependency, and
it works where git is not installed.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
import sys
from pathlib import Path

MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_RUN_NOTE = "mlflow.note.content"

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no USER/LOGNAME variables
        return "unknown"


def _source_name() -> str:
    main = sys.argv[0] if sys.argv else ""
    return main or "<console>"


def find_git_dir(start: Path) -> Path | None:
    """The ``.git`` directory of the work tree containing ``start`` (a ``.git`` file is followed)."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


def read_head_commit(git_dir: Path) -> str | None:
    """The commit HEAD points at, or ``None`` (unborn branch, unreadable repository)."""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head if _SHA.match(head) else None
    ref = head[len("ref:") :].strip()
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():  # a linked worktree keeps branches in the main repository
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    for base in dict.fromkeys((git_dir, common)):
        loose = base / ref
        if loose.is_file():
            sha = loose.read_text(encoding="utf-8").strip()
            return sha if _SHA.match(sha) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _SHA.match(sha):
                return sha
    return None


def git_commit_for(path: str) -> str | None:
    """The HEAD commit of the work tree holding ``path``, if it is in one."""
    if not path or not os.path.exists(path):
        return None
    start = Path(path).resolve()
    if start.is_file():
        start = start.parent
    try:
        git_dir = find_git_dir(start)
        if git_dir is None or _git_ignored(str(Path(path).resolve())):
            return None
        return read_head_commit(git_dir)
    except OSError:
        return None


@functools.lru_cache(maxsize=64)
def _git_ignored(path: str) -> bool:
    """Whether git ignores ``path`` (a script in a virtualenv, say): such code has no commit.

    MLflow skips ignored files the same way. Asked of ``git check-ignore`` once per
    path and process; without a ``git`` binary nothing counts as ignored.
    """
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return False
    try:
        done = subprocess.run(
            [git, "check-ignore", "-q", path],
            cwd=os.path.dirname(path) or ".",
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=1)
def _process_tags() -> tuple[tuple[str, str], ...]:
    # These cannot change during a process (argv, user), so they are computed once.
    tags = {
        MLFLOW_USER: _user(),
        MLFLOW_SOURCE_NAME: _source_name(),
        MLFLOW_SOURCE_TYPE: "LOCAL",
    }
    return tuple(tags.items())


def default_tags() -> dict[str, str]:
    """The system tags for a new run (user-given tags are applied on top by the caller)."""
    tags = dict(_process_tags())
    # The commit can move while a long-lived process (a notebook) runs, so it is read each time.
    commit = git_commit_for(sys.argv[0] if sys.argv else "")
    if commit:
        tags[MLFLOW_GIT_COMMIT] = commit
    return tags
