"""The ``store`` fixture: one SqlTrackingStore per test on SQLite, PostgreSQL and MariaDB.

SQLite gets a new file per test; the server databases are created once per
session (see tests/conftest.py) and emptied before each test.
"""

from __future__ import annotations

import pytest

from mltrail.store.sql.tracking import SqlTrackingStore
from support.sql_backends import SQL_BACKENDS


def _empty(uri: str) -> None:
    import sqlalchemy as sa

    from mltrail.store.sql.engine import create_sql_engine
    from mltrail.store.sql.migrate import ensure_schema
    from mltrail.store.sql.schema import metadata

    engine = create_sql_engine(uri)
    ensure_schema(engine)
    present = set(sa.inspect(engine).get_table_names())
    with engine.begin() as conn:
        # Every table, children before parents, so foreign keys never object (other suites
        # share the session database and may have left registry rows behind).
        for table in reversed(metadata.sorted_tables):
            if table.name in present:
                conn.execute(sa.delete(table))


@pytest.fixture(params=SQL_BACKENDS)
def db_uri(request, tmp_path) -> str:
    """A database URI with an empty tracking schema, for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    uri = request.getfixturevalue(f"{request.param}_uri")
    _empty(uri)
    return uri


@pytest.fixture
def store(db_uri, tmp_path) -> SqlTrackingStore:
    """A fresh tracking store whose default artifact root is a folder of the test."""
    return SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
