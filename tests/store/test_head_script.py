"""A new SQLite store is built from migrations/sqlite_head.sql: the same database the migrations build."""

from __future__ import annotations

import sqlite3

from mltrail.store.sql import head_script
from mltrail.store.sql.engine import create_sql_engine
from mltrail.store.sql.migrate import current_revision, dump_migrated_sqlite, ensure_schema, head_revision


def _catalog(path) -> set[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        conn.close()


def test_script_is_the_dump_of_the_migrations(tmp_path):
    # Fails after a new migration until `python -m mltrail.store.sql.migrate --write-sqlite-script` is run.
    assert head_script.SCRIPT_PATH.read_text(encoding="utf-8") == dump_migrated_sqlite(tmp_path / "m.db")
    assert head_script.script()[0] == head_revision()


def test_new_store_from_script_equals_migrated_store(tmp_path):
    migrated = tmp_path / "migrated.db"
    dump_migrated_sqlite(migrated)
    fresh = tmp_path / "fresh.db"
    engine = create_sql_engine(f"sqlite:///{fresh}")
    ensure_schema(engine)
    assert _catalog(fresh) == _catalog(migrated)
    assert current_revision(engine) == head_revision()
    # The history stays valid: alembic sees the database at head and has nothing to do.
    from mltrail.store.sql.migrate import upgrade_db

    assert upgrade_db(f"sqlite:///{fresh}") == head_revision()
    assert _catalog(fresh) == _catalog(migrated)


def test_script_declines_a_database_with_tables_or_an_old_script(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE unrelated (x INTEGER)")
    conn.commit()
    conn.close()
    engine = create_sql_engine(f"sqlite:///{path}")
    assert head_script.create_from_script(engine, head_revision()) is False
    assert {row[1] for row in _catalog(path)} == {"unrelated"}  # nothing written
    empty = create_sql_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert head_script.create_from_script(empty, "not-the-head") is False
    assert current_revision(empty) is None
    assert head_script.create_from_script(empty, head_revision()) is True
    assert current_revision(empty) == head_revision()
