"""Read replicas: which database a read goes to (``--read-replica-backend-store-uri``).

MLflow's semantics: with a replica configured, read operations (searches, gets)
are served by the replica and writes by the primary. mltrail decides per
request: the server marks a request that only reads (:func:`replica_reads`
around its handler), and :meth:`mltrail.store.sql.database.Database.read`
then opens its connection on the replica. Everything else, writes and the
reads a write makes (does the run exist, is it active), uses the primary, so
replication lag can never turn a write into a wrong answer. A read right
after a write may not see it yet, as with any asynchronous replica.

This module is light (no SQLAlchemy): the server imports it at start-up.

Example::

    use_read_replica("postgresql://primary/db", "postgresql://replica/db")
    with replica_reads():
        store.search_runs(...)   # reads postgresql://replica/db
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

_replicas: dict[str, str] = {}
_lock = threading.Lock()
_on_replica: ContextVar[bool] = ContextVar("mltrail_replica_reads", default=False)


def use_read_replica(primary_uri: str, replica_uri: str) -> None:
    """Route marked reads of ``primary_uri`` to ``replica_uri`` in this process."""
    with _lock:
        _replicas[primary_uri] = replica_uri


def replica_of(primary_uri: str) -> str | None:
    """The replica configured for ``primary_uri``, or ``None``."""
    return _replicas.get(primary_uri)


def reading_replica() -> bool:
    """Whether the current request (context) may read from a replica."""
    return _on_replica.get()


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Within the block (and threads started with its context), reads go to the replica."""
    token = _on_replica.set(True)
    try:
        yield
    finally:
        _on_replica.reset(token)
