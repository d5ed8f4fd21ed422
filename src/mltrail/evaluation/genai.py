"""LLM-as-judge metrics: ``make_genai_metric`` and the built-in judges (MLflow's names).

Each row is graded by a judge model (see :mod:`mltrail.evaluation.judge`) from
a prompt built from the metric's definition, its grading rubric, optional
few-shot examples, the row's input and output and its grading-context columns
(``targets``, ``context`` ...). Rows are graded concurrently on a bounded thread
pool; a row whose call fails or whose reply cannot be read gets score ``None``
and a justification that says why, and is left out of the aggregates. Such
rows are counted in a warning that names the metric, the judge and the first
error; when no row got a score the aggregates are NaN, as in MLflow.

Example::

    from mltrail.metrics.genai import answer_correctness, make_genai_metric

    correctness = answer_correctness(model="openai:/gpt-4o-mini")
    politeness = make_genai_metric(
        name="politeness",
        definition="How courteous the answer is.",
        grading_prompt="5: warm and respectful ... 1: rude.",
        model="openai:/gpt-4o-mini",
    )
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mltrail.evaluation import prompts
from mltrail.evaluation.base import EvaluationMetric, MetricValue
from mltrail.evaluation.judge import DEFAULT_JUDGE, Verdict, complete, parse_judge_uri, parse_verdict
from mltrail.exceptions import invalid

_AGGREGATIONS = ("min", "max", "mean", "median", "variance", "p90")
DEFAULT_AGGREGATIONS = ["mean", "variance", "p90"]
DEFAULT_MAX_WORKERS = 10


@dataclass
class EvaluationExample:
    """A graded example shown to the judge: ``input``, ``output``, ``score``, ``justification``, ``grading_context``."""

    output: str
    score: float
    justification: str | None = None
    input: str | None = None
    grading_context: dict[str, str] | str | None = None

    def render(self, context_columns: list[str]) -> str:
        lines = []
        if self.input is not None:
            lines.append(f"Example Input:\n{self.input}")
        lines.append(f"Example Output:\n{self.output}")
        context = self.grading_context
        if isinstance(context, dict):
            lines += [f"Example {k}:\n{v}" for k, v in context.items()]
        elif context is not None and context_columns:
            lines.append(f"Example {context_columns[0]}:\n{context}")
        lines.append(f"Example score: {self.score}")
        if self.justification:
            lines.append(f"Example justification: {self.justification}")
        return "\n".join(lines)


def aggregate(scores: list[float | None], aggregations: list[str]) -> dict[str, float]:
    """Aggregates over the scores that are not ``None`` (nothing when there are none)."""
    import numpy as np

    values = np.asarray([s for s in scores if s is not None], dtype=float)
    if values.size == 0:
        return {}
    fns = {
        "min": np.min,
        "max": np.max,
        "mean": np.mean,
        "median": np.median,
        "variance": np.var,
        "p90": lambda v: np.percentile(v, 90),
    }
    return {name: float(fns[name](values)) for name in aggregations}


def _judge_aggregates(scores: list[float | None], aggregations: list[str]) -> dict[str, float]:
    """:func:`aggregate`, or NaN for each aggregate when no row got a score.

    As in MLflow, whose numpy aggregates of no scores are NaN (``p90`` is
    ``None`` there and goes unlogged), so ``result.metrics["<name>/v1/mean"]``
    exists after a judge that failed on every row. MLflow raises on ``min``/``max``
    of no scores; they are NaN here too.
    """
    if any(s is not None for s in scores):
        return aggregate(scores, aggregations)
    return {name: math.nan for name in aggregations if name != "p90"}


def _grade_all(
    judge: str, prompts_: list[str], parameters: dict[str, Any] | None, max_workers: int
) -> tuple[list[Verdict], list[str]]:
    """Each prompt's verdict, and the error of every judge call that failed (in row order)."""

    def grade(prompt: str) -> tuple[Verdict, str | None]:
        try:
            reply = complete(judge, prompt, parameters)
        except Exception as err:  # one failing row must not lose the others' grades
            error = f"{type(err).__name__}: {err}"
            return Verdict(None, f"Failed to score the row: the judge call failed: {error}"), error
        return parse_verdict(reply), None

    if not prompts_:
        return [], []
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(prompts_))), thread_name_prefix="judge") as pool:
        graded = list(pool.map(grade, prompts_))
    return [verdict for verdict, _ in graded], [error for _, error in graded if error is not None]


def _warn_failed_rows(metric: str, judge: str, verdicts: list[Verdict], errors: list[str]) -> None:
    """Say when rows got no score: a judge that cannot be reached must not pass in silence."""
    total = len(verdicts)
    if errors:
        warnings.warn(
            f"Metric {metric!r}: the judge {judge!r} failed on {len(errors)} of {total} rows; "
            f"those rows have no score. First error: {errors[0]}",
            UserWarning,
            stacklevel=3,
        )
    unreadable = sum(v.score is None for v in verdicts) - len(errors)
    if unreadable:
        warnings.warn(
            f"Metric {metric!r}: no score could be read from the replies of the judge {judge!r} on "
            f"{unreadable} of {total} rows; see the justification column of eval_results_table.",
            UserWarning,
            stacklevel=3,
        )


