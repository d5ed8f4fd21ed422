"""Isolated, cached Python environments for ``env_manager`` ``uv``, ``virtualenv`` and ``conda``.

Used by ``mltrail models serve|predict --env-manager``, ``mltrail run`` and
``mltrail.pyfunc.spark_udf(env_manager=...)``; it sits in ``models`` so that the
SDK (``pyfunc``) and the serving and project layers above it share one builder.

The environment is built from the model's ``requirements.txt`` plus mltrail
itself (with its serving extra), and cached under
``$MLTRAIL_ENV_ROOT`` (default ``~/.cache/mltrail/envs``) by a hash of the
Python version, the requirements and the mltrail version, so the second
``serve`` of the same model starts at once. A build happens in a temporary
folder that is renamed into place only when it succeeded: a failed build
leaves nothing behind. conda environments cannot be moved once built (their
prefix is written into their files), so they are built in place under a file
lock and count as ready only once their marker file is written.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mltrail
from mltrail.exceptions import invalid
from mltrail.models.requirements import read_requirements
from mltrail.version import __version__

ENV_ROOT_VAR = "MLTRAIL_ENV_ROOT"
_READY = ".mltrail-env-ready"


def env_root() -> Path:
    return Path(os.environ.get(ENV_ROOT_VAR) or Path.home() / ".cache" / "mltrail" / "envs")


def _mltrail_spec(extras: tuple[str, ...] = ()) -> str:
    """How to install mltrail into the env: this source tree when we run from one, else the release."""
    wanted = ",".join(("server", "pandas", *extras))
    src = Path(mltrail.__file__).resolve().parents[2]
    if (src / "pyproject.toml").is_file():
        return f"mltrail[{wanted}] @ {src.as_uri()}"
    return f"mltrail[{wanted}]=={__version__}"


def model_requirements(model_dir: Path) -> list[str]:
    """The model's requirements minus mltrail itself (installed separately).

    Models saved by mlflow pin ``mlflow==X``; only its Python package is needed to
    unpickle them, so the much smaller ``mlflow-skinny==X`` is installed instead.
    """
    import re

    out = []
    for req in read_requirements(model_dir):
        norm = req.lower().replace("_", "-")
        if norm.startswith("mltrail"):
            continue
        m = re.match(r"^mlflow(\[[^\]]*\])?(\s*[=<>!~].*)?$", norm)
        out.append(f"mlflow-skinny{(m.group(2) or '').strip()}" if m else req)
    return out


def env_key(requirements: list[str], manager: str, extras: tuple[str, ...] = ()) -> str:
    """The cache key of an environment: manager, Python, requirements, mltrail and its extras."""
    payload = json.dumps(
        [manager, sys.version_info[:2], sorted(requirements), __version__, _mltrail_spec(extras)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise invalid("--env-manager uv needs the 'uv' tool: pip install uv")


def conda_binary() -> str:
    """The ``conda`` executable (``$MLFLOW_CONDA_HOME/bin/conda``, ``$CONDA_EXE`` or on PATH), or a clear error."""
    home = os.environ.get("MLFLOW_CONDA_HOME")
    candidates = [str(Path(home) / "bin" / "conda")] if home else []
    candidates += [os.environ.get("CONDA_EXE") or "", shutil.which("conda") or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise invalid(
        "env_manager 'conda' needs conda, which is not installed here (no conda on PATH, $CONDA_EXE "
        "or $MLFLOW_CONDA_HOME/bin). Install Miniconda/Miniforge, or use env_manager 'uv' or 'virtualenv' "
        "(built from the model's requirements.txt with PyPI only)."
    )


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"`{' '.join(cmd[:3])} ...` failed:\n" + "\n".join(tail))


def prepare_environment(model_dir: Path, manager: str, extras: tuple[str, ...] = ()) -> str:
    """The Python executable of a ready environment for the model (built on first use).

    ``extras`` are mltrail extras the environment needs beyond serving (``("mlserver",)``).
    """
    if manager not in ("uv", "virtualenv", "conda"):
        raise invalid(f"Unsupported env manager '{manager}': use local, uv, virtualenv or conda")
    conda = conda_binary() if manager == "conda" else None
    reqs = model_requirements(model_dir)
    target = env_root() / f"{manager}-{env_key(reqs, manager, extras)}"
    python = target / "bin" / "python"
    if (target / _READY).is_file():
        return str(python)
    target.parent.mkdir(parents=True, exist_ok=True)
    if conda is not None:
        _build_conda_env(conda, target, reqs, extras)
        return str(python)
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        req_file = build / "requirements.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        if manager == "uv":
            # No --compile-bytecode: compiling every installed file (pandas, scikit-learn, SciPy, ...)
            # took ~26 s of CPU here against 0.3 s for the install itself; Python compiles the modules
            # a model really imports on first use (a few seconds) and keeps them in the cached env.
            uv = _uv_binary()
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(build / "env")])
            _run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    str(build / "env" / "bin" / "python"),
                    "-r",
                    str(req_file),
                    _mltrail_spec(extras),
                ]
            )
        else:
            _run([sys.executable, "-m", "venv", str(build / "env")])
            _run(
                [
                    str(build / "env" / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "-r",
                    str(req_file),
                    _mltrail_spec(extras),
                ]
            )
        (build / "env" / _READY).write_text(json.dumps({"requirements": reqs}))
        # Rename the finished env into place (atomic on one file system); if another process
        # won the race, use theirs. Console scripts keep the build path in their shebang, but
        # we only ever run `python -m mltrail`, which does not care.
        try:
            (build / "env").rename(target)
        except OSError:
            if not (target / _READY).is_file():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return str(python)


def _build_conda_env(conda: str, target: Path, reqs: list[str], extras: tuple[str, ...]) -> None:
    """Build a conda env in place at ``target`` (this Python's version, then pip), once across processes."""
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits here, then finds the env ready
        if (target / _READY).is_file():
            return
        shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
        try:
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            _run([conda, "create", "--yes", "--quiet", "--prefix", str(target), f"python={version}", "pip"])
            req_file = target / "mltrail-requirements.txt"
            req_file.write_text("\n".join(reqs) + "\n")
            pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            _run([*pip, "-r", str(req_file), _mltrail_spec(extras)])
            (target / _READY).write_text(json.dumps({"requirements": reqs}))
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
