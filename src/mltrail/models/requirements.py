"""Environment files of a model: ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``.

Requirements are inferred from what the model's code imports: the byte code of
the model class (its methods, and functions they reference) is scanned for
``import`` statements and module-level globals, each top-level module is mapped
to its installed distribution, and pinned to the installed version. This is
cheaper than MLflow's approach (loading the model in a subprocess) and catches
imports done inside ``predict``, like ``import openai`` in the brief's example.
"""

from __future__ import annotations

import dis
import sys
import types
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.version import __version__

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"

# Modules whose distribution must never be a requirement (ours is named separately).
_SKIP = {"mltrail", "mlflow", "__main__", "builtins", "pytest", "_pytest"}


@lru_cache(maxsize=1)
def _module_to_dists() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def pinned(dist: str) -> str:
    """``name==installed_version`` (or just the name when it is not installed)."""
    v = _version(dist)
    return f"{dist}=={v}" if v else dist


def _code_objects(obj: Any, seen: set[int]) -> Iterable[tuple[types.CodeType, dict[str, Any]]]:
    """Code objects of a function/class/instance, with the globals they run in."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        stack = [obj.__code__]
        while stack:
            code = stack.pop()
            yield code, obj.__globals__
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        return
    cls = obj if isinstance(obj, type) else type(obj)
    for klass in cls.__mro__:
        if klass.__module__ in ("builtins",) or klass.__module__.split(".")[0] in _SKIP - {"__main__"}:
            continue
        for value in vars(klass).values():
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if isinstance(value, types.FunctionType):
                yield from _code_objects(value, seen)


def imported_modules(obj: Any) -> set[str]:
    """Top-level module names that ``obj``'s code imports or references."""
    found: set[str] = set()
    seen: set[int] = set()
    pending = [obj]
    while pending:
        for code, globs in _code_objects(pending.pop(), seen):
            for ins in dis.get_instructions(code):
                if ins.opname == "IMPORT_NAME" and ins.argval:
                    found.add(str(ins.argval).split(".")[0])
                elif ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                    value = globs.get(ins.argval)
                    if isinstance(value, types.ModuleType):
                        found.add(value.__name__.split(".")[0])
                    elif value is not None and hasattr(value, "__module__") and value.__module__:
                        found.add(str(value.__module__).split(".")[0])
                        # Helper functions defined beside the model: follow them too.
                        if isinstance(value, types.FunctionType) and id(value) not in seen:
                            pending.append(value)
    return found


def modules_to_requirements(modules: Iterable[str]) -> list[str]:
    """Pinned distributions for third-party modules (stdlib and our own are left out)."""
    mapping = _module_to_dists()
    reqs: list[str] = []
    for mod in sorted(set(modules)):
        if mod in _SKIP or mod in sys.stdlib_module_names or mod.startswith("_"):
            continue
        for dist in mapping.get(mod, []):
            if (
                dist.lower() not in ("mltrail", "mlflow", "mlflow-skinny")
                and (req := pinned(dist)) not in reqs
            ):
                reqs.append(req)
    return reqs


def mltrail_requirement() -> str:
    """The requirement line for mltrail itself."""
    return f"mltrail=={__version__}"


def infer_requirements(objs: Iterable[Any], base: Iterable[str] = ()) -> list[str]:
    """mltrail, ``base`` distributions and what ``objs`` import, all pinned."""
    modules: set[str] = set()
    for obj in objs:
        if obj is not None:
            modules |= imported_modules(obj)
    reqs = [mltrail_requirement()]
    for dist in base:
        if (req := pinned(dist)) not in reqs:
            reqs.append(req)
    for req in modules_to_requirements(modules):
        if req.split("==")[0].lower() not in {r.split("==")[0].lower() for r in reqs}:
            reqs.append(req)
    return reqs


def _read_requirement_arg(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        p = Path(value)
        if p.is_file():
            return [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return [value]
    return [str(v) for v in value]


def resolve_requirements(
    inferred: list[str],
    pip_requirements: str | list[str] | None,
    extra_pip_requirements: str | list[str] | None,
) -> list[str]:
    """MLflow's rule: explicit ``pip_requirements`` replace the inferred ones; extras add to them."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise invalid("Only one of `pip_requirements` and `extra_pip_requirements` can be specified")
    if pip_requirements is not None:
        return _read_requirement_arg(pip_requirements)
    reqs = list(inferred)
    for extra in _read_requirement_arg(extra_pip_requirements):
        if extra not in reqs:
            reqs.append(extra)
    return reqs


def write_environment(model_dir: Path, requirements: list[str]) -> dict[str, str]:
    """Write the three environment files; return the flavor's ``env`` entry."""
    import yaml

    py = ".".join(map(str, sys.version_info[:3]))
    (model_dir / REQUIREMENTS_FILE).write_text("\n".join(requirements), encoding="utf-8")
    pip_version = _version("pip")
    python_env = {
        "python": py,
        "build_dependencies": [pinned("pip") if pip_version else "pip", pinned("setuptools"), "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (model_dir / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False), encoding="utf-8")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={py}",
            f"pip<={pip_version}" if pip_version else "pip",
            {"pip": requirements},
        ],
        "name": "mlflow-env",
    }
    (model_dir / CONDA_ENV_FILE).write_text(yaml.safe_dump(conda, sort_keys=False), encoding="utf-8")
    return {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}


def read_requirements(model_dir: Path) -> list[str]:
    p = model_dir / REQUIREMENTS_FILE
    if not p.is_file():
        return []
    return [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
