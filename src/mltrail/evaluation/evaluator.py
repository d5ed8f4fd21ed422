"""``mltrail.evaluate``: score a model (or static predictions) on a dataset and log it all to a run.

Steps, in an order that keeps failures clean: check every argument and that
every metric's inputs can be found (nothing is logged if not), compute the
predictions, compute the metrics (builtin for the ``model_type`` first, then
``extra_metrics`` in dependency order), then log the aggregate metrics and,
when a metric gave per-row values, the ``eval_results_table.json`` table
artifact (laid out by :mod:`mltrail.evaluation.results_table`) to the active
run, the run ``run_id``, or a new run.
"""

from __future__ import annotations

import inspect
import logging
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import mltrail
from mltrail.data import from_pandas
from mltrail.data.tabular import PandasDataset
from mltrail.evaluation import builtin, classifier_artifacts, results_table, retrieval
from mltrail.evaluation.base import EvaluationArtifact, EvaluationMetric, EvaluationResult, MetricValue
from mltrail.evaluation.judge import check_judge_available
from mltrail.exceptions import invalid

_log = logging.getLogger(__name__)

MODEL_TYPES = ("question-answering", "text", "text-summarization", "retriever", "classifier", "regressor")
# Model types whose MLflow evaluator names a model's output column only after the `predictions` argument.
_CLASSIC_TYPES = ("classifier", "regressor")
_LATENCY = "latency"


def _default_metrics(
    model_type: str | None, has_targets: bool, config: dict[str, Any], raw: builtin.RawModelOutputs
) -> list[EvaluationMetric]:
    """The built-in metrics of ``model_type``; pops the ``retriever_k`` they use from ``config``, as MLflow does.

    A classifier's or regressor's metric reads ``raw`` once the model ran.
    """
    if model_type is None:
        return []
    if model_type in ("classifier", "regressor"):
        if not has_targets:
            raise invalid(f"model_type {model_type!r} needs `targets` (the column of true values).")
        return [builtin.model_type_metric(model_type, raw)]
    if model_type == "retriever":
        k = config.pop("retriever_k", retrieval.DEFAULT_K)
        # An invalid k warns and skips the metrics (MLflow's behaviour), so only a usable k needs targets.
        if retrieval.valid_k(k) and not has_targets:
            raise invalid(
                "model_type 'retriever' needs `targets`: the column holding each row's list of relevant document ids."
            )
        return retrieval.retriever_metrics(k)
    # MLflow's order, which is the order of the per-row columns.
    metrics = [
        builtin.token_count(),
        builtin.toxicity(),
        builtin.flesch_kincaid_grade_level(),
        builtin.ari_grade_level(),
    ]
    if model_type == "question-answering" and has_targets:
        metrics.append(builtin.exact_match())
    return metrics


def _to_dataframe(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, PandasDataset):
        return data.df.copy()
    if isinstance(data, pd.DataFrame):
        return data.copy()
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame(data)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise invalid(
        f"Unsupported evaluation data of type {type(data).__name__}: pass a pandas DataFrame, a list of dicts, "
        "a dict of columns or an mltrail.data PandasDataset."
    )


