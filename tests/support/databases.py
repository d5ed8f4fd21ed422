"""Fresh databases on the real PostgreSQL and MariaDB servers, for fixtures and tests.

The session fixtures ``postgres_uri``/``mysql_uri`` (tests/conftest.py) are built on
:func:`fresh_database`; a test that needs a database of its own (a server started on
an empty one, say) uses it directly::

    from support.databases import PG_ADMIN_URI, PG_BASE_URI, fresh_database

    databases = fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)
    uri = next(databases)        # created now
    ...
    next(databases, None)        # dropped

With ``CI=true`` a database server that cannot be reached fails the test; on a
developer machine the test is skipped with a reason instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN_URI = os.environ.get("MLTRAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URI = os.environ.get("MLTRAIL_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
#: What a database name is appended to, on each server.
PG_BASE_URI = PG_ADMIN_URI.rsplit("/", 1)[0] + "/"
MYSQL_BASE_URI = MYSQL_ADMIN_URI.rstrip("/") + "/"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def worker_id() -> str:
    """The pytest-xdist worker running this process (``gw0``, ``gw1``, ...), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def unreachable(what: str, err: Exception) -> None:
    """Fail (in CI) or skip (elsewhere) the current test: the server ``what`` cannot be used."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but cannot be reached: {err}")
    pytest.skip(f"{what} not reachable: {err}")


def fresh_database(admin_uri: str, what: str, base_uri: str) -> Iterator[str]:
    """Create an empty database, yield ``base_uri + its name``, drop it when resumed or closed."""
    import sqlalchemy as sa

    # The worker in the name says whose it is should one be left behind; the random part keeps
    # workers, and two test runs on one database server (two work trees, say), apart.
    name = f"mltrail_test_{worker_id()}_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as err:  # any driver error means the server is not usable
        unreachable(what, err)
    try:
        yield base_uri + name
    finally:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
