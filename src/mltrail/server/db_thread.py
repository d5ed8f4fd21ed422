"""The app's one database thread on SQLite: blocking store calls off the event loop, in order.

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
from collections.abc import Callable
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