def _params_of(metric: EvaluationMetric) -> list[tuple[str, bool]]:
    """(parameter name, required?) pairs that ``metric.eval_fn`` is called with."""
    explicit = getattr(metric, "required_args", None)
    if explicit is not None:
        return [(name, True) for name in explicit]
    sig = inspect.signature(metric.eval_fn)
    return [
        (p.name, p.default is inspect.Parameter.empty)
        for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


class _Context:
    """Everything a metric argument can be bound to, by name."""

    def __init__(
        self,
        df: Any,
        predictions: Any,
        targets: Any,
        inputs: Any,
        col_mapping: dict[str, Any],
        config: dict[str, Any],
        latencies: list[float] | None,
        outputs_pending: bool = False,
    ) -> None:
        self.df = df
        self.predictions = predictions
        self.targets = targets
        self.inputs = inputs
        self.col_mapping = col_mapping
        self.config = config
        self.latencies = latencies
        self.values: dict[str, MetricValue] = {}
        # The model's output columns besides the predictions (a DataFrame on the data's index), once it ran;
        # until then, with `outputs_pending`, any unknown argument may still turn out to be one of them.
        self.other_outputs: Any = None
        self.outputs_pending = outputs_pending
        self.used_outputs: list[str] = []  # the ones a metric read: MLflow adds them to the results table

    def is_column(self, name: str) -> bool:
        """Whether ``name`` binds to a column (of the data, the mapping or the model's other outputs)."""
        return name in self.col_mapping or name in self.df.columns or self._is_output(name)

    def _is_output(self, name: Any) -> bool:
        return self.other_outputs is not None and name in self.other_outputs.columns

    def _output(self, name: str) -> Any:
        if name not in self.used_outputs:
            self.used_outputs.append(name)
        return self.other_outputs[name]

    def can_bind(self, name: str, metric_names: set[str]) -> bool:
        if name in ("predictions", "metrics", "inputs"):
            return True
        if name == "targets":
            return self.targets is not None
        if name == "latencies":
            return self.latencies is not None
        return self.is_column(name) or name in self.config or name in metric_names or self.outputs_pending

    def bind(self, name: str) -> Any:
        if name == "predictions":
            return self.predictions
        if name == "targets":
            return self.targets
        if name == "metrics":
            return dict(self.values)
        if name == "inputs":
            return self.inputs
        if name == "latencies":
            return self.latencies
        if name in self.col_mapping:
            mapped = self.col_mapping[name]
            if isinstance(mapped, str) and mapped in self.df.columns:
                return self.df[mapped]
            return self._output(mapped) if isinstance(mapped, str) and self._is_output(mapped) else mapped
        if name in self.df.columns:
            return self.df[name]
        if self._is_output(name):
            return self._output(name)
        if name in self.config:
            return self.config[name]
        return self.values[name]


def _check_metrics(metrics: list[EvaluationMetric], ctx: _Context) -> None:
    """Every required argument of every metric must be bindable: fail before anything is computed or logged."""
    for m in metrics:
        if not isinstance(m, EvaluationMetric):
            raise invalid(f"extra_metrics must be EvaluationMetric objects (from make_metric), got {m!r}")
    seen: set[str] = set()
    for m in metrics:
        if m.full_name in seen:
            raise invalid(f"Metric {m.full_name!r} was given more than once.")
        seen.add(m.full_name)
    _check_bindings(metrics, ctx)
    judges = {getattr(m, "judge_model", None) for m in metrics} - {None}
    if judges:
        for judge in sorted(judges):
            check_judge_available(judge)


def _check_bindings(metrics: list[EvaluationMetric], ctx: _Context) -> None:
    """Every required argument of every metric binds to something, else INVALID_PARAMETER_VALUE."""
    names = {n for m in metrics for n in (m.name, m.full_name)}
    for m in metrics:
        if _is_legacy(m):
            continue
        missing = [
            p
            for p, required in _params_of(m)
            if required and not ctx.can_bind(p, names - {m.name, m.full_name})
        ]
        if missing:
            outputs = [] if ctx.other_outputs is None else list(ctx.other_outputs.columns)
            available = sorted({str(c) for c in [*ctx.df.columns, *outputs]} | set(ctx.col_mapping))
            raise invalid(
                f"Metric {m.full_name!r} needs {missing} but they are neither columns of the data "
                f"({available}), entries of evaluator_config['col_mapping'], nor other metrics' names. "
                "Add the column or map it with evaluator_config={'col_mapping': {...}}."
            )


def _is_legacy(metric: EvaluationMetric) -> bool:
    """MLflow's early custom-metric form ``eval_fn(eval_df, builtin_metrics)``."""
    return [p for p, _ in _params_of(metric)] == ["eval_df", "builtin_metrics"]


def _call_metric(metric: EvaluationMetric, ctx: _Context) -> MetricValue | None:
    params = _params_of(metric)
    if _is_legacy(metric):
        import pandas as pd

        frame = pd.DataFrame({"prediction": list(ctx.predictions)})
        if ctx.targets is not None:
            frame["target"] = list(ctx.targets)
        flat = {k: v for mv in ctx.values.values() for k, v in (mv.aggregate_results or {}).items()}
        result = metric.eval_fn(frame, flat)
        return MetricValue(aggregate_results=dict(result)) if isinstance(result, dict) else result
    names = set(ctx.values)
    kwargs = {p: ctx.bind(p) for p, required in params if required or ctx.can_bind(p, names)}
    result = metric.eval_fn(**kwargs)
    if result is not None and not isinstance(result, MetricValue):
        if isinstance(result, (int, float)):
            return MetricValue(aggregate_results={metric.name: float(result)})
        raise invalid(
            f"Metric {metric.full_name!r} returned {type(result).__name__}; it must return a MetricValue."
        )
    return result


def _run_metrics(
    metrics: list[EvaluationMetric], ctx: _Context
) -> list[tuple[EvaluationMetric, MetricValue]]:
    """Compute metrics, each after the metrics it names as arguments."""
    pending = list(metrics)
    done: list[tuple[EvaluationMetric, MetricValue]] = []
    skipped: set[str] = set()
    all_names = {n for m in metrics for n in (m.name, m.full_name)}
    while pending:
        progressed = False
        for m in list(pending):
            deps = {p for p, _ in _params_of(m)} & (all_names - {m.name, m.full_name})
            deps -= {p for p in deps if ctx.is_column(p)}
            if deps & skipped:
                raise invalid(
                    f"Metric {m.full_name!r} needs metric(s) {sorted(deps & skipped)}, which were skipped."
                )
            if deps - set(ctx.values):
                continue
            pending.remove(m)
            progressed = True
            value = _call_metric(m, ctx)
            if value is None:  # skipped (missing optional package, nothing to time ...)
                skipped.update({m.name, m.full_name})
                continue
            ctx.values[m.name] = ctx.values[m.full_name] = value
            done.append((m, value))
        if not progressed:
            raise invalid(f"Metrics {[m.full_name for m in pending]} depend on each other in a cycle.")
    return done


def _metric_keys(metric: EvaluationMetric, value: MetricValue, prefix: str) -> dict[str, float]:
    """The run metric keys of one metric's aggregates, by MLflow's rule.

    MLflow prefixes the metric's name *and* its aggregates' names, so ``metric_prefix="val_"``
    turns ``x/v2``'s ``mean`` into ``val_x/v2/val_mean``; an aggregate named like the metric
    (``exact_match``) is logged under the metric's name (``val_exact_match/v1``). The prefixed
    value is made anew, so scores without aggregates (``token_count``) compute the standard ones
    under bare names then (``val_token_count/mean``).
    """
    if getattr(metric, "flat_aggregates", False):  # one MLflow metric per aggregate: "val_accuracy_score"
        return {prefix + agg: v for agg, v in (value.aggregate_results or {}).items() if v is not None}
    name = prefix + metric.full_name
    if prefix:
        aggregates = value.aggregate_results
        value = MetricValue(
            value.scores,
            value.justifications,
            {prefix + k: v for k, v in aggregates.items()} if aggregates else None,
        )
    out = {}
    for agg, v in (value.aggregate_results or {}).items():
        if v is not None:
            out[name if agg == name.split("/")[0] else f"{name}/{agg}"] = v
    return out


class _Predictions(NamedTuple):
    """What running the model gave: one output per row and how its output was laid out."""

    values: list[Any]
    latencies: list[float] | None
    column: str | None  # the output column or key the values came from (or `predictions`), if any
    others: Any  # the model's other output columns (a DataFrame, positional index), or None


def _split_outputs(out: Any, predictions_col: str | None, n: int) -> tuple[list[Any], str | None, Any]:
    """``(values, column, other columns)`` of one model output, as MLflow reads it.

    A DataFrame, a dict of columns or a list of row dicts gives its ``predictions_col``
    column, or its only column, and keeps the others for metrics to read; anything
    else (a list, an array, a Series, a string) is the predictions themselves.
    """
    import pandas as pd

    if isinstance(out, list) and out and all(isinstance(row, dict) for row in out):
        out = pd.DataFrame(out)
    elif isinstance(out, dict):
        try:
            out = pd.DataFrame({key: _one_per_row(value, n) for key, value in out.items()})
        except ValueError as err:
            raise invalid(f"The model returned a dict whose values are not one per row: {err}") from err
    column: Any = predictions_col
    others = None
    if isinstance(out, pd.DataFrame):
        if predictions_col is not None and predictions_col in out.columns:
            column = predictions_col
        elif len(out.columns) == 1:
            column = out.columns[0]
        elif predictions_col is None:
            raise invalid(
                f"The model returned several output columns {list(out.columns)}: name the one holding the "
                "predictions with predictions=..."
            )
        else:
            raise invalid(
                f"The model's output has no column {predictions_col!r} (it has {list(out.columns)}): "
                "name the one holding the predictions with predictions=..."
            )
        others = out.drop(columns=[column]).reset_index(drop=True)
        out = out[column]
    elif isinstance(out, str) or not hasattr(out, "__len__"):
        out = [out]
    values = list(out.tolist() if hasattr(out, "tolist") else out)
    if len(values) != n:
        raise invalid(f"The model returned {len(values)} predictions for {n} rows.")
    # A positional column label (0, 1 ...) names nothing: the table then says "outputs".
    return values, column if isinstance(column, str) else None, others


def _one_per_row(value: Any, n: int) -> list[Any]:
    """A dict output's value as a column: itself when it has one entry per row, else one row's value."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != n:
        return [value]
    return list(value.tolist() if hasattr(value, "tolist") else value)


def _predict(
    model: Any,
    features: Any,
    inference_params: dict[str, Any] | None,
    timed: bool,
    predictions_col: str | None,
) -> _Predictions:
    import pandas as pd

    def call(frame: Any) -> Any:
        if hasattr(model, "predict"):
            return model.predict(frame, params=inference_params) if inference_params else model.predict(frame)
        return model(frame)

    if not timed:
        values, column, others = _split_outputs(call(features), predictions_col, len(features))
        return _Predictions(values, None, column, others)
    values, latencies, parts = [], [], []
    column = predictions_col
    for i in range(len(features)):
        row = features.iloc[[i]].reset_index(drop=True)
        start = time.perf_counter()
        out = call(row)
        latencies.append(time.perf_counter() - start)
        row_values, column, row_others = _split_outputs(out, predictions_col, 1)
        values += row_values
        parts.append(row_others)
    others = None if any(p is None for p in parts) else pd.concat(parts, ignore_index=True)
    return _Predictions(values, latencies, column, others)


def _resolve_model(model: Any, model_config: dict[str, Any] | None) -> Any:
    if model is None or callable(model) or hasattr(model, "predict"):
        return model
    if isinstance(model, str):
        from mltrail.pyfunc import load_model

        return load_model(model, model_config=model_config) if model_config else load_model(model)
    raise invalid(
        f"Unsupported model of type {type(model).__name__}: pass a model URI, a PyFuncModel or a function."
    )


def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    model_type: str | None = None,
    targets: str | None = None,
    predictions: str | None = None,
    dataset_path: str | None = None,
    feature_names: list[str] | None = None,
    evaluators: Any = None,
    evaluator_config: dict[str, Any] | None = None,
    extra_metrics: list[EvaluationMetric] | None = None,
    custom_metrics: list[EvaluationMetric] | None = None,
    custom_artifacts: Any = None,
    env_manager: str = "local",
    model_config: dict[str, Any] | None = None,
    inference_params: dict[str, Any] | None = None,
    model_id: str | None = None,
    run_id: str | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` (a pyfunc URI, a ``PyFuncModel``, or a function of a DataFrame) on ``data``.

    With ``model=None`` the ``predictions`` column of ``data`` is scored as is.
    ``model_type`` picks built-in metrics (``question-answering``: exact_match
    when ``targets`` is given, token_count; ``retriever``: precision, recall
    and NDCG at ``evaluator_config["retriever_k"]`` (3) of lists of document
    ids; ``classifier``/``regressor``: the classic scores); ``extra_metrics``
    adds more, e.g. LLM judges from
    ``mltrail.metrics.genai``. Results go to the active run, to ``run_id``, or
    to a new run. When a metric gives per-row scores or justifications, the
    per-row table is logged as ``eval_results_table.json``, laid out as MLflow's
    (features, targets, outputs, then the metric columns; see
    :mod:`mltrail.evaluation.results_table`).

    Example::

        import mltrail as mlflow
        from mltrail.metrics.genai import answer_correctness

        with mlflow.start_run():
            result = mlflow.evaluate(
                data=df, predictions="answer", targets="ground_truth",
                model_type="question-answering",
                extra_metrics=[answer_correctness(model="openai:/gpt-4o-mini")],
            )
        print(result.metrics["answer_correctness/v1/mean"])
        print(result.tables["eval_results_table"])
    """
    if data is None:
        raise invalid("evaluate() needs `data`: a DataFrame, a list of dicts or a dataset.")
    if model_type is not None and model_type not in MODEL_TYPES:
        raise invalid(f"Unsupported model_type {model_type!r}: choose one of {list(MODEL_TYPES)} or None.")
    if evaluators not in (None, "default", ["default"]):
        raise invalid(f"Unsupported evaluators {evaluators!r}: only the 'default' evaluator exists.")
    if env_manager != "local":
        raise invalid("evaluate() runs the model in this process: only env_manager='local' is supported.")
    if isinstance(data, PandasDataset):
        targets = targets or data.targets
        predictions = predictions or data.predictions
    df = _to_dataframe(data)
    if len(df) == 0:
        raise invalid("The evaluation data has no rows.")
    config = dict(evaluator_config or {})
    config = {**config.pop("default", {}), **config} if isinstance(config.get("default"), dict) else config
    col_mapping = dict(config.pop("col_mapping", {}) or {})
    prefix = config.pop("metric_prefix", "")
    if not isinstance(prefix, str):
        prefix = ""
    for label, column in (("targets", targets), ("predictions", predictions if model is None else None)):
        if column is not None and column not in df.columns:
            raise invalid(f"The {label} column {column!r} is not in the data (columns: {list(df.columns)}).")
    if model is None and predictions is None:
        raise invalid(
            "Pass a `model` to evaluate, or name the column of precomputed outputs with predictions=..."
        )
    if model is not None and predictions is not None and predictions in df.columns:
        raise invalid(
            f"A model is given, so the data must not already have a predictions column {predictions!r}."
        )

    if custom_artifacts:
        raise invalid(
            "custom_artifacts are not supported by mltrail.evaluate(); log artifacts from your code instead."
        )
    extras = [*_metric_list(extra_metrics, "extra_metrics"), *_metric_list(custom_metrics, "custom_metrics")]
    raw = builtin.RawModelOutputs()
    metrics = _default_metrics(model_type, targets is not None, config, raw) + extras
    # MLflow times the model while it predicts, before any other metric: latency is the first per-row column.
    metrics.sort(key=lambda m: m.name != _LATENCY)
    wants_latency = any(m.name == _LATENCY for m in metrics)
    timed = model is not None and wants_latency
    excluded = {c for c in (targets, predictions if model is None else None) if c}
    if feature_names is not None:
        unknown = [f for f in feature_names if f not in df.columns]
        if unknown:
            raise invalid(f"feature_names {unknown} are not columns of the data ({list(df.columns)}).")
        features = df[list(feature_names)]
    else:
        features = df[[c for c in df.columns if c not in excluded]]

    inputs = _inputs_series(df, features, col_mapping)
    target_values = df[targets] if targets else None
    # Check bindings with placeholder predictions so nothing runs (no model call, no judge call) on bad config.
    # Only a model named with predictions= can return more columns than the predictions, which metrics may read:
    # arguments that are nothing else are checked again once it ran.
    ctx = _Context(
        df,
        df[predictions] if model is None else None,
        target_values,
        inputs,
        col_mapping,
        config,
        [] if wants_latency else None,
        outputs_pending=model is not None and predictions is not None,
    )
    _check_metrics(metrics, ctx)

    resolved = _resolve_model(model, model_config)
    if resolved is None:
        latencies = None
        if wants_latency:
            _log.warning("No model to time: the latency of every row is set to 0 (as MLflow does).")
            latencies = [0.0] * len(df)
        predicted = _Predictions(list(df[predictions]), latencies, predictions, None)
    else:
        predicted = _predict(resolved, features, inference_params, timed, predictions)
        if model_type in _CLASSIC_TYPES:
            raw.read(resolved, features, target_values, model_type)
    import pandas as pd

    ctx.predictions = pd.Series(predicted.values, index=df.index, name=predictions or results_table.OUTPUTS)
    ctx.latencies = predicted.latencies
    if ctx.outputs_pending:
        ctx.outputs_pending = False
        if predicted.others is not None:
            ctx.other_outputs = predicted.others.set_axis(df.index)
        _check_bindings(metrics, ctx)
    computed = _run_metrics(metrics, ctx)

    aggregates: dict[str, float] = {}
    for metric, value in computed:
        aggregates.update(_metric_keys(metric, value, prefix))
    table = None
    if results_table.has_per_row_values(value for _, value in computed):
        output_name = results_table.output_column(
            has_targets=targets is not None,
            static_column=predictions if resolved is None else None,
            model_column=predictions if model_type in _CLASSIC_TYPES else predicted.column,
        )
        table = results_table.build_table(
            features,
            targets,
            target_values,
            output_name,
            predicted.values,
            {name: ctx.other_outputs[name] for name in ctx.used_outputs},
            results_table.metric_columns(((m.full_name, v) for m, v in computed), prefix),
        )
    log_artifacts = None
    if model_type == "classifier":
        labels, outputs = list(target_values), list(predicted.values)

        def log_artifacts(run_id: str, client: Any, artifact_uri: str) -> dict[str, EvaluationArtifact]:
            return classifier_artifacts.log_classifier_artifacts(
                labels, outputs, raw.probabilities, prefix, config, run_id, client, artifact_uri
            )

    return _log_results(
        aggregates, table, run_id, df, targets, predictions if model is None else None, prefix, log_artifacts
    )


def _metric_list(value: Any, label: str) -> list[EvaluationMetric]:
    if value is None:
        return []
    items = [value] if isinstance(value, EvaluationMetric) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(m, EvaluationMetric) for m in items):
        raise invalid(
            f"{label} must be a list of metrics (from mltrail.metrics or make_metric), got {value!r}"
        )
    return list(items)


