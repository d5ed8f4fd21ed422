"""The ``store`` fixture: one SqlTrackingStore per test on SQLite, PostgreSQL and MariaDB.

SQLite gets a new file per test; the server databases are created once per
session (see tests/conftest.py) and emptied before each test.
"""

from __future__ import annotations

import pytest

from mltrail.store.sql.tracking import SqlTrackingStore

# Children before parents, so foreign keys never object.
_TRACKING_TABLES = (
    "input_tags",
    "inputs",
    "datasets",
    "latest_metrics",
    "metrics",
    "params",
    "tags",
    "runs",
    "experiment_tags",
    "experiments",
)


def _empty(uri: str) -> None:
    import sqlalchemy as sa

    from mltrail.store.sql.engine import create_sql_engine
    from mltrail.store.sql.migrate import ensure_schema

    engine = create_sql_engine(uri)
    ensure_schema(engine)
    with engine.begin() as conn:
        for table in _TRACKING_TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
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
