"""The app's one database thread on SQLite: blocking store calls off the event loop, in order;
and :class:`FastRepeats`, which lets a repeated request that was fast last time skip it.

``loop.run_in_executor`` on a one-thread ``ThreadPoolExecutor`` did the same, but
through a ``concurrent.futures.Future`` chained to an asyncio future (locks, a
work item, two futures' callbacks and state copies per call): about a tenth of a
small ``runs/search``. Here a call is one queue put, one run in the thread and one
``call_soon_threadsafe`` that settles the asyncio future the endpoint awaits.

Example::

    db = DbThread("mltrail-db")
    rows = await db.run(store.search_runs, ["0"])   # runs in the thread, in the caller's context
    db.shutdown()
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class DbThread:
    """One daemon thread that runs the calls given to :meth:`run` one after another."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """``fn(*args)`` in the thread, in a copy of the caller's context (as ``run_in_threadpool``
        does); await the returned future for its result or exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._start()
        self._calls.put((loop, future, contextvars.copy_context(), fn, args))
        return future

    def shutdown(self) -> None:
        """Let the thread end once the calls already given have run (a later call starts a new one)."""
        with self._lock:
            self._calls.put(None)
            self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            loop, future, context, fn, args = item
            try:
                result = context.run(fn, *args)
            except BaseException as err:  # handed to the awaiting endpoint, which maps it
                loop.call_soon_threadsafe(_settle, future, None, err)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)
            del item, future, fn, args  # hold no request's objects while waiting for the next call


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the awaiting request went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


#: A repeated request runs on the event loop when its last run took less than this (seconds).
FAST_REPEAT_SECONDS = 0.002
#: How many distinct requests each endpoint remembers (least recently used ones are dropped).
FAST_REPEAT_ENTRIES = 256
#: Requests whose encoded body is longer than this are not remembered (they always go to the
#: thread): the map's memory stays small whatever the body limit.
FAST_REPEAT_KEY_BYTES = 4096
#: A remembered time older than this (seconds) is not trusted: the request goes to the thread
#: again and is timed afresh, so data that grew between two repeats cannot hold the loop long.
FAST_REPEAT_TTL = 10.0


class FastRepeats:
    """Which requests of an endpoint ran fast the last time they were seen: a bounded LRU map.

    Used for endpoints whose cost grows with the data (``runs/search``): a request first
    goes to the database thread; when the same request (``key``) comes again and its last
    run, wherever it was, took under ``threshold`` seconds less than ``ttl`` seconds ago, it
    runs on the event loop, which saves the hand-off to the thread. Every run is timed and
    recorded, so a request that became slow goes back to the thread. Not thread-safe: the
    event loop's thread is its only user.

    Example::

        repeats = FastRepeats()
        if repeats.fast(key):          # False the first time
            ...run inline, timing it...
        repeats.record(key, started, ended)
    """

    __slots__ = ("_clock", "_last", "_size", "_threshold", "_ttl", "key_bytes")

    def __init__(
        self,
        threshold: float | None = None,
        size: int | None = None,
        ttl: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._threshold = FAST_REPEAT_SECONDS if threshold is None else threshold
        self._size = FAST_REPEAT_ENTRIES if size is None else size
        self._ttl = FAST_REPEAT_TTL if ttl is None else ttl
        self._clock = clock
        #: The longest request body (encoded) worth remembering; longer ones always go to the thread.
        self.key_bytes = FAST_REPEAT_KEY_BYTES
        # key -> (seconds the last run took, clock() when it ended), least recently used first
        self._last: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def fast(self, key: Hashable) -> bool:
        """Whether ``key`` ran under the threshold last time, recently enough to trust it."""
        entry = self._last.get(key)
        if entry is None:
            return False
        seconds, ended = entry
        if seconds >= self._threshold or self._clock() - ended > self._ttl:
            return False
        self._last.move_to_end(key)
        return True

    def record(self, key: Hashable, started: float, ended: float) -> None:
        """Remember that ``key`` ran from ``started`` to ``ended`` (``clock()`` readings)."""
        last = self._last
        last[key] = (ended - started, ended)
        last.move_to_end(key)
        if len(last) > self._size:
            last.popitem(last=False)


def timed_call(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, float, float]:
    """``fn(arg)`` with the ``time.perf_counter()`` readings just before and after it."""
    started = time.perf_counter()
    result = fn(arg)
    return result, started, time.perf_counter()
