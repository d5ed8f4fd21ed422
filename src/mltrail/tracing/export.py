"""Storing finished traces in the background, in batches.

One daemon thread drains a queue of finished traces and writes each batch to
its tracking store with one ``log_traces`` call (one transaction on SQL). The
queue is flushed at interpreter exit and before reads (``get_trace``,
``search_traces``), so a program always reads its own traces. Set
``MLTRAIL_ENABLE_ASYNC_TRACE_LOGGING=false`` (or MLflow's
``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING``) to store each trace before the traced
call returns. A failed export is logged, never raised into the traced code.

OpenTelemetry collectors: with ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_ENDPOINT``, to which ``/v1/traces`` is appended) set,
spans are sent there as OTLP/HTTP JSON instead of to the tracking store
(headers from ``OTEL_EXPORTER_OTLP[_TRACES]_HEADERS``, ``k=v,k2=v2``); with
``MLFLOW_TRACE_ENABLE_OTLP_DUAL_EXPORT=true`` they go to both, as in MLflow.

Live traces: while a trace runs, the spans that have ended are sent with the
store's ``log_spans`` (``POST /v1/traces`` on a server, which MLflow 3's server
accepts too), batched per trace, once a trace has run for
``MLTRAIL_TRACE_LIVE_INTERVAL_MS`` (default 1000) and then at that interval; so
the trace shows ``IN_PROGRESS`` in the UI and grows there. A trace that ends
sooner costs nothing extra: its pending spans are dropped and the whole trace is
stored once. ``MLTRAIL_TRACE_LIVE_EXPORT=false`` turns this off; a store that
refuses ``log_spans`` is not asked again.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mltrail.entities.trace import Span, Trace

if TYPE_CHECKING:
    from mltrail.tracing.span import LiveSpan

_log = logging.getLogger(__name__)
MAX_BATCH = 100
# Set by synchronous_export(): traces finished in this context are stored before the traced call returns.
_sync_export: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mltrail_sync_trace_export", default=False
)


@contextlib.contextmanager
def synchronous_export() -> Iterator[None]:
    """Store the traces finished in this thread (or task) at once, as MLflow does while evaluating.

    ``genai.evaluate`` reads each row's trace right after ``predict_fn``
    returns; waiting for the shared queue instead would make its worker
    threads wait for each other.
    """
    token = _sync_export.set(True)
    try:
        yield
    finally:
        _sync_export.reset(token)


def _async_enabled() -> bool:
    for var in ("MLTRAIL_ENABLE_ASYNC_TRACE_LOGGING", "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"):
        value = os.environ.get(var)
        if value:
            return value.strip().lower() not in ("0", "false", "no", "off")
    return True


def _live_interval() -> float:
    """Seconds between live span exports of a running trace."""
    try:
        return max(0.01, float(os.environ.get("MLTRAIL_TRACE_LIVE_INTERVAL_MS") or 1000) / 1000)
    except ValueError:
        return 1.0


def _live_enabled() -> bool:
    value = os.environ.get("MLTRAIL_TRACE_LIVE_EXPORT")
    if value and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    endpoint_only = otlp_endpoint() and not _truthy(os.environ.get("MLFLOW_TRACE_ENABLE_OTLP_DUAL_EXPORT"))
    return not endpoint_only and not _sync_export.get() and _async_enabled()


@dataclass
class _Pending:
    """Ended spans of a running trace, waiting for their live export."""

    tracking_uri: str
    experiment_id: str
    due: float
    spans: list[LiveSpan] = field(default_factory=list)  # frozen (to_span) by the export thread


class TraceExporter:
    """A queue of ``(tracking_uri, trace)`` written by one background thread, plus live span batches."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Trace]] = deque()
        self._pending: dict[str, _Pending] = {}
        self._no_live: set[str] = set()  # tracking URIs whose store refused log_spans
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, tracking_uri: str, trace: Trace) -> None:
        """Queue a finished trace (or store it now when async logging is off)."""
        with self._cond:
            self._pending.pop(trace.info.trace_id, None)  # the whole trace carries them
        if _sync_export.get() or not _async_enabled():
            self._write([(tracking_uri, trace)])
            return
        with self._cond:
            self._queue.append((tracking_uri, trace))
            self._ensure_thread()
            self._cond.notify_all()

    def submit_span(self, tracking_uri: str, experiment_id: str, span: LiveSpan) -> None:
        """Queue a span that ended while its trace still runs, for the trace's next live export."""
        with self._cond:
            pending = self._pending.get(span.trace_id)
            if pending is not None:  # the settings were read at the trace's first span
                pending.spans.append(span)
                return
        if tracking_uri in self._no_live or not _live_enabled():
            return
        due = time.monotonic() + _live_interval()
        with self._cond:
            # No notify: waking the export thread for each trace costs the traced code more than the
            # thread's own look at the pending traces once per interval (see _run).
            self._pending.setdefault(span.trace_id, _Pending(tracking_uri, experiment_id, due)).spans.append(
                span
            )
            self._ensure_thread()

    def _due_spans(self) -> list[_Pending]:
        """Pop the live batches whose time has come (caller holds the lock)."""
        now = time.monotonic()
        due = [t for t, p in self._pending.items() if p.due <= now]
        return [self._pending.pop(t) for t in due]

    def _next_due(self) -> float | None:
        return min((p.due for p in self._pending.values()), default=None)

    def _write_live(self, batches: list[_Pending]) -> None:
        from mltrail.tracing._store import trace_store_for

        groups: dict[tuple[str, str], list[Span]] = {}
        for p in batches:
            groups.setdefault((p.tracking_uri, p.experiment_id), []).extend(s.to_span() for s in p.spans)
        for (uri, exp_id), spans in groups.items():
            if uri in self._no_live:
                continue
            try:
                trace_store_for(uri).log_spans(exp_id, spans)
            except Exception as err:  # a store without log_spans: stay quiet, send whole traces only
                self._no_live.add(uri)
                _log.debug("Live span export to %s is off: %s", uri, err)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="mltrail-trace-export", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    due = self._next_due()
                    if due is not None and due <= time.monotonic():
                        break
                    # Live spans are queued without a notify: look again within one interval at most.
                    wait = _live_interval() if due is None else due - time.monotonic()
                    self._cond.wait(min(wait, _live_interval()))
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                live = self._due_spans()
                self._busy = True
            try:
                if live:
                    self._write_live(live)
                if batch:
                    self._write(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    @staticmethod
    def _write(batch: list[tuple[str, Trace]]) -> None:
        from mltrail.tracing._store import trace_store_for

        endpoint = otlp_endpoint()
        if endpoint:
            _send_otlp(endpoint, [trace for _uri, trace in batch])
            if not _truthy(os.environ.get("MLFLOW_TRACE_ENABLE_OTLP_DUAL_EXPORT")):
                return
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


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def otlp_endpoint() -> str | None:
    """The OTLP/HTTP traces URL from OpenTelemetry's environment variables, if any."""
    url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if url:
        return url
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{base.rstrip('/')}/v1/traces" if base else None


def _otlp_headers() -> dict[str, str]:
    raw = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS")
        or ""
    )
    headers = {"Content-Type": "application/json"}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            from urllib.parse import unquote

            headers[key.strip()] = unquote(value.strip())
    return headers


def _send_otlp(endpoint: str, traces: list[Trace]) -> None:
    """POST the traces' spans to an OTLP/HTTP collector as JSON (one request per experiment)."""
    import httpx
    import msgspec

    from mltrail.entities.trace_otlp import spans_to_otlp_json

    by_exp: dict[str, list] = {}
    for trace in traces:
        by_exp.setdefault(trace.info.experiment_id, []).extend(trace.data.spans)
    for exp_id, spans in by_exp.items():
        headers = {**_otlp_headers(), "x-mlflow-experiment-id": exp_id}
        try:
            resp = httpx.post(
                endpoint, content=msgspec.json.encode(spans_to_otlp_json(spans)), headers=headers, timeout=30
            )
            if resp.status_code >= 300:
                _log.warning(
                    "OTLP endpoint %s answered HTTP %s: %s", endpoint, resp.status_code, resp.text[:200]
                )
        except httpx.HTTPError as err:
            _log.warning("Failed to send %d span(s) to OTLP endpoint %s: %s", len(spans), endpoint, err)


_exporter = TraceExporter()


def get_exporter() -> TraceExporter:
    return _exporter


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is stored (MLflow's name)."""
    _exporter.flush()


atexit.register(flush_trace_async_logging)
