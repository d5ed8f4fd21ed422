"""Sets up what the benchmark needs on a fresh machine and describes the machine.

The peers live in their own virtual environment, ``.bench-venv`` (gitignored), so
they never touch mltrail's: ``mlflow==3.17.2`` (the full package: ``mlflow server``
and MLflow's embedded SQLite store) and ``fasttrackml==0.6.0`` (a Go binary, ``fml``,
shipped inside the wheel). FastTrackML's wheel declares ``mlflow<3`` for its small
Python helper package, which we never use, so it is installed with ``--no-deps``
after MLflow; the server binary needs nothing from Python.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

from common import BENCH_BIN, BENCH_VENV, MIGRATE_BIN, MIGRATE_VENV, ROOT, VENV_BIN

MLFLOW_VERSION = "3.17.2"
FASTTRACKML_VERSION = "0.6.0"
# The maintained successor of mlflow-export-import, for the ``migrate`` section. It needs Python
# 3.12 or newer, so it gets its own venv (with the same MLflow) on the first such interpreter found.
MLFLOW_MIGRATION_VERSION = "1.2.2"


def _log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def _pip(args: list[str], bin_dir=BENCH_BIN) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
    )


def _installed_version(dist: str, bin_dir=BENCH_BIN) -> str | None:
    if not (bin_dir / "python").exists():
        return None
    out = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({dist!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_bench_venv() -> dict[str, str]:
    """Create ``.bench-venv`` with the pinned peers if needed.

    Returns problems by peer name (empty when both are ready); a failed install
    makes that peer's columns read "n/a" instead of stopping the run.
    """
    problems: dict[str, str] = {}
    if not (BENCH_BIN / "python").exists():
        _log(f"creating {BENCH_VENV.relative_to(ROOT)} for the peers (once; a minute or two)")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(BENCH_VENV)], check=True)
    if _installed_version("mlflow") != MLFLOW_VERSION:
        _log(f"installing mlflow=={MLFLOW_VERSION} into .bench-venv")
        res = _pip([f"mlflow=={MLFLOW_VERSION}"])
        if res.returncode != 0:
            problems["mlflow"] = f"pip install mlflow=={MLFLOW_VERSION} failed: {res.stderr.strip()[-300:]}"
    if _installed_version("fasttrackml") != FASTTRACKML_VERSION or not (BENCH_BIN / "fml").exists():
        _log(f"installing fasttrackml=={FASTTRACKML_VERSION} (--no-deps: only its fml binary is used)")
        res = _pip(["--no-deps", f"fasttrackml=={FASTTRACKML_VERSION}"])
        if res.returncode != 0:
            problems["fasttrackml"] = f"pip install fasttrackml failed: {res.stderr.strip()[-300:]}"
    return problems


def _python_312() -> str | None:
    """A Python 3.12+ interpreter: ``$BENCH_MIGRATE_PYTHON``, ``python3.13``/``3.12`` on PATH, or pyenv's."""
    found = [os.environ.get("BENCH_MIGRATE_PYTHON", "")]
    found += [shutil.which(f"python3.{minor}") or "" for minor in (14, 13, 12)]
    pyenv = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(pyenv):
        for name in sorted(os.listdir(pyenv), key=lambda v: [int(x) for x in v.split(".") if x.isdigit()]):
            if name.startswith("3.") and name.split(".")[1].isdigit() and int(name.split(".")[1]) >= 12:
                found.append(os.path.join(pyenv, name, "bin", "python3"))
    return next((p for p in found if p and os.access(p, os.X_OK) and _runs(p)), None)


def _runs(python: str) -> bool:
    """Whether ``python`` starts: a pyenv shim for a version pyenv has not made global exits 127."""
    return subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0


def ensure_migrate_venv() -> str | None:
    """Create ``.bench-venv-migrate`` (mlflow + mlflow-migration) if needed; the problem, or None."""
    if _installed_version("mlflow-migration", MIGRATE_BIN) == MLFLOW_MIGRATION_VERSION and (
        _installed_version("mlflow", MIGRATE_BIN) == MLFLOW_VERSION
    ):
        return None
    python = _python_312()
    if python is None:
        return "mlflow-migration needs Python >= 3.12; none found (set BENCH_MIGRATE_PYTHON)"
    if not (MIGRATE_BIN / "python").exists():
        _log(f"creating {MIGRATE_VENV.relative_to(ROOT)} with {python} (once; a minute or two)")
        subprocess.run([python, "-m", "venv", "--clear", str(MIGRATE_VENV)], check=True)
    pins = [f"mlflow=={MLFLOW_VERSION}", f"mlflow-migration=={MLFLOW_MIGRATION_VERSION}"]
    _log(f"installing {' '.join(pins)} into {MIGRATE_VENV.name}")
    if (VENV_BIN / "uv").exists():  # much faster than pip for MLflow's many dependencies
        python = str(MIGRATE_BIN / "python")
        # bytecode compiled now: each of `mlflow server`'s workers would compile its imports at every start
        cmd = [
            str(VENV_BIN / "uv"),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            python,
            *pins,
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
    else:
        res = _pip(pins, MIGRATE_BIN)
    if res.returncode != 0:
        return f"installing {' '.join(pins)} failed: {res.stderr.strip()[-300:]}"
    return None


def ensure_wrk() -> str | None:
    """Path of ``wrk``, installing Debian's package when we are root; None if unavailable."""
    return ensure_debian_tool("wrk", "wrk", "the capacity section")


def ensure_debian_tool(binary: str, package: str, needed_for: str) -> str | None:
    """Path of ``binary``, installing Debian's ``package`` when we are root; None if unavailable."""
    path = shutil.which(binary)
    if path:
        return path
    if shutil.which("apt-get") and os.geteuid() == 0:
        _log(f"installing {package} from Debian (apt-get install -y {package})")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", package],
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        return shutil.which(binary)
    _log(f"{binary} not found: install it with `sudo apt-get install -y {package}` for {needed_for}")
    return None


def machine_info() -> dict[str, str | int]:
    """nproc, CPU model, RAM and OS: printed with every result so numbers have context."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count() or 0,
        "cpu": cpu,
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        # Other work on a shared machine moves absolute numbers: say how busy it was.
        "load_start": round(os.getloadavg()[0], 1),
    }
