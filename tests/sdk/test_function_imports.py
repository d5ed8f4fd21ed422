"""Imports of mltrail modules inside functions are written down, each with its reason.

docs/DESIGN.md's rule: an import of an mltrail module sits inside a function only to keep an
optional dependency lazy, to keep an import cheap or to load a plugin on demand, never to dodge
an import cycle. This test parses every module under ``src/mltrail`` with :mod:`ast`, lists each
function-level import of an mltrail module (relative or absolute; ``if TYPE_CHECKING:`` blocks
excluded) and fails on any pair ``importing module -> imported module`` that
``function_imports_allowlist.txt`` does not list with a reason, and on audited entries that no
longer match an import (so the list only shrinks as imports are hoisted).
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import mltrail

SRC = Path(mltrail.__file__).resolve().parent.parent
ALLOWLIST = Path(__file__).with_name("function_imports_allowlist.txt")
CATEGORIES = ("optional dependency:", "import speed:", "plugin loaded on demand:", "layer exception:")
AUDITED = "[audited]"


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute module names an import statement names (``from x import y`` names ``x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    # ``from mltrail.tracking import fluent`` imports the submodule: name it, not the package.
    return sorted({f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names})


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def function_level_imports(source: str, module: str, is_package: bool) -> set[tuple[str, str]]:
    """``(module, imported mltrail module)`` for each import inside a function body of ``source``."""
    found: set[tuple[str, str]] = set()

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child, module, is_package):
                    if target == "mltrail" or target.startswith("mltrail."):
                        found.add((module, target))
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(ast.parse(source), False)
    return found


@functools.cache
def all_function_level_imports() -> frozenset[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted((SRC / "mltrail").rglob("*.py")):
        module, is_package = _module_name(path)
        found |= function_level_imports(path.read_text(encoding="utf-8"), module, is_package)
    return frozenset(found)


def read_allowlist() -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """The audited entries with their reasons, and the entries pending audit."""
    audited: dict[tuple[str, str], str] = {}
    pending: set[tuple[str, str]] = set()
    section = None
    for number, raw in enumerate(ALLOWLIST.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        importer, _, rest = line.partition(" -> ")
        target, _, reason = rest.partition(": ")
        assert importer and target, f"line {number}: expected '<module> -> <module>[: reason]': {raw!r}"
        if section == AUDITED:
            assert reason.startswith(CATEGORIES), (
                f"line {number}: the reason must start with one of {CATEGORIES}"
            )
            assert (importer, target) not in audited, f"line {number}: listed twice"
            audited[(importer, target)] = reason
        else:
            assert section and section.startswith("[pending audit"), f"line {number}: outside a section"
            pending.add((importer, target))
    return audited, pending


def test_the_scanner_sees_relative_absolute_and_nested_imports_but_not_type_checking():
    source = """
from typing import TYPE_CHECKING
import mltrail.entities
if TYPE_CHECKING:
    from mltrail.store import tracking
def f():
    import json
    from . import sibling, routing
    from ..store import paging
    if TYPE_CHECKING:
        from mltrail.tracking import client
    def g():
        import mltrail.tracking.fluent as fl
class C:
    async def m(self):
        from mltrail.exceptions import invalid
