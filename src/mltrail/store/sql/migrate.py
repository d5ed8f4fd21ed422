"""Bring a database to the current schema with alembic, driven from code.

``upgrade_db(uri)`` is what ``mltrail db upgrade URI`` runs. ``ensure_schema``
is what the stores call when they open a database: an empty database is built
at head, one that is behind is upgraded, and one already at head costs a
single ``SELECT`` once per engine per process. An empty SQLite file is built
from one prepared script (:mod:`mltrail.store.sql.head_script`, the dump of
what the migrations produce) without loading alembic; ``python -m
mltrail.store.sql.migrate --write-sqlite-script`` regenerates that script after
a new migration.

Concurrent first opens are safe: on SQLite the migration runs inside one
``BEGIN IMMEDIATE`` transaction (SQLite DDL is transactional), so a second
process waits and then finds the schema at head; PostgreSQL and MySQL take a
named lock around the upgrade.

Example::

    upgrade_db("postgresql://postgres@127.0.0.1/mltrail")
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from mltrail.exceptions import INVALID_STATE, MltrailException
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.store.sql.engine import create_sql_engine, read_connection
from mltrail.store.sql.head_script import HEADER, NOTE, SCRIPT_PATH, create_from_script

if TYPE_CHECKING:
    import sqlalchemy

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_NAME = "mltrail_migrate"
_PG_LOCK_ID = 7_310_942_001  # any constant: identifies mltrail's migration lock

_ready: set[int] = set()
_ready_lock = threading.Lock()


def _config(connection: sqlalchemy.Connection | None = None):
    with LAZY_IMPORTS:  # alembic loads in the store-opening thread
        from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision shipped with this version of mltrail.

    Read from the ``revision``/``down_revision`` lines of the migration files
    rather than through alembic: importing alembic costs ~120 ms, and every
    process that opens a store asks this once. Alembic runs only to migrate.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"mltrail's migrations must form one linear chain; heads found: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: sqlalchemy.Engine) -> str | None:
    """The revision a database is at, or ``None`` for a database mltrail never touched."""
    import sqlalchemy as sa

    with read_connection(engine) as conn:
        try:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return None


def upgrade_db(uri: str) -> str:
    """Create or upgrade the schema of the database at ``uri``; returns the revision reached."""
    engine = create_sql_engine(uri)
    _upgrade(engine)
    _mark_ready(engine)
    return head_revision()


def ensure_schema(engine: sqlalchemy.Engine) -> None:
    """Make sure ``engine``'s database is at head; cheap after the first call."""
    if id(engine) in _ready:
        return
    revision = current_revision(engine)
    if revision != head_revision() and not (revision is None and create_from_script(engine, head_revision())):
        _upgrade(engine)
    _mark_ready(engine)


def _mark_ready(engine: sqlalchemy.Engine) -> None:
    with _ready_lock:
        _ready.add(id(engine))


def _upgrade(engine: sqlalchemy.Engine) -> None:
    with LAZY_IMPORTS:
        from alembic.util.exc import CommandError

    try:
        _run_upgrade(engine)
    except CommandError as err:
        # Typically a database migrated by a newer mltrail: say so instead of a traceback.
        raise MltrailException(
            f"Cannot bring the database to schema revision {head_revision()}: {err}. If a newer "
            "mltrail created this database, upgrade mltrail.",
            error_code=INVALID_STATE,
        ) from err


def _run_upgrade(engine: sqlalchemy.Engine) -> None:
    import sqlalchemy as sa

    with LAZY_IMPORTS:
        from alembic import command

    backend = engine.dialect.name
    if backend == "mysql":
        # MySQL DDL commits implicitly, so a transaction cannot serialize migrators: a named lock does.
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT GET_LOCK(:n, 300)"), {"n": _LOCK_NAME})
            conn.commit()
            try:
                command.upgrade(_config(conn), "head")
                conn.commit()
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
                conn.commit()
        return
    if backend == "sqlite":
        _run_sqlite_upgrade(engine)
        return
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        command.upgrade(_config(conn), "head")


def _run_sqlite_upgrade(engine: sqlalchemy.Engine) -> None:
    """The migrations in one ``BEGIN IMMEDIATE`` transaction (one migrator at a time), foreign keys off.

    A migration that rebuilds a table (alembic's batch mode: copy, drop, rename) drops a table
    other tables refer to, which SQLite refuses with foreign keys on, even deferred; the pragma
    only changes outside a transaction. SQLite's own recipe: off, migrate, commit, on (a rebuilt
    table keeps its rows and keys, so the references still hold).
    """
    with LAZY_IMPORTS:
        from alembic import command

    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                command.upgrade(_config(conn), "head")
        finally:
            driver.execute("PRAGMA foreign_keys = ON")


def dump_migrated_sqlite(path: Path) -> str:
    """Migrate a new SQLite file at ``path`` with alembic; its dump, as :mod:`head_script` reads it."""
    import sqlite3

    uri = f"sqlite:///{path}"
    engine = create_sql_engine(uri)
    _upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    try:
        lines = [line for line in conn.iterdump() if line not in ("BEGIN TRANSACTION;", "COMMIT;")]
    finally:
        conn.close()
    return f"{HEADER}{head_revision()}\n{NOTE}" + "\n".join(lines) + "\n"


def write_sqlite_script() -> Path:
    """Rewrite ``migrations/sqlite_head.sql`` from the migrations; returns its path."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        SCRIPT_PATH.write_text(dump_migrated_sqlite(Path(tmp) / "head.db"), encoding="utf-8")
    return SCRIPT_PATH


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write-sqlite-script"]:
        raise SystemExit("usage: python -m mltrail.store.sql.migrate --write-sqlite-script")
    print(f"wrote {write_sqlite_script()} at revision {head_revision()}")
