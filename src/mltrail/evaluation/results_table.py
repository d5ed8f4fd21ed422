"""The per-row ``eval_results_table`` of an evaluation, laid out as MLflow 3's default evaluator lays it out.

Code written for MLflow reads this table by column name, so the layout is
MLflow's, column for column, left to right:

1. the features: the ``feature_names`` columns when given, else every column
   of the data except the targets and the static predictions columns, in the
   data's order;
2. with ``targets``: the targets column, then the output column, named after
   the static predictions column, else the model's output column (its sole
   column or key, or the one ``predictions=`` picked), else ``outputs``.
   Without targets the output column is always ``outputs``, even for static
   predictions. A feature of the same name is overwritten where it stands;
3. the model's other output columns that a metric read;
4. per metric, in the order the metrics were computed: ``<metric>/score``
   (bare ``token_count`` and ``latency``) and ``<metric>/justification``, all
   prefixed with ``metric_prefix``.

The table is logged (as ``<metric_prefix>eval_results_table.json``) only when a
metric produced per-row scores or justifications. ``result.tables`` holds what
that file reads back as with ``pandas.read_json(orient="split")``, as MLflow's
does: whole floats come back as integers and floats keep ten decimals.

Example::

    columns = metric_columns([("exact_match/v1", agg_only), ("toxicity/v1", value)], prefix="")
    table = build_table(features, "truth", truth_values, "answer", answers, {}, columns)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mltrail.evaluation.base import MetricValue

TABLE_NAME = "eval_results_table"
OUTPUTS = "outputs"
# Per-row metrics whose column carries the metric's bare name instead of "<name>/score".
BARE_SCORE_COLUMNS = ("token_count", "latency")


def table_file(prefix: str) -> str:
    """The artifact file the table is logged as: ``<prefix>eval_results_table.json``."""
    return f"{prefix}{TABLE_NAME}.json"


def output_column(*, has_targets: bool, static_column: str | None, model_column: str | None) -> str:
    """The name of the predictions column: MLflow keeps a name only next to a targets column."""
    if not has_targets:
        return OUTPUTS
    return static_column or model_column or OUTPUTS


def has_per_row_values(values: Iterable[MetricValue]) -> bool:
    """Whether any metric gave per-row scores or justifications (else MLflow logs no table)."""
    return any(v.scores is not None or v.justifications is not None for v in values)


def metric_columns(computed: Iterable[tuple[str, MetricValue]], prefix: str) -> dict[str, list[Any]]:
    """The per-metric columns, in order, for ``(full metric name, value)`` pairs."""
    columns: dict[str, list[Any]] = {}
    for full_name, value in computed:
        name = prefix + full_name
        if _non_empty(value.scores):
            column = name if full_name in BARE_SCORE_COLUMNS else f"{name}/score"
            columns[column] = list(value.scores)
        if _non_empty(value.justifications):
            columns[f"{name}/justification"] = list(value.justifications)
    return columns


def build_table(
    features: Any,
    targets_name: str | None,
    target_values: Any,
    output_name: str,
    outputs: Sequence[Any],
    other_outputs: Mapping[str, Sequence[Any]],
    columns: Mapping[str, Sequence[Any]],
) -> Any:
    """The results table: features, targets, outputs, used model outputs, then the metric columns.

    ``DataFrame.assign`` keeps a column that already exists where it is and
    adds new ones at the end, which is the placement MLflow's table has.
    """
    data = {targets_name: _positional(target_values)} if targets_name is not None else {}
    data[output_name] = _positional(outputs)
    table = features.assign(**data)
    for name, values in other_outputs.items():
        table[name] = _positional(values)
    return table.assign(**{name: _positional(values) for name, values in columns.items()})


def read_logged_table(path: str) -> Any:
    """A logged table file as the DataFrame that ``mlflow.load_table`` (and so MLflow's ``result.tables``) gives."""
    import pandas as pd

    return pd.read_json(path, orient="split")


def _positional(values: Any) -> Any:
    """Values to place by position, not by index label (model outputs have indexes of their own)."""
    import numpy as np
    import pandas as pd

    if isinstance(values, (pd.Series, pd.Index)):
        return values.to_numpy()
    return values if isinstance(values, (list, np.ndarray)) else list(values)


def _non_empty(values: Any) -> bool:
    return values is not None and len(values) > 0
