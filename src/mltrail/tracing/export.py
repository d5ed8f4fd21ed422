"""Storing finished traces in the background, in batches.

One daemon thread drains a queue of finished traces and writes each batch to
its tracking store with one ``log_traces`` call (one transaction on SQL). The
queue is flushed at interpreter exit and before reads (``get_trace``,
``search_traces``), so a program always reads its own traces. Set
``MLTRAIL_ENABLE_ASYNC_TRACE_LOGGING=false`` (or MLflow's
``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING``) to store each trace before the traced
call returns. A failed export is logged, never raised into the traced code.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque

from mltrail.entities.trace import Trace

_log = logging.getLogger(__name__)
MAX_BATCH = 100


def _async_enabled() -> bool:
    for var in ("MLTRAIL_ENABLE_ASYNC_TRACE_LOGGING", "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"):
        value = os.environ.get(var)
        if value:
            return value.strip().lower() not in ("0", "false", "no", "off")
    return True


class TraceExporter:
    """A queue of ``(tracking_uri, trace)`` written by one background thread."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Trace]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, tracking_uri: str, trace: Trace) -> None:
        """Queue a finished trace (or store it now when async logging is off)."""
        if not _async_enabled():
            self._write([(tracking_uri, trace)])
            return
        with self._cond:
            self._queue.append((tracking_uri, trace))
            self._ensure_thread()
            self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="mltrail-trace-export", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                self._busy = True
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    @staticmethod
    def _write(batch: list[tuple[str, Trace]]) -> None:
        from mltrail.tracing._store import trace_store_for

        by_uri: dict[str, list[Trace]] = {}
        for uri, trace in batch:
            by_uri.setdefault(uri, []).append(trace)
        for uri, traces in by_uri.items():
            try:
                trace_store_for(uri).log_traces(traces)
            except Exception as err:  # tracing must never break the traced program
                _log.warning("Failed to store %d trace(s) at %s: %s", len(traces), uri, err)

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until every queued trace is stored (or ``timeout`` seconds pass)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue and not self._busy, timeout=timeout)


_exporter = TraceExporter()


def get_exporter() -> TraceExporter:
    return _exporter


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is stored (MLflow's name)."""
    _exporter.flush()


atexit.register(flush_trace_async_logging)
