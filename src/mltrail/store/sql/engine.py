"""SQLAlchemy engines for the SQL stores, one per database URI per process.

Accepted URIs::

    sqlite:///relative/or/absolute/path.db
    postgresql://user@host/db          (driven by psycopg 3)
    postgresql+psycopg://user@host/db
    mysql://user@host/db               (driven by PyMySQL)
    mysql+pymysql://user@host/db

SQLite is tuned for several processes writing one file: WAL journal (readers
never block writers), a 30 s busy timeout, ``synchronous=NORMAL`` and foreign
keys on. Write transactions start with ``BEGIN IMMEDIATE`` so a writer takes
the write lock up front and waits on the busy timeout; a deferred transaction
that later tries to upgrade its read lock fails at once with "database is
locked", which is what this avoids. Read-only work opts out with the
``mltrail_read`` execution option (see :func:`read_connection`).

Example::

    engine = create_sql_engine("sqlite:///./mltrail.db")
    with engine.begin() as conn:   # BEGIN IMMEDIATE on SQLite
        ...
"""

from __future__ import annotations

import operator
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrail.exceptions import TEMPORARILY_UNAVAILABLE, MltrailException, invalid

if TYPE_CHECKING:
    import sqlalchemy

SQLITE_BUSY_TIMEOUT_S = 30

_engines: dict[tuple[int, str], sqlalchemy.Engine] = {}
_lock = threading.Lock()

_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def normalize_db_uri(uri: str) -> str:
    """Map ``postgresql://`` and ``mysql://`` to the drivers mltrail ships with."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in _DRIVERS:
        raise invalid(
            f"Unsupported database URI {uri!r}: use sqlite:///path, postgresql://... or mysql://..."
        )
    return f"{_DRIVERS[scheme.lower()]}://{rest}"


def is_db_uri(uri: str) -> bool:
    """True if ``uri`` names a database mltrail's SQL stores can open."""
    scheme = uri.partition("://")[0].lower()
    return "://" in uri and scheme in _DRIVERS


def create_sql_engine(uri: str) -> sqlalchemy.Engine:
    """The engine for ``uri``, created once per process and reused afterwards."""
    key = (os.getpid(), uri)  # a forked child must not share its parent's connections
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _build_engine(uri)
            _engines[key] = engine
    return engine


def read_connection(engine: sqlalchemy.Engine) -> sqlalchemy.Connection:
    """A connection whose transactions are plain (deferred) ``BEGIN`` on SQLite: for reads only."""
    return engine.connect().execution_options(mltrail_read=True)


def _build_engine(uri: str) -> sqlalchemy.Engine:
    import sqlalchemy as sa

    url = sa.engine.make_url(normalize_db_uri(uri))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "mysql":
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        # pre-ping: MariaDB drops idle connections after wait_timeout.
        return sa.create_engine(url, pool_pre_ping=True, pool_recycle=3600)
    return sa.create_engine(url, pool_pre_ping=True)


def _to_wal(cur: Any) -> None:
    """``PRAGMA journal_mode = WAL`` on a new connection, waiting out a lock for the busy timeout.

    Becoming WAL takes the file's write lock. When processes open a new file at once (several
    server workers, or SDK processes), SQLite can refuse one of them with "database is locked"
    at once, without calling its busy handler (it would otherwise wait on a connection that
    waits on it), so the busy timeout set just before does not cover this statement.
    """
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_engine(url: sqlalchemy.URL) -> sqlalchemy.Engine:
    import sqlite3

    import sqlalchemy as sa

    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling would
        # start deferred transactions behind our back).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # busy_timeout first: switching to WAL itself needs the lock.
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        _to_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Straight on the driver's connection: SQLAlchemy's execute path (events, result
        # object) for a BEGIN cost about a tenth of a whole runs/get.
        sql = "BEGIN" if conn.get_execution_options().get("mltrail_read") else "BEGIN IMMEDIATE"
        try:
            conn.connection.dbapi_connection.execute(sql)  # (also on a connection detached from the pool)
        except sqlite3.Error as err:  # as SQLAlchemy would raise it ("database is locked" is retried)
            raise sa.exc.DBAPIError.instance(sql, (), err, sqlite3.Error) from err

    return engine


def driver_statement(dialect: sqlalchemy.Dialect, stmt: sqlalchemy.Executable) -> tuple[str, Any]:
    """``stmt`` as the driver's SQL text and parameters (a tuple, or a dict for named styles).

    For statements that are rebuilt per request but repeat (a search's filter):
    the caller caches the pair and runs it on the raw DBAPI cursor, skipping
    SQLAlchemy's per-execute cache-key and compile work.
    """
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positional:
        return str(compiled), tuple(params[name] for name in compiled.positiontup or ())
    return str(compiled), params


_constant_sql: dict[tuple[str, int, tuple[str, ...]], tuple[str, Callable[[dict[str, Any]], tuple] | None]] = {}


def _picker(order: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple]:
    """A function that takes a parameter dict to the tuple of its values in ``order`` (C-speed)."""
    if len(order) == 1:
        (name,) = order
        return lambda params: (params[name],)
    if not order:
        return lambda params: ()
    return operator.itemgetter(*order)


def execute_constant(
    conn: sqlalchemy.Connection, stmt: sqlalchemy.Executable, params: dict[str, Any] | list[dict[str, Any]]
) -> list[tuple]:
    """Run a module-level statement with plain ``params`` (one dict, or a list for executemany)
    straight on ``conn``'s DBAPI cursor, as driver SQL compiled once per dialect and parameter
    set; returns the rows it selected (``[]`` for writes). It skips SQLAlchemy's per-execute
    cache-key, compile-cache, event and result work (tens of microseconds per statement on the
    hottest writes). Only for statements whose parameters need no type processing. Runs inside
    ``conn``'s transaction; driver errors come out as SQLAlchemy's (``IntegrityError``, ...).
    """
    if isinstance(params, list) and not params:
        return []
    first = params[0] if isinstance(params, list) else params
    key = (conn.dialect.name, id(stmt), tuple(first))
    cached = _constant_sql.get(key)
    if cached is None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(first))
        pick = _picker(tuple(compiled.positiontup or ())) if compiled.positional else None
        cached = (str(compiled), pick)
        _constant_sql[key] = cached
    sql, pick = cached
    if not conn.in_transaction():
        conn.begin()
    cursor = conn.connection.cursor()
    try:
        if isinstance(params, list):
            cursor.executemany(sql, params if pick is None else list(map(pick, params)))
        else:
            cursor.execute(sql, params if pick is None else pick(params))
        return cursor.fetchall() if cursor.description else []
    except conn.dialect.loaded_dbapi.Error as err:
        import sqlalchemy as sa

        raise sa.exc.DBAPIError.instance(sql, params, err, conn.dialect.loaded_dbapi.Error) from err
    finally:
        cursor.close()


