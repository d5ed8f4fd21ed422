"""docs/DESIGN.md rule 5: no package reaches into another package's private names.

What two packages share is public inside mltrail (``entities.timestamps.ms_to_rfc3339``, not
``entities.trace._ms_to_rfc3339``). The test parses every module under ``src/mltrail`` and fails
on ``from mltrail.<a>… import _name`` written in a module outside package ``<a>``, where
``_name`` is not a submodule. Underscore modules (``tracing._manager``) are mltrail-internal
modules, not names, and stay allowed; so does the root package's ``_exported_by`` helper, which
every package's ``__all__`` is built with.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mltrail

SRC = Path(mltrail.__file__).resolve().parent.parent
ROOT_HELPERS = {("mltrail", "_exported_by")}


def _package(module: str) -> str:
    """The first-level package of an mltrail module (``mltrail.store.sql.x`` -> ``store``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(src: Path, module: str, name: str) -> bool:
    base = src.joinpath(*module.split("."))
    return (base / f"{name}.py").exists() or (base / name / "__init__.py").exists()


def private_reaches(src: Path = SRC) -> list[str]:
    """Every ``path:line: module -> _name`` import of another package's private name under ``src``."""
    found = []
    for path in sorted((src / "mltrail").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        importer = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if not node.module.startswith("mltrail") or _package(node.module) == _package(importer):
                continue
            for alias in node.names:
                name = alias.name
                if not name.startswith("_") or name.startswith("__") or (node.module, name) in ROOT_HELPERS:
                    continue
                if not _is_module(src, node.module, name):
                    found.append(f"{path.relative_to(src)}:{node.lineno}: {node.module} -> {name}")
    return found


def test_no_package_imports_another_packages_private_names():
    reaches = private_reaches()
    assert not reaches, (
        "Private names imported across packages (make the shared name public in its module, or move "
        "it to a module both import):\n" + "\n".join(reaches)
    )


def test_the_check_flags_a_private_name_and_nothing_else(tmp_path):
    """On a small tree: a private name across packages is flagged; a private module, a name inside
    its own package and the root helper are not (so the test above cannot pass vacuously)."""
    files = {
        "mltrail/__init__.py": "def _exported_by(m):\n    return []\n",
        "mltrail/a/__init__.py": "",
        "mltrail/a/_impl.py": "_secret = 1\n",
        "mltrail/a/user.py": "from mltrail.a._impl import _secret\n",
        "mltrail/b/__init__.py": "from mltrail import _exported_by\nfrom mltrail.a import _impl\n",
        "mltrail/b/reach.py": "from mltrail.a._impl import _secret, __doc__\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert private_reaches(tmp_path) == ["mltrail/b/reach.py:1: mltrail.a._impl -> _secret"]
