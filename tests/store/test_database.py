"""The SQL unit (store/sql/database.py): one engine per URI, the retry on a busy database, error mapping.

Real databases only: a SQLite file really locked by another connection, and PostgreSQL/MariaDB
tables really locked or really holding the conflicting key.
"""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa

from mltrail.exceptions import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
)
from mltrail.store.sql.database import WRITE_ATTEMPTS, Database, database_for

SERVER_BACKENDS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture
def sqlite_db(tmp_path) -> Database:
    """A Database on a new SQLite file whose connections give up on a lock after 20 ms.

    (The engine waits 30 s on a lock; a short wait makes SQLite report "database is
    locked" at once, as it does when it cannot wait, so the retry path is what runs.)
    """
    db = database_for(f"sqlite:///{tmp_path / 'unit.db'}")
    # Straight on the engine: db.write would keep this thread's write connection, made before the
    # short wait below is set on checkout, and the tests' writes would wait SQLite's full 30 s.
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
    checkouts: list[int] = []

    def short_wait(dbapi_conn, _record, _proxy) -> None:
        checkouts.append(1)
        dbapi_conn.execute("PRAGMA busy_timeout = 20")

    sa.event.listen(db.engine, "checkout", short_wait)
    db.checkouts = checkouts  # type: ignore[attr-defined]
    yield db
    sa.event.remove(db.engine, "checkout", short_wait)
    db.engine.dispose()


def _keys(db: Database, table: str = "t") -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql(f"SELECT k FROM {table} ORDER BY k")]


def test_one_database_per_uri_shared_by_every_store(tmp_path):
    from mltrail.store.sql.logged_models import SqlLoggedModelStore
    from mltrail.store.sql.registry import SqlRegistryStore
    from mltrail.store.sql.traces import SqlTraceStore
    from mltrail.store.sql.tracking import SqlTrackingStore

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    stores = [SqlTrackingStore(uri, str(tmp_path / "a")), SqlRegistryStore(uri), SqlTraceStore(uri),
              SqlLoggedModelStore(uri)]
    assert len({id(s.db) for s in stores}) == 1 and stores[0].db is database_for(uri)
    assert len({id(s.engine) for s in stores}) == 1
    assert database_for(f"sqlite:///{tmp_path / 'other.db'}") is not stores[0].db
    stores[0].engine.dispose()


