"""Where a prediction runs: in a worker thread, or inline on the event loop once proven fast.

A model that waits on I/O (an LLM API call) must never stall the event loop, so
predictions start in worker threads. A trivial model, though, spends more time
in the thread hand-off than in ``predict`` (measured with wrk, 8 connections:
~3,300 req/s through threads vs ~5,700 inline). So once the first calls have all
been fast, predictions run inline; the first inline call that turns out slow
sends every later call back to threads for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

_log = logging.getLogger("mltrail.serving")

FAST_SECONDS = 0.001  # a prediction this quick costs less than a thread hand-off
SLOW_SECONDS = 0.005  # an inline prediction this slow goes back to threads for good
PROVE_CALLS = 20  # fast calls in threads before predictions may run inline


class PredictDispatcher:
    """Runs ``fn(*args)`` in a worker thread, or inline once it has proved fast."""

    def __init__(self) -> None:
        self._fast_calls = 0  # consecutive fast predictions (updated from worker threads;
        self._inline = False  # a lost update only delays or hastens the switch slightly)
        self._never_inline = False

    @property
    def inline(self) -> bool:
        """Whether predictions currently run on the event loop."""
        return self._inline

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._inline:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                if time.perf_counter() - start > SLOW_SECONDS:
                    self._inline, self._never_inline = False, True
                    _log.info(
                        "a prediction took over %.0f ms: predictions now run in threads", SLOW_SECONDS * 1e3
                    )
        return await run_in_threadpool(self._timed, fn, *args)

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        # Times the prediction alone, in its thread: queueing for a thread must not count.
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self._learn(time.perf_counter() - start)

    def _learn(self, seconds: float) -> None:
        if self._never_inline:
            return
        if seconds > FAST_SECONDS:
            # One slow call in the trial (an LLM, a big model): stay in threads.
            self._fast_calls = 0
            self._never_inline = seconds > SLOW_SECONDS
            return
        self._fast_calls += 1
        if self._fast_calls >= PROVE_CALLS:
            self._inline = True
