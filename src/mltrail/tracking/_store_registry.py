"""The one place that chooses a tracking store for a URI.

==========================================  ===========================================
URI                                         store
==========================================  ===========================================
``None`` (nothing configured)               ``sqlite:///<cwd>/mltrail.db``, artifacts in
                                            ``<cwd>/mltrail-artifacts``
``sqlite:///path.db``, ``postgresql://…``,   :class:`~mltrail.store.sql.tracking.SqlTrackingStore`,
``mysql://…`` (and ``+driver`` variants)     artifacts in ``<cwd>/mltrail-artifacts``
``http(s)://host:port``                     :class:`~mltrail.store.rest.RestTrackingStore`
a folder (``file:///dir`` or ``/dir``)      ``sqlite:///<dir>/mltrail.db``, artifacts in
                                            ``<dir>/mltrail-artifacts`` (MLflow's file-store
                                            folders become a SQLite store beside them)
a ``*.db`` / ``*.sqlite`` file path         that SQLite file, artifacts beside it
==========================================  ===========================================

Stores are cached, one per (database, artifact root), so every client and the
fluent API share connections. Store modules are imported only here, on first
use, which keeps ``import mltrail`` light.

Example::

    store = get_tracking_store("sqlite:////tmp/demo.db")
    exp_id = store.create_experiment("demo")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from mltrail.exceptions import invalid
from mltrail.tracking._uris import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, resolve_tracking_uri

if TYPE_CHECKING:
    from mltrail.store.tracking import TrackingStore

_SQL_SCHEMES = {"sqlite", "postgresql", "postgres", "mysql", "mariadb"}
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")

S = TypeVar("S")
_stores: dict[tuple[str, str, str], TrackingStore] = {}
_lock = threading.Lock()


class StoreCache(Generic[S]):
    """One store per ``(kind, target)`` of a resolved URI, built once by ``build(kind, target, uri)``.

    The registry, trace and logged-model stores each keep one of these beside the
    tracking store's own cache, so every kind of store is shared per database or server.
    """

    def __init__(self, build: Callable[[str, str, str], S]) -> None:
        self._build = build
        self._stores: dict[tuple[str, str], S] = {}
        self._lock = threading.Lock()

    def get(self, uri: str) -> S:
        """The store for the resolved ``uri`` (built on first use, then shared)."""
        kind, target, _root = plan_store(uri)
        key = (kind, target)
        store = self._stores.get(key)
        if store is None:
            with self._lock:
                store = self._stores.get(key)
                if store is None:
                    store = self._build(kind, target, uri)
                    self._stores[key] = store
        return store


def _sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


def plan_store(uri: str) -> tuple[str, str, str]:
    """``(kind, target, artifact_root)`` for a resolved URI; kind is ``"sql"`` or ``"rest"``.

    Relative SQLite paths are made absolute so a later ``chdir`` cannot point
    a cached store at another file.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    base = scheme.split("+", 1)[0]
    if scheme in ("http", "https"):
        return "rest", uri.rstrip("/"), ""
    if base in _SQL_SCHEMES:
        root = str(Path.cwd() / DEFAULT_ARTIFACTS_DIR)
        if base == "sqlite":
            # sqlite:///rel.db -> path "/rel.db"; sqlite:////abs.db -> "//abs.db"
            db_path = uri.split("://", 1)[1][1:] if "://" in uri else ""
            if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
                path, sep, query = db_path.partition("?")
                absolute = Path(path).expanduser().absolute()
                return "sql", f"{scheme}:///{absolute}{sep}{query}", root
        return "sql", uri, root
    if scheme == "file":
        return _plan_local(Path(unquote(parts.path)))
    if not scheme:
        return _plan_local(Path(uri).expanduser().absolute())
    raise invalid(
        f"Unsupported tracking URI {uri!r}: use sqlite:///path.db, postgresql://..., mysql://..., "
        "http(s)://host:port, or a local folder"
    )


def _plan_local(path: Path) -> tuple[str, str, str]:
    """A local folder holds ``mltrail.db`` and ``mltrail-artifacts``; a ``*.db`` file is used as is."""
    path = path.expanduser().absolute()  # ``file:./runs`` must not follow a later chdir
    if path.suffix.lower() in _SQLITE_SUFFIXES and not path.is_dir():
        return "sql", _sqlite_uri(path), str(path.parent / DEFAULT_ARTIFACTS_DIR)
    return "sql", _sqlite_uri(path / DEFAULT_DB_FILE), str(path / DEFAULT_ARTIFACTS_DIR)


def _build(kind: str, target: str, root: str) -> TrackingStore:
    if kind == "rest":
        from mltrail.store.rest import RestTrackingStore

        return RestTrackingStore(target)
    from mltrail.store.sql.tracking import SqlTrackingStore

    return SqlTrackingStore(target, root)


def get_tracking_store(uri: str | os.PathLike[str] | None = None) -> TrackingStore:
    """The (cached) tracking store for ``uri``, or for the URI in effect when ``None``.

    Raises ``INVALID_PARAMETER_VALUE`` for a URI no store understands.
    """
    key = plan_store(resolve_tracking_uri(uri))
    store = _stores.get(key)
    if store is not None:
        return store
    with _lock:  # build once even when threads race on first use
        store = _stores.get(key)
        if store is None:
            store = _build(*key)
            _stores[key] = store
    return store


def cached_stores() -> list[TrackingStore]:
    """Every store built so far (what ``atexit`` flushes)."""
    return list(_stores.values())