def test_sqlite_locked_by_another_connection_is_retried_until_free(sqlite_db, tmp_path):
    blocker = sqlite3.connect(tmp_path / "unit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # a real write lock held by another connection
    attempts: list[int] = []

    def release_on_retry(_dbapi_conn, _record, _proxy) -> None:
        attempts.append(1)
        if len(attempts) == 2:  # the first attempt has failed on the lock: let the retry through
            blocker.execute("COMMIT")

    sa.event.listen(sqlite_db.engine, "checkout", release_on_retry)
    try:
        sqlite_db.write(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES ('a')"))
    finally:
        sa.event.remove(sqlite_db.engine, "checkout", release_on_retry)
        blocker.close()
    assert len(attempts) == 2
    assert _keys(sqlite_db) == ["a"]


def test_sqlite_that_stays_locked_is_temporarily_unavailable(sqlite_db, tmp_path):
    blocker = sqlite3.connect(tmp_path / "unit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    before = len(sqlite_db.checkouts)
    try:
        with pytest.raises(MltrailException) as info:
            sqlite_db.write(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES ('a')"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert info.value.error_code == TEMPORARILY_UNAVAILABLE
    assert str(info.value.message).startswith("The database is busy, try again: database is locked")
    assert len(sqlite_db.checkouts) - before == WRITE_ATTEMPTS
    assert _keys(sqlite_db) == []
    # The transaction form maps the same error, without retrying.
    blocker = sqlite3.connect(tmp_path / "unit.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(MltrailException) as info, sqlite_db.transaction() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES ('b')")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert info.value.error_code == TEMPORARILY_UNAVAILABLE


def test_sqlite_conflicts_are_not_retried_and_map_to_a_client_error(sqlite_db):
    sqlite_db.write(lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES ('a')"))
    calls: list[int] = []

    def dup(conn: sa.Connection) -> None:
        calls.append(1)
        conn.exec_driver_sql("INSERT INTO t VALUES ('b')")
        conn.exec_driver_sql("INSERT INTO t VALUES ('a')")

    with pytest.raises(MltrailException) as info:
        sqlite_db.write(dup)
    assert calls == [1]  # SQLite serializes writers: a conflict is real, not a race
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert info.value.message.startswith("The write conflicts with data already stored: UNIQUE constraint failed")
    assert _keys(sqlite_db) == ["a"]  # the whole transaction rolled back
    taken = MltrailException("taken", error_code=RESOURCE_ALREADY_EXISTS)
    with pytest.raises(MltrailException) as info:
        sqlite_db.write(dup, conflict=lambda err: taken)
    assert info.value is taken and isinstance(info.value.__cause__, sa.exc.IntegrityError)
    assert sqlite_db.write(dup, conflict=lambda err: None) is None  # "already done"
    # Errors raised by the work itself pass through untouched.
    with pytest.raises(MltrailException) as info:
        sqlite_db.write(lambda conn: (_ for _ in ()).throw(taken))
    assert info.value is taken


@pytest.fixture(params=SERVER_BACKENDS)
def server_db(request):
    db = database_for(request.getfixturevalue(f"{request.param}_uri"))
    table = f"unit_{uuid.uuid4().hex[:12]}"
    db.write(lambda conn: conn.exec_driver_sql(f"CREATE TABLE {table} (k VARCHAR(32) PRIMARY KEY)"))
    db.table = table  # type: ignore[attr-defined]
    yield db
    db.write(lambda conn: conn.exec_driver_sql(f"DROP TABLE {table}"))


def test_server_race_on_a_new_key_is_retried(server_db):
    table = server_db.table
    server_db.write(lambda conn: conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('k1')"))
    calls: list[int] = []

    def next_key(conn: sa.Connection) -> str:
        # Like a writer that computed the next free key from a stale read: the first attempt
        # collides with a key another writer took, the retry takes the next one.
        calls.append(1)
        key = f"k{len(calls)}"
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('{key}')")
        return key

    assert server_db.write(next_key) == "k2" and len(calls) == 2
    calls.clear()

    def always_k1(conn: sa.Connection) -> None:
        calls.append(1)
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('k1')")

    with pytest.raises(MltrailException) as info:
        server_db.write(always_k1)
    assert len(calls) == WRITE_ATTEMPTS
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert info.value.message.startswith("The write conflicts with data already stored: ")


@pytest.mark.postgres
def test_postgres_lock_timeout_is_retried_then_temporarily_unavailable(postgres_uri):
    db = database_for(postgres_uri)
    table = f"unit_{uuid.uuid4().hex[:12]}"
    db.write(lambda conn: conn.exec_driver_sql(f"CREATE TABLE {table} (k VARCHAR(32) PRIMARY KEY)"))
    other = sa.create_engine(db.engine.url)  # a separate client holding the table lock
    blocker = other.connect()
    blocker.begin()
    blocker.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    calls: list[int] = []

    def insert(conn: sa.Connection) -> None:
        calls.append(1)
        if len(calls) == 2 and blocker.in_transaction():
            blocker.rollback()  # the other client finishes: the retry gets the lock
        conn.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
        conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('a')")

    try:
        db.write(insert)
        assert len(calls) == 2 and _keys(db, table) == ["a"]
        calls.clear()
        blocker.begin()
        blocker.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

        def insert_b(conn: sa.Connection) -> None:
            calls.append(1)
            conn.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ('b')")

        with pytest.raises(MltrailException) as info:
            db.write(insert_b)
        assert len(calls) == WRITE_ATTEMPTS
        assert info.value.error_code == TEMPORARILY_UNAVAILABLE
        assert "lock timeout" in info.value.message
    finally:
        if blocker.in_transaction():
            blocker.rollback()
        blocker.close()
        other.dispose()
        db.write(lambda conn: conn.exec_driver_sql(f"DROP TABLE {table}"))
