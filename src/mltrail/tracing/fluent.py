"""MLflow's tracing functions: ``@trace``, ``start_span``, ``get_trace``, ``search_traces`` …

Example::

    import mltrail as mlflow

    @mlflow.trace(span_type="CHAIN")
    def answer(question: str) -> str:
        with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
            span.set_inputs({"query": question})
            span.set_outputs(["doc1"])
        return "42"

    answer("meaning of life?")
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

from mltrail import _exported_by
from mltrail.entities.trace import SpanAttributeKey, SpanType, Trace, TraceMetadataKey
from mltrail.exceptions import MltrailException, invalid
from mltrail.tracing import _manager
from mltrail.tracing._dataframe import traces_to_dataframe
from mltrail.tracing.export import flush_trace_async_logging as _flush_traces
from mltrail.tracing.span import LiveSpan, NoOpSpan

_log = logging.getLogger(__name__)

# The public names are listed once, in mltrail/__init__.py's lazy table.
__all__ = _exported_by(__name__)


def _inputs(fn: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by name, defaults filled in, ``self``/``cls`` left out."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
    except (TypeError, ValueError):
        return {"args": list(args), **kwargs}
    out = dict(bound.arguments)
    for skip in ("self", "cls"):
        out.pop(skip, None)
    return out


def _fail(span: LiveSpan, exc: BaseException) -> None:
    span.record_exception(exc)
    span.end()


def trace(func: Callable[..., Any] | None = None, name: str | None = None, span_type: str = SpanType.UNKNOWN,
          attributes: dict[str, Any] | None = None, output_reducer: Callable[[list], Any] | None = None) -> Any:
    """Trace every call of a function: a span with its inputs, output, timing and errors.

    Works on plain, ``async``, generator and async-generator functions (a
    generator's span lasts until it is exhausted; its output is the list of
    items, or ``output_reducer(items)``). Use bare (``@trace``) or with
    arguments (``@trace(name="x", span_type="TOOL", attributes={...})``).
    """
    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        span_name = name or getattr(fn, "__name__", "span")

        def begin(args: tuple, kwargs: dict) -> LiveSpan:
            span = _manager.start_span(span_name, span_type, inputs=_inputs(fn, args, kwargs), attributes=attributes)
            if not isinstance(span, NoOpSpan):
                span.set_attribute(SpanAttributeKey.FUNCTION_NAME, getattr(fn, "__name__", span_name))
            return span

        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                span = begin(args, kwargs)
                items: list[Any] = []
                gen = fn(*args, **kwargs)
                try:
                    while True:
                        token = _manager.set_current(span)
                        try:
                            item = await gen.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            _manager.reset_current(token)
                        items.append(item)
                        yield item
                except GeneratorExit:  # the caller stopped early: not an error
                    span.end(outputs=output_reducer(items) if output_reducer else items)
                    raise
                except BaseException as exc:
                    _fail(span, exc)
                    raise
                span.end(outputs=output_reducer(items) if output_reducer else items)

            return agen_wrapper

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                span = begin(args, kwargs)
                items: list[Any] = []
                gen = fn(*args, **kwargs)
                try:
                    while True:
                        token = _manager.set_current(span)
                        try:
                            item = next(gen)
                        except StopIteration:
                            break
                        finally:
                            _manager.reset_current(token)
                        items.append(item)
                        yield item
                except GeneratorExit:  # the caller stopped early: not an error
                    span.end(outputs=output_reducer(items) if output_reducer else items)
                    raise
                except BaseException as exc:
                    _fail(span, exc)
                    raise
                span.end(outputs=output_reducer(items) if output_reducer else items)

            return gen_wrapper

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                span = begin(args, kwargs)
                token = _manager.set_current(span)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    _manager.reset_current(token)
                    _fail(span, exc)
                    raise
                _manager.reset_current(token)
                span.end(outputs=result)
                return result

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            span = begin(args, kwargs)
            token = _manager.set_current(span)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _manager.reset_current(token)
                _fail(span, exc)
                raise
            _manager.reset_current(token)
            span.end(outputs=result)
            return result

        return wrapper

    if func is not None:
        return decorator(func)
    return decorator


@contextlib.contextmanager
def start_span(name: str = "span", span_type: str | None = SpanType.UNKNOWN,
               attributes: dict[str, Any] | None = None) -> Iterator[LiveSpan]:
    """A span around a block: ``with start_span("step", span_type="TOOL") as span: ...``.

    The span is a child of the current span (or starts a new trace); an
    exception in the block marks it ERROR with an ``exception`` event and
    propagates.
    """
    span = _manager.start_span(name, span_type, attributes=attributes)
    token = _manager.set_current(span)
    try:
        yield span
    except BaseException as exc:
        _manager.reset_current(token)
        _fail(span, exc)
        raise
    _manager.reset_current(token)
    span.end()


def get_current_active_span() -> LiveSpan | None:
    """The span of the innermost ``@trace``/``start_span`` running here, or ``None``."""
    return _manager.current_span()


def get_last_active_trace_id(thread_local: bool = False) -> str | None:
    """The id of the last trace that finished in this process (or this thread)."""
    return _manager.last_trace_id(thread_local)


def update_current_trace(tags: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                         client_request_id: str | None = None, request_preview: str | None = None,
                         response_preview: str | None = None, state: str | None = None,
                         model_id: str | None = None, session_id: str | None = None,
                         user: str | None = None) -> None:
    """Add tags/metadata (or set previews, state) on the trace of the current span.

    ``session_id`` and ``user`` are MLflow's ``mlflow.trace.session`` /
    ``mlflow.trace.user`` metadata: the conversation and the end user the
    trace belongs to (the Sessions page groups by them; ``search_traces``
    filters with ``metadata.`mlflow.trace.session` = '...'`` or ``trace.session = '...'``).

    Example::

        mltrail.update_current_trace(session_id="chat-42", user="ana@example.com")
    """
    metadata = dict(metadata or {})
    if model_id is not None:
        metadata[TraceMetadataKey.MODEL_ID] = str(model_id)
    if session_id is not None:
        metadata[TraceMetadataKey.TRACE_SESSION] = str(session_id)
    if user is not None:
        metadata[TraceMetadataKey.TRACE_USER] = str(user)
    if state is not None and state not in ("OK", "ERROR"):
        raise invalid(f"Invalid trace state {state!r}: use 'OK' or 'ERROR'")
    span = _manager.current_span()
    if span is None or isinstance(span, NoOpSpan):
        _log.warning("No active trace: update_current_trace() must be called inside a traced function or span")
        return
    _manager.update_trace(span.trace_id, tags=tags, metadata=metadata, client_request_id=client_request_id,
                          request_preview=request_preview, response_preview=response_preview, state=state)


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is stored."""
    _flush_traces(terminate)


