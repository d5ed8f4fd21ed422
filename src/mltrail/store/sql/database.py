"""One SQL database as every mltrail store sees it: engine, transactions, retry, errors.

The tracking, registry, trace, logged-model and auth stores each hold the
:class:`Database` of their URI (:func:`database_for` returns one per URI per
process, so stores on one URI share its engine and connection pool). A store
never opens transactions itself:

* ``db.read()`` is a connection for reads (a plain, deferred ``BEGIN`` on
  SQLite, so readers never take the write lock); on the read replica when one
  is configured and the request only reads (:mod:`mltrail.store.replica`);
* ``db.write(fn)`` runs ``fn(conn)`` in one write transaction (``BEGIN
  IMMEDIATE`` on SQLite) and runs it again when the database reports a race
  that rolled the transaction back: a busy or locked SQLite file, a
  serialization failure or deadlock on PostgreSQL/MySQL, two writers inserting
  the same new key. ``fn`` must therefore only touch the database (it may run
  more than once);
* a driver error that survives the retries becomes an
  :class:`~mltrail.exceptions.MltrailException` a client can act on:
  ``INVALID_PARAMETER_VALUE`` for a conflict with stored data (or whatever the
  caller's ``conflict`` says, e.g. ``RESOURCE_ALREADY_EXISTS`` for a taken
  name), ``TEMPORARILY_UNAVAILABLE`` for a database that stayed busy. Any other
  driver error is left as it is (a 500: a bug or an outage, not bad input).

Example::

    db = database_for("sqlite:///mltrail.db")
    with db.read() as conn:
        conn.execute(...)
    new_id = db.write(lambda conn: conn.execute(insert_stmt).inserted_primary_key[0])
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

from mltrail.exceptions import TEMPORARILY_UNAVAILABLE, MltrailException, invalid
from mltrail.store.replica import reading_replica, replica_of
from mltrail.store.sql.engine import (
    DriverRead,
    create_sql_engine,
    execute_constant,
    raw_fetchall,
    read_connection,
)
from mltrail.store.sql.migrate import ensure_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Database", "database_for", "execute_constant", "raw_fetchall"]

T = TypeVar("T")
# SQLite connections threads may keep of their own per Database, read and write ones together:
# the event loop's and the database thread's two each, and a few more; past it, the pool.
KEPT_CONNECTIONS = 8
# Attempts per write. SQLite's 30 s busy timeout already waits for the write lock, so a
# "database is locked" that still comes out is one SQLite raised without waiting (a WAL
# recovery, a lock taken mid-transaction): a few quick retries settle it.
WRITE_ATTEMPTS = 4
# Pause before retry n (seconds, doubled each time, with jitter) after a busy database;
# races on a new key retry at once (the loser re-reads and takes the next key).
BUSY_BACKOFF_S = 0.05

_databases: dict[tuple[int, str], Database] = {}
_lock = threading.Lock()

Conflict = Callable[[sa.exc.IntegrityError], "MltrailException | None"]


def database_for(uri: str) -> Database:
    """The :class:`Database` for ``uri``: one per URI per process (a fork gets its own)."""
    key = (os.getpid(), uri)
    db = _databases.get(key)
    if db is None:
        with _lock:
            db = _databases.get(key)
            if db is None:
                db = _databases[key] = Database(uri)
    return db


class Database:
    """An engine plus the one transaction, retry and error policy every SQL store uses."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine: sa.Engine = create_sql_engine(uri)
        self.dialect: str = self.engine.dialect.name
        self._schema_ready = False
        # --read-replica-backend-store-uri: its engine is made on the first read routed to it.
        self.replica_uri = replica_of(uri)
        self._replica_engine: sa.Engine | None = None
        # SQLite: connections kept per thread, off the pool (see driver_read and write): .reads
        # (a DriverRead), .writer (a Connection) and .writer_pool (the pool it came from).
        self._thread = threading.local()
        self._kept = 0  # connections kept by threads now (at most KEPT_CONNECTIONS)
        self._kept_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Database {self.dialect}>"

    # ------------------------------------------------------------ schema
    def ensure_schema(self) -> None:
        """Bring the tables to the head migration, once per process for this database."""
        if self._schema_ready:
            return
        ensure_schema(self.engine)
        self._schema_ready = True

    # ------------------------------------------------------- transactions
    def read(self) -> sa.Connection:
        """A connection for reads: ``with db.read() as conn: ...`` (deferred ``BEGIN`` on SQLite).

        On the read replica when this database has one and the current request only reads.
        """
        if self.replica_uri is not None and reading_replica():
            return _connect(self._replica_engine or self._open_replica(), "the read replica")
        return _connect(self.engine, "the database")

    def driver_read(self) -> contextlib.AbstractContextManager[sa.Connection | DriverRead]:
        """A read transaction for driver SQL only (:func:`raw_fetchall`): ``with db.driver_read() as conn``.

        On SQLite (not on a read replica) it skips SQLAlchemy's ``Connection``
        (:class:`~mltrail.store.sql.engine.DriverRead`, one connection kept per thread);
        elsewhere, and for a read opened inside another on the same thread, it is :meth:`read`.
        """
        if self.dialect == "sqlite" and (self.replica_uri is None or not reading_replica()):
            reads = getattr(self._thread, "reads", None)
            if reads is None and self._keep_one():
                reads = self._thread.reads = DriverRead(self.engine)
                weakref.finalize(reads, self._release_one)  # the thread ended, its connection closed
            if reads is not None and not reads.busy:
                return reads
        return self.read()

    def _keep_one(self) -> bool:
        """Whether one more thread may keep a connection of its own (else it uses the pool)."""
        with self._kept_lock:
            if self._kept >= KEPT_CONNECTIONS:
                return False
            self._kept += 1
            return True

    def _release_one(self) -> None:
        with self._kept_lock:
            self._kept -= 1

    def _writer(self) -> sa.Connection | None:
        """This thread's own write connection on SQLite (kept between writes), or None for the pool.

        A ``runs/log-batch`` spent about a fifth of its time taking a connection from
        the pool and giving it back (with its reset). The connection is detached from the
        pool, so threads that keep one never starve those that do not.
        """
        if self.dialect != "sqlite":  # networked databases: the pool (bounded, pre-pinged)
            return None
        local = self._thread
        conn: sa.Connection | None = getattr(local, "writer", None)
        if conn is not None:
            if local.writer_pool is self.engine.pool and not conn.closed and not conn.invalidated:
                return None if conn.in_transaction() else conn  # a write inside a write: the pool
            local.writer = None
            conn.close()
            del conn  # its finalizer gives its place back
        if not self._keep_one():
            return None
        try:
            conn = self.engine.connect()
            conn.detach()  # closing it closes the driver connection; the pool never sees it again
        except BaseException:
            self._release_one()
            raise
        local.writer, local.writer_pool = conn, self.engine.pool
        weakref.finalize(conn, self._release_one)  # the thread ended or the connection was dropped
        return conn

    def _drop_writer(self) -> None:
        """Close this thread's write connection after a driver error (the next write takes a new one)."""
        conn = getattr(self._thread, "writer", None)
        if conn is not None:
            self._thread.writer = None
            conn.close()

    def _open_replica(self) -> sa.Engine:
        """The replica's engine, made once. The replica has the primary's schema; it is never migrated."""
        engine = create_sql_engine(self.replica_uri or "")
        if engine.dialect.name != self.dialect:
            raise invalid(
                f"The read replica is a {engine.dialect.name} database but the backend store is {self.dialect}"
            )
        self._replica_engine = engine
        return engine

    def write(self, fn: Callable[[sa.Connection], T], conflict: Conflict | None = None) -> T:
        """Run ``fn(conn)`` in one write transaction, retried on races; returns what ``fn`` returns.

        ``conflict`` says what an integrity error that survives the retries means
        (by default ``INVALID_PARAMETER_VALUE``): it returns the exception to raise,
        or ``None`` when the conflict means the write is already done (``write``
        then returns ``None``).
        """
        # The first attempt is the whole hot path: one try, one transaction, no extra calls.
        try:
            kept = self._writer()
            if kept is not None:
                try:
                    with kept.begin():
                        return fn(kept)
                except sa.exc.DBAPIError:
                    self._drop_writer()
                    raise
            with self.engine.begin() as conn:
                return fn(conn)
        except sa.exc.DBAPIError as err:
            if not self._retryable(err):
                return self._fail(err, conflict)
            first = err
        return self._retry(fn, conflict, first)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """``with db.transaction() as conn:`` one write transaction, no retry, errors mapped.

        For work that cannot simply run again (it does more than touch the
        database); prefer :meth:`write`.
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as err:
            self._fail(err, None)

    # ------------------------------------------------------------- policy
    def _retry(self, fn: Callable[[sa.Connection], T], conflict: Conflict | None, err: sa.exc.DBAPIError) -> T:
        for attempt in range(1, WRITE_ATTEMPTS):
            if not isinstance(err, sa.exc.IntegrityError):
                time.sleep(BUSY_BACKOFF_S * (2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except sa.exc.DBAPIError as again:
                err = again
                if not self._retryable(err):
                    break
        return self._fail(err, conflict)

    def _retryable(self, err: sa.exc.DBAPIError) -> bool:
        """Whether the transaction rolled back because of another writer (running it again is safe)."""
        if isinstance(err, sa.exc.IntegrityError):
            # SQLite serializes writers (BEGIN IMMEDIATE): its conflicts are real, not races.
            return self.dialect != "sqlite"
        if isinstance(err, sa.exc.OperationalError):
            # PostgreSQL/MySQL: deadlock victims, serialization failures, a connection the
            # server dropped; SQLite: only a busy or locked file (others are real errors).
            return self.dialect != "sqlite" or _is_busy(err)
        return False

    @staticmethod
    def _fail(err: sa.exc.DBAPIError, conflict: Conflict | None) -> None:
        """Raise a driver error that survived the retries as an error a client can act on.

        Returns (``None``) only when ``conflict`` accepts an integrity error as "already done".
        """
        if isinstance(err, sa.exc.IntegrityError):
            if conflict is None:
                # e.g. keys differing only in letter case are one key under MySQL's default collation
                raise invalid(f"The write conflicts with data already stored: {_detail(err)}") from err
            mapped = conflict(err)
            if mapped is None:
                return None
            raise mapped from err
        if _is_busy(err):
            raise MltrailException(
                f"The database is busy, try again: {_detail(err)}", error_code=TEMPORARILY_UNAVAILABLE
            ) from err
        raise err


def _connect(engine: sa.Engine, what: str) -> sa.Connection:
    """A read connection on ``engine``; a database that cannot be reached is a clear 503, not a 500."""
    try:
        return read_connection(engine)
    except sa.exc.OperationalError as err:
        raise MltrailException(
            f"Cannot reach {what}, try again: {_detail(err)}", error_code=TEMPORARILY_UNAVAILABLE
        ) from err


def _detail(err: sa.exc.DBAPIError) -> str:
    return str(err.orig).splitlines()[0] if err.orig is not None else str(err)


# How each backend says "another transaction is in the way": SQLite's "database is locked"
# (or busy), PostgreSQL's deadlock / serialization failure / lock timeout, MySQL's deadlock
# and "Lock wait timeout exceeded".
_BUSY_WORDS = ("locked", "busy", "deadlock", "serializ", "lock timeout", "lock wait timeout")


def _is_busy(err: sa.exc.DBAPIError) -> bool:
    detail = _detail(err).lower()
    return any(word in detail for word in _BUSY_WORDS)