def _inputs_series(df: Any, features: Any, col_mapping: dict[str, Any]) -> Any:
    """What ``inputs`` means for a metric: a mapped column, an ``inputs`` column, the sole feature, or each row."""
    mapped = col_mapping.get("inputs")
    if isinstance(mapped, str) and mapped in df.columns:
        return df[mapped]
    if "inputs" in df.columns:
        return df["inputs"]
    if len(features.columns) == 1:
        return features.iloc[:, 0]
    return features.apply(lambda row: {k: v for k, v in row.items()}, axis=1)


def _log_results(
    aggregates: dict[str, float],
    table: Any,
    run_id: str | None,
    df: Any,
    targets: str | None,
    predictions: str | None,
    prefix: str,
    log_artifacts: Callable[[str, Any, str], dict[str, EvaluationArtifact]] | None = None,
) -> EvaluationResult:
    """Log the dataset, the metrics, the table (if any) and the model type's artifacts to the run.

    The result holds the table as logged, then the other artifacts, in MLflow's order.
    """
    from mltrail.tracking import context

    active = mltrail.active_run()
    if run_id is not None and active is not None and active.info.run_id != run_id:
        raise invalid(
            f"run_id {run_id!r} is not the active run ({active.info.run_id}): end the active run first or omit run_id."
        )
    owns_run = active is None
    run = mltrail.start_run(run_id=run_id) if owns_run else active
    run_id = run.info.run_id
    client = context.client()
    table_file = results_table.table_file(prefix)
    artifact_root = client.get_run(run_id).info.artifact_uri.rstrip("/")
    more: dict[str, EvaluationArtifact] = {}
    try:
        _log_dataset(df, targets, predictions, prefix or None)
        if aggregates:
            mltrail.log_metrics(aggregates)
        if table is not None:
            client.log_table(run_id, table, table_file)
        if log_artifacts is not None:
            more = log_artifacts(run_id, client, artifact_root)
    except BaseException:
        if owns_run:
            mltrail.end_run("FAILED")
        raise
    if owns_run:
        mltrail.end_run()
    artifacts = {}
    if table is not None:
        content = _read_back(client, run_id, table_file, table)
        artifacts[results_table.TABLE_NAME] = EvaluationArtifact(
            uri=f"{artifact_root}/{table_file}", content=content
        )
    return EvaluationResult(metrics=aggregates, artifacts={**artifacts, **more}, run_id=run_id)


def _read_back(client: Any, run_id: str, table_file: str, table: Any) -> Any:
    """The logged table file as a DataFrame (all of it: a second evaluation in a run appends rows, as in MLflow)."""
    try:
        with tempfile.TemporaryDirectory(prefix="mltrail-") as tmp:
            return results_table.read_logged_table(client.download_artifacts(run_id, table_file, tmp))
    except Exception as err:  # the results are logged: a failed read must not lose them for the caller
        _log.warning(
            "Could not read back %s (%s); result.tables holds the table as computed.", table_file, err
        )
        return table


def _log_dataset(df: Any, targets: str | None, predictions: str | None, context: str | None) -> None:
    """Record the evaluation data as a run input; MLflow tags it with a context only for a ``metric_prefix``."""
    try:
        dataset = from_pandas(df, targets=targets, predictions=predictions)
    except Exception as err:  # an unhashable column must not cost the user their results
        _log.warning("Could not record the evaluation dataset as a run input: %s", err)
        return
    mltrail.log_input(dataset, context=context)