"""
    assert function_level_imports(source, "mltrail.server.app", False) == {
        ("mltrail.server.app", "mltrail.server"),
        ("mltrail.server.app", "mltrail.server.routing"),
        ("mltrail.server.app", "mltrail.store.paging"),
        ("mltrail.server.app", "mltrail.tracking.fluent"),
        ("mltrail.server.app", "mltrail.exceptions"),
    }
    assert function_level_imports("def f():\n    from .auth import rules\n", "mltrail.server", True) == {
        ("mltrail.server", "mltrail.server.auth.rules")
    }


def test_every_function_level_import_of_mltrail_has_a_written_reason():
    audited, pending = read_allowlist()
    unlisted = sorted(all_function_level_imports() - audited.keys() - pending)
    assert not unlisted, (
        "Imports of mltrail modules inside functions that function_imports_allowlist.txt does not "
        "list. Hoist them to the top of the module (fix a cycle by moving the shared helper down a "
        "layer), or, when one keeps an optional dependency lazy or an import cheap, add it to "
        "[audited] with its reason:\n" + "\n".join(f"{a} -> {b}" for a, b in unlisted)
    )


def test_audited_entries_still_match_an_import():
    audited, _ = read_allowlist()
    stale = sorted(audited.keys() - all_function_level_imports())
    assert not stale, "Entries whose import is gone (remove them):\n" + "\n".join(
        f"{a} -> {b}" for a, b in stale
    )


#: Packages every server has loaded once its app is built (``create_app``): importing them
#: again is a look-up in ``sys.modules``. (A ``sqlalchemy.dialects.<name>`` package is imported
#: only when the engine of that dialect, which loaded it, is in use.)
LOADED_WITH_THE_APP = ("starlette", "msgspec", "sqlalchemy")

#: Function-level imports in the server and the stores that need not hold the lock, and why.
OUTSIDE_THE_LOCK = {
    ("mltrail.server.app", "mltrail.server.auth"): "create_app, in the main thread, with basic-auth",
    ("mltrail.server.handlers.graphql_api", "graphql"): "after execute() loaded graphql-core under the lock",
    ("mltrail.server.handlers.graphql_api", "graphql.language"): "loaded with graphql, as above",
    ("mltrail.server.metrics", "prometheus_client"): "Metrics is built with the app, in the main thread",
    (
        "mltrail.server.otlp_grpc",
        "grpc",
    ): "`mltrail server` imports grpcio in the main thread before it starts",
    ("mltrail.store._transport", "certifi"): "one module that imports nothing of its own",
}


def _needs_the_lock(target: str) -> bool:
    top = target.partition(".")[0]
    return top not in sys.stdlib_module_names and top not in LOADED_WITH_THE_APP


def late_imports_outside_the_lock(source: str, module: str, is_package: bool) -> set[tuple[str, str]]:
    """``(module, imported module)`` for each function-level import of a module that is neither in
    the standard library nor loaded with the app, and not under ``with LAZY_IMPORTS:``."""
    found: set[tuple[str, str]] = set()

    def walk(node: ast.AST, in_function: bool, locked: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if in_function and not locked and isinstance(child, (ast.Import, ast.ImportFrom)):
                found.update((module, t) for t in _targets(child, module, is_package) if _needs_the_lock(t))
            holds = isinstance(child, ast.With) and any(
                ast.unparse(item.context_expr) == "LAZY_IMPORTS" for item in child.items
            )
            function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            walk(child, in_function or function, (locked and not function) or holds)

    walk(ast.parse(source), False, False)
    return found


def test_the_lock_scanner_sees_imports_outside_with_lazy_imports():
    source = """
import httpx
def f():
    import json
    import sqlalchemy as sa
    with LAZY_IMPORTS:
        from mltrail.store.sql import gateway
        import yaml
        def inner():
            from mltrail.store.sql import webhooks
    from mltrail.store.sql import traces
    import graphql
"""
    assert late_imports_outside_the_lock(source, "mltrail.server.x", False) == {
        ("mltrail.server.x", "mltrail.store.sql.webhooks"),
        ("mltrail.server.x", "mltrail.store.sql.traces"),
        ("mltrail.server.x", "graphql"),
    }


def test_late_imports_of_the_server_and_the_stores_hold_the_one_lock():
    """A late import in the server or a store may run first in any thread (the store-opening
    thread, a worker thread, the database thread, the webhook dispatcher, the scorer worker): it
    holds ``mltrail.lazy_imports.LAZY_IMPORTS``, so two threads never import at the same time."""
    found: set[tuple[str, str]] = set()
    for package in ("server", "store", "ui"):
        for path in sorted((SRC / "mltrail" / package).rglob("*.py")):
            module, is_package = _module_name(path)
            found |= late_imports_outside_the_lock(path.read_text(encoding="utf-8"), module, is_package)
    unlocked = sorted(found - OUTSIDE_THE_LOCK.keys())
    assert not unlocked, "Wrap these imports in `with LAZY_IMPORTS:`:\n" + "\n".join(
        f"{a} -> {b}" for a, b in unlocked
    )
    stale = sorted(OUTSIDE_THE_LOCK.keys() - found)
    assert not stale, f"OUTSIDE_THE_LOCK entries that no longer match an import (remove them): {stale}"