def get_trace(trace_id: str, silent: bool = False) -> Trace | None:
    """A trace by id with its spans, or ``None`` (with a warning) when there is no such trace."""
    from mltrail.tracking._client_traces import read_trace

    try:
        return read_trace(None, trace_id)
    except MltrailException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        if not silent:
            _log.warning("Trace %s not found: %s", trace_id, err.message)
        return None


def set_trace_tag(trace_id: str, key: str, value: str) -> None:
    """Set a tag on a trace, active or stored."""
    from mltrail.tracking._client_traces import set_tag

    set_tag(None, trace_id, key, value)


def delete_trace_tag(trace_id: str, key: str) -> None:
    """Remove a tag from a trace, active or stored."""
    from mltrail.tracking._client_traces import delete_tag

    delete_tag(None, trace_id, key)


def _default_experiment_ids() -> list[str]:
    from mltrail.tracking import context  # lazy: keeps `import mltrail.tracing` from loading the client

    return [context.experiment_id()]


def search_traces(experiment_ids: list[str] | None = None, filter_string: str | None = None,
                  max_results: int | None = None, order_by: list[str] | None = None,
                  extract_fields: list[str] | None = None, run_id: str | None = None,
                  return_type: str | None = None, model_id: str | None = None,
                  include_spans: bool = True, locations: list[str] | None = None, **_ignored: Any) -> Any:
    """Traces matching a filter, as a pandas DataFrame (default when pandas is installed) or a list.

    ``experiment_ids`` (or ``locations``) default to the active experiment;
    ``run_id`` keeps the traces created inside that run, ``model_id`` those of
    a logged model. See :mod:`mltrail.store.traces` for the filter grammar.
    """
    from mltrail.tracking._client_traces import collect_traces, scoped_filter, trace_store

    if return_type not in (None, "pandas", "list"):
        raise invalid(f"Invalid return_type {return_type!r}: use 'pandas' or 'list'")
    if max_results is not None and (not isinstance(max_results, int) or max_results < 1):
        raise invalid(f"Invalid max_results {max_results!r}: it must be a positive integer")
    ids = [str(e) for e in (experiment_ids or locations or _default_experiment_ids())]
    filter_string = scoped_filter(filter_string, run_id, model_id)
    traces = list(collect_traces(trace_store(None), ids, filter_string, max_results, order_by,
                                 include_spans=include_spans))
    if return_type == "list":
        return traces
    if return_type is None:
        try:
            import pandas  # noqa: F401
        except ImportError:
            return traces

    return traces_to_dataframe(traces, extract_fields)


def get_trace_totals(experiment_ids: list[str] | None = None, run_id: str | None = None,
                     filter_string: str | None = None) -> dict[str, Any]:
    """Trace count, tokens and cost (USD) summed over traces: an experiment's, a run's, or any filter's.

    Answers ``{"trace_count", "input_tokens", "output_tokens", "total_tokens",
    "input_cost", "output_cost", "total_cost"}`` from the store (one SQL query,
    embedded or on the server). ``experiment_ids`` default to the active experiment.

    Example::

        mltrail.tracing.get_trace_totals(run_id=run.info.run_id)["total_cost"]
        mltrail.tracing.get_trace_totals(filter_string="trace.session = 'chat-42'")
    """
    from mltrail.tracking._client_traces import trace_store

    ids = [str(e) for e in (experiment_ids or _default_experiment_ids())]
    clauses = [f"({filter_string})"] if filter_string else []  # parenthesised: the filter may hold OR
    if run_id:
        clauses.append("trace.run_id = '" + str(run_id).replace("'", "''") + "'")
    return trace_store(None).trace_totals(ids, " AND ".join(clauses) or None)


def search_sessions(experiment_ids: list[str] | None = None, filter_string: str | None = None,
                    max_results: int = 100, page_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The sessions (``mlflow.trace.session``) of experiments, most recent first, and the next page's token.

    Each is a dict with ``session_id``, ``user``, ``trace_count`` (turns),
    ``first_timestamp_ms``, ``last_timestamp_ms``, ``error_count`` and the token
    and cost totals; ``filter_string`` picks the traces first (e.g. ``trace.user = 'ana'``).

    Example::

        sessions, token = mltrail.tracing.search_sessions(filter_string="trace.user = 'ana'")
    """
    from mltrail.tracking._client_traces import trace_store

    ids = [str(e) for e in (experiment_ids or _default_experiment_ids())]
    return trace_store(None).session_summaries(ids, filter_string, max_results, page_token)
