"""The evaluation harness: rows in a thread pool, predict_fn traced, scorers run, assessments logged.

For each row, in a pool of ``MLFLOW_GENAI_EVAL_MAX_WORKERS`` threads (MLflow's
default 10):

1. a trace for the row: the one ``predict_fn(**inputs)`` records (an untraced
   ``predict_fn`` gets a trace recorded for it, named after it), the row's own
   ``trace`` (linked to the run), or a minimal trace with one ``root_span``
   holding the row's inputs and outputs;
2. every scorer on it, in parallel (``MLFLOW_GENAI_EVAL_MAX_SCORER_WORKERS``);
3. each feedback, and each expectation the trace lacks, logged on the trace with
   metadata ``mlflow.assessment.sourceRunId`` and the root span's id.

Worker threads see the evaluation run and the model as their own active run and
model, so traces go to the run's experiment with ``mlflow.sourceRun`` and
``mlflow.modelId`` as in the caller's thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mltrail.entities.assessment import AssessmentSource, AssessmentSourceType, Expectation, Feedback
from mltrail.entities.trace import SpanAttributeKey, SpanType, Trace, TraceData, TraceMetadataKey, dump_json
from mltrail.genai.evaluation.data import EvalItem
from mltrail.genai.evaluation.scoring import run_scorers
from mltrail.tracing import _manager, _manual
from mltrail.tracing._manager import new_trace_info
from mltrail.tracing._store import trace_store_for
from mltrail.tracing.export import synchronous_export
from mltrail.tracking import _model_context
from mltrail.tracking.context import run_stack

_log = logging.getLogger(__name__)

MAX_WORKERS_ENV = "MLFLOW_GENAI_EVAL_MAX_WORKERS"
SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"
EVAL_REQUEST_ID_TAG = "mlflow.eval.requestId"
#: Trace tags a dataset row may not set (MLflow's IMMUTABLE_TAGS).
_IMMUTABLE_TAGS = frozenset(
    {
        "mlflow.user",
        "mlflow.artifactLocation",
        "mlflow.trace.spansLocation",
        "mlflow.trace.archiveLocation",
        "mlflow.trace.archivalFailure",
    }
)
_LINK_BATCH = 100  # trace ids per link-to-run call, MLflow's cap per request


def max_workers() -> int:
    """``MLFLOW_GENAI_EVAL_MAX_WORKERS`` (MLflow's default: 10)."""
    return max(1, int(os.environ.get(MAX_WORKERS_ENV) or 10))


@contextlib.contextmanager
def worker_context(run: Any, model_id: str | None) -> Iterator[None]:
    """For one row: ``run`` (and ``model_id``) as this worker thread's active run (and model), traces stored at once."""
    stack = run_stack()
    stack.append(run)
    previous = _model_context.current()
    if model_id:
        _model_context.set_active_model_id(model_id)
    try:
        with synchronous_export():  # the row's trace is read back at once
            yield
    finally:
        if stack and stack[-1] is run:
            stack.pop()
        _model_context.restore(previous)


class RowEvaluator:
    """Everything one row needs: the run, the model, the predict function and the scorers."""

    def __init__(
        self,
        run: Any,
        model_id: str | None,
        predict_fn: Callable[..., Any] | None,
        scorers: list[Any],
        user: str,
    ) -> None:
        self.run = run
        self.run_id = run.info.run_id
        self.experiment_id = run.info.experiment_id
        self.tracking_uri = run._tracking_uri
        self.model_id = model_id
        self.predict_fn = predict_fn
        self.scorers = scorers
        self.user = user

        # The store itself, not the fluent calls: those wait for every queued trace of the process first.
        self.store = trace_store_for(self.tracking_uri)

    # ------------------------------------------------------------- traces
    def _metadata(self) -> dict[str, str]:
        meta = {TraceMetadataKey.SOURCE_RUN: self.run_id}
        if self.model_id:
            meta[TraceMetadataKey.MODEL_ID] = self.model_id
        return meta

    def _record_trace(
        self,
        name: str,
        span_type: str,
        inputs: Any,
        outputs: Any,
        start_ns: int,
        error: BaseException | None = None,
    ) -> str | None:
        """Record a one-span trace (a minimal trace, or the trace of an untraced predict_fn)."""
        root = _manual.start_root(
            self.tracking_uri,
            self.experiment_id,
            name,
            span_type,
            inputs=inputs,
            tags={EVAL_REQUEST_ID_TAG: uuid.uuid4().hex},
            metadata=self._metadata(),
            start_time_ns=start_ns,
        )
        if error is not None:
            root.record_exception(error)  # marks the span ERROR
        root.end(outputs=outputs)
        return getattr(root, "trace_id", None) or None

    def _predict(self, item: EvalItem) -> str | None:
        before = _manager.last_trace_id(thread_local=True)
        start = time.time_ns()
        error: BaseException | None = None
        try:
            item.outputs = self.predict_fn(**(item.inputs or {}))
        except Exception as exc:
            error = exc
            item.error_message = f"Failed to invoke the predict_fn with {item.inputs}: {exc}"
        after = _manager.last_trace_id(thread_local=True)
        if after is not None and after != before:
            return after
        name = getattr(self.predict_fn, "__name__", "predict_fn")
        return self._record_trace(name, SpanType.UNKNOWN, item.inputs, item.outputs, start, error)

    def _trace_for(self, item: EvalItem) -> Trace | None:
        if self.predict_fn is not None:
            trace_id = self._predict(item)
        elif item.trace is not None:
            if str(item.trace.info.experiment_id) != str(self.experiment_id):
                return self._clone(item.trace)
            return item.trace  # linked to the run in one batch at the end
        else:
            trace_id = self._record_trace(
                "root_span", SpanType.CHAIN, item.inputs, item.outputs, time.time_ns()
            )
        if not trace_id:
            return None
        try:
            return self.store.get_trace(trace_id)
        except Exception as exc:  # e.g. tracing disabled, or the export failed: score without a trace
            _log.warning("Could not read back the trace %s of an evaluation row: %s", trace_id, exc)
            return None

    def _clone(self, trace: Trace) -> Trace | None:
        """A copy of a trace of another experiment in the run's, with a new id (MLflow clones too).

        User tags and the metadata are copied, the copy's source run being the
        evaluation run; assessments are not (the row's expectations are logged
        on the copy like any row's).
        """
        import dataclasses

        old = trace.info
        root = trace.data.root
        info = new_trace_info(
            root.name if root else "root_span",
            str(self.experiment_id),
            tags={k: v for k, v in old.tags.items() if not k.startswith("mlflow.")},
            metadata={**old.trace_metadata, **self._metadata()},
        )
        new_id = info.trace_id
        info.request_time, info.execution_duration, info.state = (
            old.request_time,
            old.execution_duration,
            old.state,
        )
        info.request_preview, info.response_preview = old.request_preview, old.response_preview
        spans = [
            dataclasses.replace(
                s,
                trace_id=new_id,
                raw_attributes={**s.raw_attributes, SpanAttributeKey.REQUEST_ID: dump_json(new_id)},
            )
            for s in trace.data.spans
        ]
        try:
            self.store.log_traces([Trace(info, TraceData(spans))])
            return self.store.get_trace(new_id)
        except Exception as exc:  # score the row without a trace rather than fail the evaluation
            _log.warning("Failed to clone trace %s to the current experiment: %s", old.trace_id, exc)
            return None

    # ------------------------------------------------------------- a row
    def evaluate(self, item: EvalItem) -> list[Feedback]:
        """Trace, score and log one row; returns its feedbacks (errors included)."""
        with worker_context(self.run, self.model_id):
            item.trace = self._trace_for(item)
        feedbacks = run_scorers(self.scorers, item.inputs, item.outputs, item.expectations, item.trace)
        if item.trace is not None:
            self._log(item, feedbacks)
        return feedbacks

    def _new_expectations(self, item: EvalItem) -> list[Expectation]:
        have = {a.name for a in (item.trace.info.assessments or []) if a.expectation is not None}
        source = AssessmentSource(AssessmentSourceType.HUMAN, self.user or "unknown")
        return [
            Expectation(name=str(k), value=v, source=source)
            for k, v in (item.expectations or {}).items()
            if k not in have and v is not None
        ]

    def _log(self, item: EvalItem, feedbacks: list[Feedback]) -> None:
        trace_id = item.trace.info.trace_id
        for key in set(item.tags) - _IMMUTABLE_TAGS:
            try:
                self.store.set_trace_tag(trace_id, key, str(item.tags[key]))
            except Exception as exc:
                _log.warning("Failed to log tag %s to the trace: %s", key, exc)
        root = item.trace.data.root
        for assessment in [*feedbacks, *self._new_expectations(item)]:
            assessment.trace_id = trace_id
            assessment["metadata"] = {**(assessment.metadata or {}), SOURCE_RUN_ID_KEY: self.run_id}
            if root is not None:
                assessment["span_id"] = root.span_id
            try:
                self.store.create_assessment(assessment)
            except Exception as exc:  # one bad assessment must not lose the row's others
                _log.warning("Failed to log assessment %r on trace %s: %s", assessment.name, trace_id, exc)


def evaluate_rows(evaluator: RowEvaluator, items: list[EvalItem]) -> list[list[Feedback]]:
    """Every row through ``evaluator`` in a pool of :func:`max_workers` threads, results in row order."""
    with ThreadPoolExecutor(max_workers(), thread_name_prefix="MltrailGenAIEval") as pool:
        return list(pool.map(evaluator.evaluate, items))


def link_traces(evaluator: RowEvaluator, trace_ids: list[str]) -> None:
    """Link the rows' traces to the run (``traces/link-to-run``), in batches of 100."""
    for start in range(0, len(trace_ids), _LINK_BATCH):
        try:
            evaluator.store.link_traces_to_run(trace_ids[start : start + _LINK_BATCH], evaluator.run_id)
        except Exception as exc:
            _log.warning("Failed to link a batch of traces to run %s: %s", evaluator.run_id, exc)


def read_traces(evaluator: RowEvaluator, trace_ids: list[str]) -> list[Trace]:
    """The rows' traces as stored now (with every assessment), in row order."""
    found: dict[str, Trace] = {}
    for start in range(0, len(trace_ids), _LINK_BATCH):
        for trace in evaluator.store.batch_get_traces(trace_ids[start : start + _LINK_BATCH]):
            found[trace.info.trace_id] = trace
    return [found[t] for t in trace_ids if t in found]
