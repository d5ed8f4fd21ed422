"""Environments a project's command runs in: ``local`` (this interpreter) or an isolated ``virtualenv``/``uv`` env.

Isolated envs are built by :func:`mltrail.models.envs.prepare_environment`
(the one place that builds, caches and atomically publishes environments) from
the project's ``python_env.yaml`` dependencies.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.envs import prepare_environment

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")


def default_env_manager(env_type: str | None) -> str:
    """MLflow's choice: ``virtualenv`` for a ``python_env`` project, ``conda`` for ``conda_env``, else local."""
    return {"python_env": "virtualenv", "conda_env": "conda"}.get(env_type or "", "local")


def python_env_requirements(project_dir: Path, env_file: Any) -> list[str]:
    """The pip requirements of a ``python_env.yaml`` (``-r file`` lines inlined, relative to the project)."""
    import yaml

    if not isinstance(env_file, str):
        raise invalid("python_env in MLproject must be the path of a YAML file, e.g. python_env.yaml.")
    path = project_dir / env_file
    if not path.is_file():
        raise invalid(f"The project's python_env file {env_file!r} does not exist in {project_dir}.")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict):
        raise invalid(f"{path} must be a YAML mapping with 'python' and 'dependencies'.")
    requirements: list[str] = []
    for item in list(spec.get("build_dependencies") or []) + list(spec.get("dependencies") or []):
        item = str(item).strip()
        if item.startswith("-r"):
            included = (project_dir / item[2:].strip()).resolve()
            if not included.is_file():
                raise invalid(f"{path}: requirements file {included} does not exist.")
            requirements += [
                ln.strip() for ln in included.read_text().splitlines() if ln.strip() and not ln.startswith("#")
            ]
        elif item:
            requirements.append(item)
    # pip/setuptools/wheel come with every env; mltrail is installed by the env builder itself.
    skip = ("pip", "setuptools", "wheel", "mltrail")
    return [r for r in requirements if r.lower().replace("_", "-").split("=")[0].split("<")[0].strip() not in skip]


def prepare(project_dir: Path, env_type: str | None, env_value: Any, manager: str) -> dict[str, str]:
    """Environment variables that make ``python`` in the command resolve to the right interpreter."""
    if manager not in ENV_MANAGERS:
        raise invalid(f"Unknown env manager {manager!r}: use one of local, virtualenv, uv.")
    if env_type == "docker_env":
        raise invalid(
            "This project declares docker_env: mltrail run does not run Docker projects; "
            "build the image yourself or declare a python_env instead."
        )
    if manager == "conda":
        raise invalid(
            "mltrail run does not manage conda environments: pass --env-manager local to use the current "
            "environment, or declare a python_env.yaml and use --env-manager virtualenv or uv."
        )
    if manager == "local":
        bin_dir = str(Path(sys.executable).parent)
        return {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    requirements = python_env_requirements(project_dir, env_value) if env_type == "python_env" else []
    with tempfile.TemporaryDirectory(prefix="mltrail-project-env-") as tmp:
        (Path(tmp) / "requirements.txt").write_text("\n".join(requirements) + "\n")
        try:
            python = prepare_environment(Path(tmp), manager)
        except RuntimeError as err:
            raise invalid(f"Could not build the {manager} environment of the project: {err}") from None
    bin_dir = str(Path(python).parent)
    return {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "VIRTUAL_ENV": str(Path(bin_dir).parent)}
