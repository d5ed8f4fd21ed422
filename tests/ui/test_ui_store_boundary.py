"""The web UI reads through the TrackingStore interface only, never the SQL schema or engine.

(The SQL store answers the UI's fast reads as store methods; a REST-backed store serves them too.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import mltrail.ui

UI_DIR = Path(mltrail.ui.__file__).parent


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_ui_package_imports_nothing_from_the_sql_store():
    modules = sorted(UI_DIR.rglob("*.py"))
    assert len(modules) > 5
    offenders = {
        str(p.relative_to(UI_DIR)): [n for n in _imports(p) if n.startswith(("mltrail.store.sql", "sqlalchemy"))]
        for p in modules
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ui_package_does_not_look_for_an_engine_on_the_store():
    for path in sorted(UI_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("engine", "_engine", "db"), f"{path.name}:{node.lineno} .{node.attr}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in ("engine", "_engine"), f"{path.name}:{node.lineno} {node.value!r}"