def raw_executemany(conn: sqlalchemy.Connection, sql: str, rows: list[tuple]) -> None:
    """Run driver SQL once per row of ``rows`` on ``conn``'s DBAPI cursor, inside its transaction.

    For the hottest bulk writes (a metric history's rows): no SQLAlchemy execute path.
    Driver errors come out as SQLAlchemy's (``IntegrityError``, ...), as from ``conn.execute``.
    """
    if not conn.in_transaction():
        conn.begin()
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as err:
        import sqlalchemy as sa

        raise sa.exc.DBAPIError.instance(sql, rows, err, conn.dialect.loaded_dbapi.Error) from err
    finally:
        cursor.close()


class DriverRead:
    """Read transactions straight on a SQLite connection of this thread's own: ``with reads as conn``.

    For the hottest reads (``runs/get``, a search page), which run only driver SQL
    (:func:`raw_fetchall`). SQLAlchemy's ``Connection`` around them (its events,
    ``BEGIN`` and rollback through the execute path) cost about a quarter of a
    ``runs/get``, and a checkout from the pool and its return with reset another
    seventh. So one of these is kept per thread (``Database.driver_read``): it
    holds a connection taken from the engine's pool once and detached from it (so
    it went through the same ``connect`` set-up: WAL, busy timeout, foreign keys),
    opens a plain deferred ``BEGIN`` per use (one snapshot for every read, never
    the write lock) and rolls back at the end. ``engine.dispose()`` (a new pool)
    makes it take a fresh connection on its next use. SQLite only: other drivers
    begin transactions by themselves, and go through :func:`read_connection`.
    """

    __slots__ = ("__weakref__", "_cursor", "_driver", "_engine", "_fairy", "_pool", "busy", "dialect")

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self._fairy: Any = None
        self._driver: Any = None
        self._cursor: Any = None  # kept with the connection: one cursor serves every read
        self._pool: Any = None
        self.busy = False  # inside a ``with`` block (a nested read takes another connection)

    def __enter__(self) -> DriverRead:
        error = self.dialect.loaded_dbapi.Error
        try:
            if self._pool is not self._engine.pool:
                self._connect()
            self._cursor.execute("BEGIN")
        except error as err:  # a file that cannot be opened: a clear 503, as for read_connection's callers
            self._close()
            raise MltrailException(
                f"Cannot reach the database, try again: {str(err).splitlines()[0]}",
                error_code=TEMPORARILY_UNAVAILABLE,
            ) from err
        self.busy = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.busy = False
        try:
            self._driver.rollback()  # ends the read transaction (reads only: nothing to keep)
        except self.dialect.loaded_dbapi.Error:
            self._close()  # a broken connection: the next use takes a new one

    def _connect(self) -> None:
        self._close()
        pool = self._engine.pool
        fairy = self._engine.raw_connection()
        driver = fairy.driver_connection  # (read first: detaching forgets the connection record)
        fairy.detach()  # this thread's from now on: closing it closes the driver connection
        self._fairy, self._driver, self._pool = fairy, driver, pool
        self._cursor = driver.cursor()

    def _close(self) -> None:
        fairy, self._fairy, self._driver, self._pool = self._fairy, None, None, None
        self._cursor = None
        if fairy is not None:
            try:
                fairy.close()
            except Exception:
                pass

    def fetchall(self, sql: str, params: Any) -> list[tuple]:
        """Every row of driver SQL ``sql`` with ``params``, as plain tuples."""
        return self._cursor.execute(sql, params).fetchall()


def raw_fetchall(conn: sqlalchemy.Connection | DriverRead, sql: str, params: Any) -> list[tuple]:
    """Run driver SQL on ``conn``'s DBAPI cursor inside its (read) transaction; plain tuples."""
    if type(conn) is DriverRead:
        return conn.fetchall(sql, params)
    if not conn.in_transaction():
        conn.begin()  # one snapshot for all the reads on conn (BEGIN on SQLite)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()
