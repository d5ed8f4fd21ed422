"""The three SQL backends tests run on, and tables in a schema of their own on each.

``SQL_BACKENDS`` is the fixture parameter list: ``"sqlite"`` always, ``"postgres"``
and ``"mysql"`` marked so they can be selected or skipped (their databases come
from the session fixtures ``postgres_uri``/``mysql_uri`` in tests/conftest.py)::

    @pytest.fixture(params=SQL_BACKENDS)
    def store(request, tmp_path): ...
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SQL_BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@contextmanager
def tables_in_own_schema(request, tmp_path_factory, prefix: str) -> Iterator[object]:
    """An engine with the store's tables created and empty, on the backend ``request.param``.

    SQLite gets a new file; PostgreSQL a new schema and MariaDB a new database
    (named ``prefix_<random>``) inside the session's database, so other test
    modules sharing that database see nothing of it. The schema or database is
    dropped when the block ends.
    """
    import sqlalchemy as sa

    from mltrail.store.sql import schema as s

    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp(prefix) / 'mltrail.db'}")
        schema = None
    else:
        uri = request.getfixturevalue("postgres_uri" if request.param == "postgres" else "mysql_uri")
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        base = sa.create_engine(uri)
        with base.begin() as conn:
            conn.execute(
                sa.text(f"CREATE {'SCHEMA' if request.param == 'postgres' else 'DATABASE'} {schema}")
            )
        engine = base.execution_options(schema_translate_map={None: schema})
    try:
        s.metadata.create_all(engine)
        yield engine
    finally:
        if schema is not None:
            with engine.begin() as conn:
                if request.param == "postgres":
                    conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                else:
                    conn.execute(sa.text(f"DROP DATABASE {schema}"))
        engine.dispose()
