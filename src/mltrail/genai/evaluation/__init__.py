"""``mltrail.genai.evaluate``: MLflow 3.17's GenAI evaluation harness.

Example::

    import mltrail as mlflow
    from mltrail.genai.scorers import scorer

    @scorer
    def exact(outputs, expectations):
        return outputs == expectations["expected"]

    result = mlflow.genai.evaluate(
        data=[{"inputs": {"q": "2+2"}, "expectations": {"expected": "4"}}],
        predict_fn=lambda q: "4",
        scorers=[exact],
    )
    result.metrics  # {"exact/mean": 1.0}

See ``docs/genai-evaluation.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from mltrail.data import from_pandas, to_dataset_input
from mltrail.exceptions import invalid
from mltrail.genai.evaluation.data import DATASET_IDENTITY, eval_items, to_eval_df
from mltrail.genai.evaluation.predict import to_predict_fn
from mltrail.genai.evaluation.result import EvaluationResult, result_dataframe

__all__ = ["EvaluationResult", "evaluate", "to_predict_fn"]

_log = logging.getLogger(__name__)
RUN_TYPE_TAG = "mlflow.runType"
RUN_TYPE_GENAI_EVALUATE = "genai_evaluate"


@contextlib.contextmanager
def _run_or_active() -> Iterator[Any]:
    """The active run (left open), else a new run ended when the evaluation ends (as MLflow)."""
    from mltrail.tracking import fluent

    active = fluent.active_run()
    if active is not None:
        yield active
        return
    with fluent.start_run() as run:
        yield run


def _active_model(model_id: str | None) -> Any:
    if not model_id:
        return contextlib.nullcontext()
    from mltrail.models.external import set_active_model

    return set_active_model(model_id=model_id)


def _run_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An ``async def`` predict_fn as a plain one, each call limited to ``MLFLOW_GENAI_EVAL_ASYNC_TIMEOUT`` s."""
    timeout = float(os.environ.get("MLFLOW_GENAI_EVAL_ASYNC_TIMEOUT") or 300)

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        return asyncio.run(asyncio.wait_for(fn(**kwargs), timeout))

    return call


def _log_dataset(client: Any, run_id: str, df: Any) -> Any:
    """Record the evaluation data as the run's input dataset named ``dataset`` (MLflow's name)."""
    try:
        # An evaluation dataset is logged under its name and digest, as in MLflow.
        ident = df.attrs.get(DATASET_IDENTITY) or {}
        frame = df.drop(columns=["trace"], errors="ignore")
        dataset = from_pandas(frame, name=ident.get("name", "dataset"), digest=ident.get("digest"))
        client.log_inputs(run_id, [to_dataset_input(dataset)])
        return dataset
    except Exception as exc:  # a dataset that cannot be described must not stop the evaluation
        _log.debug("Could not log the evaluation dataset: %s", exc)
        return None


def evaluate(
    data: Any,
    scorers: list[Any],
    predict_fn: Callable[..., Any] | None = None,
    model_id: str | None = None,
) -> EvaluationResult:
    """Evaluate a GenAI app on ``data`` with ``scorers``; one run, one trace per row.

    ``data``: a list of dicts, a pandas DataFrame (``search_traces`` output
    included), a list of traces, or an evaluation dataset; fields ``inputs``
    (a dict), ``outputs``, ``expectations``, ``trace``, ``tags``. With
    ``predict_fn`` each row's ``inputs`` are passed as keyword arguments and
    the call is traced. Each scorer's feedback is logged on the row's trace;
    ``<scorer>/mean`` (or the scorer's ``aggregations``) is logged on the run
    (the active run, else a new one). ``model_id`` links the run and traces to
    a LoggedModel. Rows run in ``MLFLOW_GENAI_EVAL_MAX_WORKERS`` threads.
    """
    from mltrail.genai.evaluation.harness import RowEvaluator, evaluate_rows, link_traces, read_traces
    from mltrail.genai.evaluation.scoring import aggregate, validate_scorers
    from mltrail.tracking import context, fluent

    scorers = validate_scorers(scorers)
    if predict_fn is not None and not callable(predict_fn):
        raise invalid(f"predict_fn must be callable, got {type(predict_fn).__name__}")
    if inspect.iscoroutinefunction(predict_fn):
        predict_fn = _run_async(predict_fn)
    with _run_or_active() as run, _active_model(model_id):
        df = to_eval_df(data)
        items = eval_items(df)
        run_id = run.info.run_id
        client = context.client_for_uri(run._tracking_uri)
        dataset = _log_dataset(client, run_id, df)
        if run.data.tags.get(RUN_TYPE_TAG) is None:
            client.set_tag(run_id, RUN_TYPE_TAG, RUN_TYPE_GENAI_EVALUATE)
        user = run.info.user_id or ""
        evaluator = RowEvaluator(run, model_id, predict_fn, scorers, user)
        feedbacks = evaluate_rows(evaluator, items)
        trace_ids = [item.trace.info.trace_id for item in items if item.trace is not None]
        link_traces(evaluator, trace_ids)
        metrics = aggregate([fb for row in feedbacks for fb in row], scorers)
        if metrics:
            fluent.log_metrics(metrics, run_id=run_id, dataset=dataset, model_id=model_id)
        result_df = result_dataframe(run_id, read_traces(evaluator, trace_ids))
    pass_criteria = {s.name: s.pass_if for s in scorers if getattr(s, "pass_if", None) is not None}
    return EvaluationResult(run_id=run_id, metrics=metrics, result_df=result_df, pass_criteria=pass_criteria)