def make_genai_metric(
    name: str,
    definition: str,
    grading_prompt: str,
    examples: list[EvaluationExample] | None = None,
    version: str | None = "v1",
    model: str | None = DEFAULT_JUDGE,
    grading_context_columns: str | list[str] | None = None,
    include_input: bool = True,
    parameters: dict[str, Any] | None = None,
    aggregations: list[str] | None = None,
    greater_is_better: bool = True,
    max_workers: int = DEFAULT_MAX_WORKERS,
    metric_metadata: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """An LLM-as-judge metric: the judge ``model`` grades each row 1-5 following ``grading_prompt``.

    Logged as ``<name>/<version>/<aggregation>``; the results table gets
    ``<name>/<version>/score`` and ``/justification`` columns.
    """
    model = model or DEFAULT_JUDGE
    parse_judge_uri(model)
    if isinstance(grading_context_columns, str):
        grading_context_columns = [grading_context_columns]
    context_columns = list(grading_context_columns or [])
    aggregations = list(DEFAULT_AGGREGATIONS if aggregations is None else aggregations)
    unknown = [a for a in aggregations if a not in _AGGREGATIONS]
    if unknown:
        raise invalid(f"Unknown aggregation(s) {unknown} for metric {name!r}: choose from {list(_AGGREGATIONS)}")
    if not isinstance(max_workers, int) or max_workers < 1:
        raise invalid(f"max_workers must be a positive integer, got {max_workers!r}")
    examples_text = "\n\n".join(e.render(context_columns) for e in (examples or []))

    def eval_fn(predictions: Any, inputs: Any = None, **context: Any) -> MetricValue:
        outputs = [str(p) for p in list(predictions)]
        row_inputs = list(inputs) if inputs is not None else [None] * len(outputs)
        rows = []
        for i, output in enumerate(outputs):
            row_context = {col: list(context[col])[i] for col in context_columns}
            rows.append(
                prompts.render_grading_prompt(
                    name=name,
                    definition=definition,
                    grading_prompt=grading_prompt,
                    examples=examples_text,
                    input=row_inputs[i] if include_input else None,
                    output=output,
                    context=row_context,
                )
            )
        verdicts, errors = _grade_all(model, rows, parameters, max_workers)
        _warn_failed_rows(f"{name}/{version}" if version else name, model, verdicts, errors)
        scores = [v.score for v in verdicts]
        return MetricValue(
            scores=scores,
            justifications=[v.justification for v in verdicts],
            aggregate_results=_judge_aggregates(scores, aggregations),
        )

    metric = EvaluationMetric(
        eval_fn,
        name,
        greater_is_better,
        version=version,
        metric_details=definition,
        metric_metadata=metric_metadata,
        genai_metric_args={
            "name": name,
            "definition": definition,
            "grading_prompt": grading_prompt,
            "examples": examples,
            "version": version,
            "model": model,
            "grading_context_columns": context_columns,
            "include_input": include_input,
            "parameters": parameters,
            "aggregations": aggregations,
            "greater_is_better": greater_is_better,
            "max_workers": max_workers,
        },
    )
    # The evaluator binds these by name: the grading-context columns are data columns, not fixed parameters.
    metric.required_args = ["predictions", *(["inputs"] if include_input else []), *context_columns]
    metric.judge_model = model
    return metric


def _builtin(
    key: str, model: str | None, metric_version: str | None, examples: list[EvaluationExample] | None,
    metric_metadata: dict[str, Any] | None, parameters: dict[str, Any] | None,
) -> EvaluationMetric:
    spec = prompts.BUILTIN[key]
    version = metric_version or "v1"
    if version != "v1":
        raise invalid(f"Unsupported version {version!r} of metric {key!r}: only 'v1' exists.")
    return make_genai_metric(
        name=key,
        definition=spec["definition"],
        grading_prompt=spec["grading_prompt"],
        examples=examples,
        version=version,
        model=model,
        grading_context_columns=spec["context"],
        include_input=spec["include_input"],
        parameters=parameters,
        greater_is_better=True,
        metric_metadata=metric_metadata,
    )


def answer_correctness(
    model: str | None = None, metric_version: str | None = None, examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """How factually correct the output is against ``targets`` (the ground truth)."""
    return _builtin("answer_correctness", model, metric_version, examples, metric_metadata, parameters)


def answer_similarity(
    model: str | None = None, metric_version: str | None = None, examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """How close in meaning the output is to ``targets``."""
    return _builtin("answer_similarity", model, metric_version, examples, metric_metadata, parameters)


def answer_relevance(
    model: str | None = None, metric_version: str | None = None, examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """How directly and completely the output addresses the input."""
    return _builtin("answer_relevance", model, metric_version, examples, metric_metadata, parameters)


def faithfulness(
    model: str | None = None, metric_version: str | None = None, examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """How well the output's claims are supported by the retrieved ``context`` column."""
    return _builtin("faithfulness", model, metric_version, examples, metric_metadata, parameters)


def relevance(
    model: str | None = None, metric_version: str | None = None, examples: list[EvaluationExample] | None = None,
    metric_metadata: dict[str, Any] | None = None, parameters: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """How relevant the output and its ``context`` are to the input."""
    return _builtin("relevance", model, metric_version, examples, metric_metadata, parameters)
