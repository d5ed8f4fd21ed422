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

Live traces: a trace that is still running once ``MLTRAIL_TRACE_LIVE_INTERVAL_MS``
(default 1000) have passed since it started is sent as it stands: its info
(``IN_PROGRESS``, with the tags and metadata set so far, e.g. the session and
user of ``update_current_trace``) with the store's ``start_trace``, and its
root span (still running: no end time) with the spans that have ended, with
``log_spans`` (``POST /v1/traces`` on a server, which MLflow 3's server accepts
too). Then, at that interval, whatever changed: the spans that ended since and
the info when its tags or metadata changed. So the trace shows ``IN_PROGRESS``
in the UI, its root first, and grows there. A trace that ends sooner costs
nothing extra (nothing is sent until the whole trace is stored once), which
keeps short calls as cheap as before. ``MLTRAIL_TRACE_LIVE_EXPORT=false`` turns
this off; a store that refuses a live write is not asked again.

Only mltrail stores get live writes: before the first one to a tracking server the
exporter asks the store (``accepts_live_traces``: one ``GET /version`` per server,
which ``mltrail server`` answers with an ``X-Mltrail-Version`` header). A real MLflow
server would show the early trace as finished (OK, 0 s) until it ends, so it gets
each trace whole, once, as without live export.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mltrail.entities.trace import Span, Trace, TraceInfo

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


#: What a running trace looks like now: its info and its root span, or None once it has ended.
Snapshot = Callable[[], "tuple[TraceInfo, Span] | None"]


@dataclass
class _Pending:
    """A running trace's live export: the spans that ended since the last write, and what was sent."""

    trace_id: str
    tracking_uri: str
    experiment_id: str
    due: float
    snapshot: Snapshot
    spans: list[LiveSpan] = field(default_factory=list)  # frozen (to_span) by the export thread
    sent_info: tuple | None = None  # the info's fingerprint at the last write (None: not sent yet)
    sent_root: tuple | None = None  # the root span's, likewise


def _info_mark(info: TraceInfo) -> tuple:
    return (
        tuple(sorted(info.tags.items())),
        tuple(sorted(info.trace_metadata.items())),
        info.client_request_id,
        info.request_preview,
        info.response_preview,
    )


def _root_mark(root: Span) -> tuple:
    return (root.name, root.end_time_ns, root.status_code, tuple(sorted(root.raw_attributes.items())))


class TraceExporter:
    """A queue of ``(tracking_uri, trace)`` written by one background thread, plus live span batches."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Trace]] = deque()
        self._pending: dict[str, _Pending] = {}
        self._no_live: set[str] = set()  # tracking URIs whose store refused log_spans or live traces
        self._live_ok: set[str] = set()  # tracking URIs whose store said it takes running traces
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

    def submit_start(self, tracking_uri: str, experiment_id: str, trace_id: str, snapshot: Snapshot) -> None:
        """Watch a trace that just started: if it still runs after one interval, send it as it stands.

        ``snapshot`` is called on the export thread; it returns the trace's info and root span
        now, or None when the trace has ended (the whole trace is then on its way).
        """
        if tracking_uri in self._no_live or not _live_enabled():
            return
        due = time.monotonic() + _live_interval()
        with self._cond:
            # No notify: waking the export thread for each trace costs the traced code more than the
            # thread's own look at the running traces once per interval (see _run).
            self._pending[trace_id] = _Pending(trace_id, tracking_uri, experiment_id, due, snapshot)
            self._ensure_thread()

    def submit_span(self, span: LiveSpan) -> None:
        """Queue a span that ended while its trace still runs, for the trace's next live write."""
        with self._cond:
            pending = self._pending.get(span.trace_id)
            if pending is not None:  # None: live export was off when the trace started, or it ended
                pending.spans.append(span)

    def _due_spans(self) -> list[tuple[_Pending, list[LiveSpan]]]:
        """The running traces whose time has come, with their new spans (caller holds the lock)."""
        now = time.monotonic()
        interval = _live_interval()
        out = []
        for pending in self._pending.values():
            if pending.due <= now:
                out.append((pending, pending.spans))
                pending.spans = []
                pending.due = now + interval
        return out

    def _next_due(self) -> float | None:
        return min((p.due for p in self._pending.values()), default=None)

    def _write_live(self, batches: list[tuple[_Pending, list[LiveSpan]]]) -> None:
        """Send what changed in each due trace: ``start_trace`` per changed info, one ``log_spans`` per experiment."""
        groups: dict[tuple[str, str], list[tuple[_Pending, tuple, list[Span]]]] = {}
        for pending, ended in batches:
            uri = pending.tracking_uri
            if uri in self._no_live or not self._accepts_live(uri):
                continue
            try:
                now = pending.snapshot()
            except Exception as err:  # never let a snapshot stop the export thread
                _log.debug("Live snapshot of trace %s failed: %s", pending.trace_id, err)
                now = None
            if now is None:  # ended meanwhile (the whole trace follows in the queue) or dropped
                with self._cond:
                    if self._pending.get(pending.trace_id) is pending:
                        del self._pending[pending.trace_id]
                continue
            info, root = now
            root_mark = _root_mark(root)
            spans = [s.to_span() for s in ended]
            if root_mark != pending.sent_root:
                spans.insert(0, root)
            info_mark = _info_mark(info)
            if info_mark != pending.sent_info and not self._live_call(uri, "start_trace", info):
                continue
            pending.sent_info = info_mark
            groups.setdefault((uri, pending.experiment_id), []).append((pending, root_mark, spans))
        for (uri, exp_id), items in groups.items():
            spans = [s for _p, _m, group in items for s in group]
            if spans and not self._live_call(uri, "log_spans", exp_id, spans):
                continue
            for pending, root_mark, _spans in items:
                pending.sent_root = root_mark

    def _accepts_live(self, uri: str) -> bool:
        """Whether the store at ``uri`` takes running traces (asked once; no is remembered)."""
        if uri in self._live_ok:
            return True
        from mltrail.tracing._store import trace_store_for

        try:
            accepts = trace_store_for(uri).accepts_live_traces()
        except Exception as err:
            _log.debug("Live trace export to %s is off: %s", uri, err)
            accepts = False
        if accepts:
            self._live_ok.add(uri)
        else:
            self._no_live.add(uri)
        return accepts

    def _live_call(self, uri: str, method: str, *args: object) -> bool:
        """Run one live write (a trace store method); a store that refuses is not asked again in this process."""
        from mltrail.tracing._store import trace_store_for

        if uri in self._no_live:
            return False
        try:
            getattr(trace_store_for(uri), method)(*args)
            return True
        except Exception as err:  # a store without these calls: stay quiet, send whole traces only
            self._no_live.add(uri)
            _log.debug("Live trace export to %s is off: %s", uri, err)
            return False

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
