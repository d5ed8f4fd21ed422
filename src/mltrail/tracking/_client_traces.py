"""``MlflowClient``'s tracing methods, and the trace-store calls the fluent tracing API shares.

Reads and tag changes go to the trace store of the client's own tracking URI
(:func:`~mltrail.tracing._store.trace_store_for`); the explicit span API
(``start_trace``/``start_span``/``end_span``/``end_trace``) builds a trace in
memory that is stored, like a fluent one, when its root span ends.

Example::

    from mltrail import MlflowClient

    client = MlflowClient()
    root = client.start_trace("agent", inputs={"q": "hi"})
    step = client.start_span("tool", trace_id=root.trace_id, parent_id=root.span_id, inputs={"x": 1})
    client.end_span(root.trace_id, step.span_id, outputs={"y": 2})
    client.end_trace(root.trace_id, outputs={"answer": "hello"})
    trace = client.get_trace(root.trace_id)
    page = client.search_traces(locations=[trace.info.experiment_id], max_results=10)
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from mltrail.entities.trace import Trace, TraceMetadataKey
from mltrail.entities.tracking import PagedList
from mltrail.exceptions import BAD_REQUEST, RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.traces import check_trace_tag
from mltrail.tracking import context

if TYPE_CHECKING:
    from mltrail.entities.trace import SpanStatus, Trace
    from mltrail.store.traces import TraceStore
    from mltrail.tracing.span import LiveSpan

_log = logging.getLogger(__name__)

# mltrail.store.traces' default, repeated so importing the client does not import the trace store.
SEARCH_TRACES_DEFAULT_MAX_RESULTS = 100
_PAGE = 500  # traces per store call while collecting a long result
_BATCH_GET = 100  # ids per batch_get_traces call
_SOURCE_RUN = TraceMetadataKey.SOURCE_RUN
_MODEL_ID = TraceMetadataKey.MODEL_ID
_FINISHED = ("OK", "ERROR")


def trace_store(tracking_uri: str | None) -> TraceStore:
    """The trace store for ``tracking_uri`` (``None``: the URI in effect), after queued traces are stored.

    Flushing first means a program always reads the traces it has just finished.
    """
    from mltrail.tracing._store import trace_store_for
    from mltrail.tracing.export import flush_trace_async_logging

    flush_trace_async_logging()
    return trace_store_for(tracking_uri)


def read_trace(tracking_uri: str | None, trace_id: str) -> Trace:
    """A stored trace with its spans (``RESOURCE_DOES_NOT_EXIST`` if unknown)."""
    if not isinstance(trace_id, str) or not trace_id:
        raise invalid(f"Invalid trace id {trace_id!r}: it must be a non-empty string")
    return trace_store(tracking_uri).get_trace(trace_id)


def set_tag(tracking_uri: str | None, trace_id: str, key: str, value: Any) -> None:
    """Set a tag on a trace still in flight, else on the stored trace."""
    from mltrail.tracing import _manual

    key, text = check_trace_tag(key, value)
    if not _manual.set_in_flight_tag(trace_id, key, text):
        trace_store(tracking_uri).set_trace_tag(trace_id, key, text)


def delete_tag(tracking_uri: str | None, trace_id: str, key: str) -> None:
    """Remove a tag from a trace still in flight, else from the stored trace."""
    from mltrail.tracing import _manual

    if not _manual.delete_in_flight_tag(trace_id, key):
        trace_store(tracking_uri).delete_trace_tag(trace_id, key)


def scoped_filter(
    filter_string: str | None, run_id: str | None = None, model_id: str | None = None
) -> str | None:
    """``filter_string`` narrowed to the traces of a run and/or a logged model (MLflow's arguments)."""
    # mltrail's grammar has OR: keep the caller's filter one term (MLflow's servers take no parentheses).
    wrap = filter_string and run_id and re.search(r"\bOR\b", filter_string, re.IGNORECASE)
    clauses = [f"({filter_string})" if wrap else filter_string] if filter_string else []
    if run_id:
        if filter_string and _SOURCE_RUN in filter_string:
            raise invalid(
                "You cannot filter by run_id when it is already part of the filter string: "
                f"remove the {_SOURCE_RUN} clause or the run_id argument"
            )
        clauses.append(f"metadata.`{_SOURCE_RUN}` = '{run_id}'")
    if model_id:
        if filter_string:
            raise invalid("Cannot specify both `model_id` and `filter_string` in a search_traces call")
        clauses.append(f"metadata.`{_MODEL_ID}` = '{model_id}'")
    return " AND ".join(clauses) or None


def collect_traces(
    store: TraceStore,
    experiment_ids: list[str],
    filter_string: str | None,
    max_results: int | None,
    order_by: list[str] | None = None,
    page_token: str | None = None,
    include_spans: bool = True,
) -> PagedList:
    """Up to ``max_results`` traces (``None``: all) from ``page_token`` on, with the next page's token.

    Infos come a page at a time; spans are then read in batches.
    """
    infos: list[Any] = []
    token = page_token
    while max_results is None or len(infos) < max_results:
        size = _PAGE if max_results is None else min(_PAGE, max_results - len(infos))
        batch, token = store.search_traces(experiment_ids, filter_string, size, order_by, token)
        infos.extend(batch)
        if not token:
            break
    if not include_spans:
        return PagedList([Trace(i) for i in infos], token)
    ids = [i.trace_id for i in infos]
    found: dict[str, Trace] = {}
    for start in range(0, len(ids), _BATCH_GET):
        found.update((t.info.trace_id, t) for t in store.batch_get_traces(ids[start : start + _BATCH_GET]))
    return PagedList([found.get(i.trace_id) or Trace(i) for i in infos], token)


def _id_list(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise invalid(f"Invalid {name} {value!r}: it must be a list of experiment ids")
    return [str(v) for v in value]


class TracingClientMixin:
    """MLflow's ``MlflowClient`` trace methods (mixed into :class:`~mltrail.tracking.client.MlflowClient`)."""

    tracking_uri: str  # provided by MlflowClient

    # ------------------------------------------------------------ stored traces
    def get_trace(self, trace_id: str, display: bool = True, flush: bool = False) -> Trace:
        """The trace with that id, spans included (``RESOURCE_DOES_NOT_EXIST`` if unknown).

        ``display`` and ``flush`` are accepted for MLflow compatibility: finished
        traces are always stored before a read.

        Example::

            trace = MlflowClient().get_trace("tr-…")
            print(trace.info.state, [s.name for s in trace.data.spans])
        """
        return read_trace(self.tracking_uri, trace_id)

    def search_traces(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_TRACES_DEFAULT_MAX_RESULTS,
        order_by: list[str] | None = None,
        page_token: str | None = None,
        run_id: str | None = None,
        include_spans: bool = True,
        model_id: str | None = None,
        locations: list[str] | None = None,
        flush: bool = False,
    ) -> PagedList:
        """Traces matching a filter in some experiments, as a ``PagedList`` (next page in ``.token``).

        ``locations`` (MLflow 3's name) or ``experiment_ids`` list the experiment
        ids; with neither, the active experiment is searched. See
        :mod:`mltrail.store.traces` for the filter grammar.

        Example::

            page = client.search_traces(locations=[exp_id], filter_string="trace.status = 'OK'", max_results=50)
            more = client.search_traces(locations=[exp_id], max_results=50, page_token=page.token)
        """
        ids = _id_list("locations", locations) or _id_list("experiment_ids", experiment_ids)
        if not ids:
            ids = [context.experiment_id(self)]  # type: ignore[arg-type]
        if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
            raise invalid(f"Invalid max_results {max_results!r}: it must be a positive integer")
        filter_string = scoped_filter(filter_string, run_id, model_id)
        return collect_traces(
            trace_store(self.tracking_uri),
            ids,
            filter_string,
            max_results,
            order_by,
            page_token,
            include_spans,
        )

    def delete_traces(
        self,
        experiment_id: str,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        trace_ids: list[str] | None = None,
    ) -> int:
        """Delete traces by id, or the oldest up to a time (at most ``max_traces``); returns how many.

        Example::

            client.delete_traces(exp_id, max_timestamp_millis=int(time.time() * 1000))
            client.delete_traces(exp_id, trace_ids=["tr-…"])
        """
        if trace_ids is not None and (isinstance(trace_ids, str) or not isinstance(trace_ids, (list, tuple))):
            raise invalid(f"Invalid trace_ids {trace_ids!r}: it must be a list of trace ids")
        if trace_ids is not None and not trace_ids and max_timestamp_millis is None:
            return 0
        return trace_store(self.tracking_uri).delete_traces(
            str(experiment_id), max_timestamp_millis, max_traces, list(trace_ids) if trace_ids else None
        )

    def set_trace_tag(self, trace_id: str, key: str, value: str) -> None:
        """Set a tag on a trace, active (started and not ended) or stored."""
        set_tag(self.tracking_uri, trace_id, key, value)

    def delete_trace_tag(self, trace_id: str, key: str) -> None:
        """Remove a tag from a trace, active or stored (``RESOURCE_DOES_NOT_EXIST`` if it has no such tag)."""
        delete_tag(self.tracking_uri, trace_id, key)

    # ------------------------------------------------------------ explicit spans
    def start_trace(
        self,
        name: str,
        span_type: str = "UNKNOWN",
        inputs: Any = None,
        attributes: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        experiment_id: str | None = None,
        start_time_ns: int | None = None,
        run_id: str | None = None,
        links: list[Any] | None = None,
    ) -> LiveSpan:
        """Start a new trace and its root span; end it with :meth:`end_trace` or it is never stored.

        The experiment is ``experiment_id``, else the active run's (when it is in
        this client's store), else the active one. ``run_id`` (or an active run)
        links the trace to a run.

        Example::

            root = client.start_trace("chat", span_type="CHAIN", inputs={"q": "hi"}, tags={"user": "ann"})
            client.end_trace(root.trace_id, outputs={"a": "hello"})
        """
        from mltrail.tracing import _manager, _manual

        current = _manager.current_span()
        if current is not None and current.trace_id:
            raise MltrailException(
                f"Another trace is already active here with ID {current.trace_id} (started by @trace or "
                "start_span). Use mltrail.start_span() or MlflowClient.start_span() with that trace's ids to "
                "add a child span, or start every parallel trace with MlflowClient.start_trace().",
                error_code=BAD_REQUEST,
            )
        if links:
            _log.warning("start_trace(links=...) is not supported: the links are not recorded")
        exp_id, source_run = self._trace_destination(experiment_id)
        run = run_id or source_run
        metadata = {_SOURCE_RUN: run} if run else None
        return _manual.start_root(
            self.tracking_uri, exp_id, name, span_type, inputs, attributes, tags, metadata, start_time_ns
        )

    def _trace_destination(self, experiment_id: str | None) -> tuple[str, str | None]:
        """The experiment a new trace goes to, and the active run it came from (if any)."""
        stack = context.run_stack()
        run = stack[-1] if stack else None
        if run is not None and run._tracking_uri != self.tracking_uri:
            run = None
        if experiment_id is not None:
            if run is not None and run.info.experiment_id != str(experiment_id):
                run = None
            return str(experiment_id), run.info.run_id if run is not None else None
        if run is not None:
            return run.info.experiment_id, run.info.run_id
        return context.experiment_id(self), None  # type: ignore[arg-type]

    def start_span(
        self,
        name: str,
        trace_id: str,
        parent_id: str,
        span_type: str = "UNKNOWN",
        inputs: Any = None,
        attributes: dict[str, Any] | None = None,
        start_time_ns: int | None = None,
        links: list[Any] | None = None,
    ) -> LiveSpan:
        """Start a span under ``parent_id`` of an active trace (started by :meth:`start_trace` or the fluent API).

        End it with :meth:`end_span`. ``RESOURCE_DOES_NOT_EXIST`` if the parent is
        not a span of an active trace.
        """
        from mltrail.tracing import _manual

        if links:
            _log.warning("start_span(links=...) is not supported: the links are not recorded")
        return _manual.start_child(name, trace_id, parent_id, span_type, inputs, attributes, start_time_ns)

    def end_span(
        self,
        trace_id: str,
        span_id: str,
        outputs: Any = None,
        attributes: dict[str, Any] | None = None,
        status: SpanStatus | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End a span started with :meth:`start_span`, setting its outputs, attributes and status."""
        from mltrail.tracing import _manual

        _manual.end_span(trace_id, span_id, outputs, attributes, status, end_time_ns)

    def end_trace(
        self,
        trace_id: str,
        outputs: Any = None,
        attributes: dict[str, Any] | None = None,
        status: SpanStatus | str = "OK",
        end_time_ns: int | None = None,
    ) -> None:
        """End a trace's root span (and any span still open) and store the trace.

        ``RESOURCE_DOES_NOT_EXIST`` for an unknown trace, ``INVALID_PARAMETER_VALUE``
        for one that has already ended.
        """
        from mltrail.tracing import _manual

        if not trace_id:  # the root is a NoOpSpan: tracing was disabled when it started
            return
        root = _manual.root_of(trace_id)
        if root is None:
            try:
                info = trace_store(self.tracking_uri).get_trace_info(trace_id)
            except MltrailException as err:
                if err.error_code != RESOURCE_DOES_NOT_EXIST:
                    raise
                raise MltrailException(
                    f"Trace with ID '{trace_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST
                ) from None
            if info.state in _FINISHED:
                raise invalid(f"Trace with ID '{trace_id}' already finished.")
            raise invalid(
                f"Trace with ID '{trace_id}' was not started in this process: it cannot be ended here."
            )
        _manual.end_root(root, outputs, attributes, status, end_time_ns)
