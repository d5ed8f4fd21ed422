"""Whether an error means "no tracking server there right now": what offline logging takes over from.

Kept apart from :mod:`mltrail.store._http` so that code which only asks the
question (the tracking client, also on an embedded SQLite store) does not import
httpx, which costs a large share of an SDK process's start (httpx loads its
command-line tool's ``rich`` on import).
"""

from __future__ import annotations

from mltrail.exceptions import MltrailException

#: Answers that mean "no server behind this address right now" (a proxy's or gateway's).
UNREACHABLE_STATUS = frozenset({502, 503, 504})


class ServerUnreachable(MltrailException):
    """The server could not be reached after the retries (refused, dropped, timed out, 502/503/504).

    What the offline journal (:mod:`mltrail.offline`) takes over from; a subclass, so
    code that catches :class:`~mltrail.exceptions.MltrailException` is unchanged.
    """


def unreachable(err: BaseException) -> bool:
    """Whether ``err`` means the server could not be reached (what offline logging takes over from)."""
    return isinstance(err, ServerUnreachable) or getattr(err, "status", None) in UNREACHABLE_STATUS
