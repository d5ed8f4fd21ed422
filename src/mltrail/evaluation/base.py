"""The records of an evaluation: metric definitions, metric values and the result.

Light at import (no pandas/numpy): ``mltrail.models`` re-exports these names.

Example::

    from mltrail.models import make_metric
    from mltrail.metrics import MetricValue

    def shorter_than_target(predictions, targets, metrics):
        scores = [int(len(p) <= len(t)) for p, t in zip(predictions, targets)]
        return MetricValue(scores=scores, aggregate_results={"ratio": sum(scores) / len(scores)})

    metric = make_metric(eval_fn=shorter_than_target, greater_is_better=True)
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mltrail.exceptions import invalid


def standard_aggregations(scores: Sequence[float]) -> dict[str, float]:
    """``mean``, ``variance`` (population) and ``p90`` (linear interpolation) of numeric scores, as MLflow's.

    Empty scores have none (MLflow's numpy call fails on them instead).
    """
    import numpy as np

    if len(scores) == 0:
        return {}
    values = np.asarray(scores, dtype=float)
    return {
        "mean": float(np.mean(values)),
        "variance": float(np.var(values)),
        "p90": float(np.percentile(values, 90)),
    }


def _is_number(value: Any) -> bool:
    """A number that is not a bool (``True`` is an ``int`` to Python, not a score to MLflow)."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


@dataclass
class MetricValue:
    """What a metric function returns: per-row ``scores`` and ``justifications``, and ``aggregate_results``.

    As in MLflow, a value made with a list (or tuple) of numeric ``scores`` and
    no ``aggregate_results`` (``None``, not ``{}``) computes its own
    :func:`standard_aggregations`, so ``MetricValue(scores=[1, 2, 3])`` logs
    ``<metric>/mean``, ``/variance`` and ``/p90``. A ``None`` score (or any
    non-number) among them means no aggregates.
    """

    scores: list[Any] | None = None
    justifications: list[str | None] | None = None
    aggregate_results: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if (
            self.aggregate_results is None
            and isinstance(self.scores, (list, tuple))
            and all(_is_number(score) for score in self.scores)
        ):
            self.aggregate_results = standard_aggregations(self.scores)


class EvaluationMetric:
    """A metric: ``eval_fn`` plus its name, direction and (optional) version.

    ``eval_fn``'s parameters are bound by name at evaluation time:
    ``predictions``, ``targets``, ``metrics`` (values computed so far),
    ``inputs``, any column of the data (or ``col_mapping`` entry) and any
    earlier metric's name (its ``MetricValue``). The legacy two-argument form
    ``eval_fn(eval_df, builtin_metrics)`` works too.
    """

    def __init__(
        self,
        eval_fn: Callable[..., Any],
        name: str,
        greater_is_better: bool,
        long_name: str | None = None,
        version: str | None = None,
        metric_details: str | None = None,
        metric_metadata: dict[str, Any] | None = None,
        genai_metric_args: dict[str, Any] | None = None,
    ) -> None:
        self.eval_fn = eval_fn
        self.name = name
        self.greater_is_better = greater_is_better
        self.long_name = long_name or name
        self.version = version
        self.metric_details = metric_details
        self.metric_metadata = metric_metadata
        self.genai_metric_args = genai_metric_args

    @property
    def full_name(self) -> str:
        """``name/version`` (or ``name``): the prefix of logged metric keys and table columns."""
        return f"{self.name}/{self.version}" if self.version else self.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.eval_fn(*args, **kwargs)

    def __repr__(self) -> str:
        parts = [f"name={self.name}", f"greater_is_better={self.greater_is_better}"]
        if self.version:
            parts.append(f"version={self.version}")
        return f"EvaluationMetric({', '.join(parts)})"


def make_metric(
    *,
    eval_fn: Callable[..., Any],
    greater_is_better: bool,
    name: str | None = None,
    long_name: str | None = None,
    version: str | None = None,
    metric_details: str | None = None,
    metric_metadata: dict[str, Any] | None = None,
    genai_metric_args: dict[str, Any] | None = None,
) -> EvaluationMetric:
    """Turn ``eval_fn`` into a metric for ``mltrail.evaluate(extra_metrics=[...])`` (MLflow's signature).

    ``name`` defaults to the function's name (a lambda needs an explicit one).
    """
    if not callable(eval_fn):
        raise invalid("eval_fn must be callable")
    if name is None:
        fn_name = getattr(eval_fn, "__name__", None)
        if not fn_name or fn_name == "<lambda>":
            raise invalid("`name` must be specified when `eval_fn` is a lambda or has no name.")
        name = fn_name
    if not isinstance(name, str) or not name or "/" in name:
        raise invalid(f"Invalid metric name {name!r}: a non-empty string without '/' is required.")
    return EvaluationMetric(
        eval_fn,
        name,
        greater_is_better,
        long_name,
        version,
        metric_details,
        metric_metadata,
        genai_metric_args,
    )


@dataclass
class EvaluationArtifact:
    """An artifact an evaluation logged: its ``uri`` and (loaded) ``content``."""

    uri: str
    content: Any = None

    def save(self, output_artifact_path: str) -> None:
        """Write the content to a local file: CSV or an image as its ``uri`` says, else JSON for tables and dicts."""
        content = self.content
        if self.uri.endswith(".csv") and hasattr(content, "to_csv"):
            content.to_csv(output_artifact_path, index=False)
            return
        if self.uri.endswith(".png") and hasattr(content, "save"):
            content.save(output_artifact_path, format="PNG")
            return
        if hasattr(content, "to_dict"):
            content = {"columns": list(content.columns), "data": content.values.tolist()}
        with open(output_artifact_path, "w") as f:
            json.dump(content, f, default=str) if not isinstance(content, str) else f.write(content)


@dataclass
class EvaluationResult:
    """What ``mltrail.evaluate`` returns: aggregate ``metrics``, ``artifacts`` and the ``run_id`` they went to."""

    metrics: dict[str, float]
    artifacts: dict[str, EvaluationArtifact] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def tables(self) -> dict[str, Any]:
        """The logged JSON tables as DataFrames, e.g. ``result.tables["eval_results_table"]``.

        As in MLflow, a CSV artifact (``per_class_metrics``) is not a table here: see ``artifacts``.
        """
        import pandas as pd

        return {
            name: a.content
            for name, a in self.artifacts.items()
            if a.uri.endswith(".json") and isinstance(a.content, pd.DataFrame)
        }
