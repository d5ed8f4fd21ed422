"""``mltrail.evaluate``: score a model (or static predictions) on a dataset and log it all to a run.

Steps, in an order that keeps failures clean: check every argument and that
every metric's inputs can be found (nothing is logged if not), compute the
predictions, compute the metrics (builtin for the ``model_type`` first, then
``extra_metrics`` in dependency order), then log the aggregate metrics and
the ``eval_results_table.json`` table artifact to the active run, the run
``run_id``, or a new run.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from mltrail.evaluation import builtin, retrieval
from mltrail.evaluation.base import EvaluationArtifact, EvaluationMetric, EvaluationResult, MetricValue
from mltrail.exceptions import invalid

_log = logging.getLogger(__name__)

MODEL_TYPES = ("question-answering", "text", "text-summarization", "retriever", "classifier", "regressor")
EVAL_TABLE = "eval_results_table"
_OUTPUTS = "outputs"
_BARE_COLUMNS = ("token_count", "latency")


def _default_metrics(
    model_type: str | None, has_targets: bool, config: dict[str, Any]
) -> list[EvaluationMetric]:
    """The built-in metrics of ``model_type``; pops the ``retriever_k`` they use from ``config``, as MLflow does."""
    if model_type is None:
        return []
    if model_type in ("classifier", "regressor"):
        if not has_targets:
            raise invalid(f"model_type {model_type!r} needs `targets` (the column of true values).")
        return [builtin.model_type_metric(model_type)]
    if model_type == "retriever":
        k = config.pop("retriever_k", retrieval.DEFAULT_K)
        # An invalid k warns and skips the metrics (MLflow's behaviour), so only a usable k needs targets.
        if retrieval.valid_k(k) and not has_targets:
            raise invalid(
                "model_type 'retriever' needs `targets`: the column holding each row's list of relevant document ids."
            )
        return retrieval.retriever_metrics(k)
    metrics = [builtin.token_count(), builtin.toxicity()]
    if model_type == "question-answering" and has_targets:
        metrics.insert(0, builtin.exact_match())
    if model_type in ("question-answering", "text", "text-summarization"):
        metrics += [builtin.flesch_kincaid_grade_level(), builtin.ari_grade_level()]
    return metrics


def _to_dataframe(data: Any) -> Any:
    import pandas as pd

    from mltrail.data.tabular import PandasDataset

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
        optional = {"latencies"}
        return [(name, name not in optional) for name in explicit]
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
    ) -> None:
        self.df = df
        self.predictions = predictions
        self.targets = targets
        self.inputs = inputs
        self.col_mapping = col_mapping
        self.config = config
        self.latencies = latencies
        self.values: dict[str, MetricValue] = {}

    def can_bind(self, name: str, metric_names: set[str]) -> bool:
        if name in ("predictions", "metrics", "inputs"):
            return True
        if name == "targets":
            return self.targets is not None
        if name == "latencies":
            return self.latencies is not None
        return (
            name in self.col_mapping or name in self.df.columns or name in self.config or name in metric_names
        )

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
            return self.df[mapped] if isinstance(mapped, str) and mapped in self.df.columns else mapped
        if name in self.df.columns:
            return self.df[name]
        if name in self.config:
            return self.config[name]
        return self.values[name]


def _check_metrics(metrics: list[EvaluationMetric], ctx: _Context) -> None:
    """Every required argument of every metric must be bindable: fail before anything is computed or logged."""
    for m in metrics:
        if not isinstance(m, EvaluationMetric):
            raise invalid(f"extra_metrics must be EvaluationMetric objects (from make_metric), got {m!r}")
    names = set()
    for m in metrics:
        names.update({m.name, m.full_name})
    seen: set[str] = set()
    for m in metrics:
        if m.full_name in seen:
            raise invalid(f"Metric {m.full_name!r} was given more than once.")
        seen.add(m.full_name)
        if _is_legacy(m):
            continue
        missing = [
            p
            for p, required in _params_of(m)
            if required and not ctx.can_bind(p, names - {m.name, m.full_name})
        ]
        if missing:
            available = sorted({str(c) for c in ctx.df.columns} | set(ctx.col_mapping))
            raise invalid(
                f"Metric {m.full_name!r} needs {missing} but they are neither columns of the data "
                f"({available}), entries of evaluator_config['col_mapping'], nor other metrics' names. "
                "Add the column or map it with evaluator_config={'col_mapping': {...}}."
            )
    judges = {getattr(m, "judge_model", None) for m in metrics} - {None}
    if judges:
        from mltrail.evaluation.judge import check_judge_available

        for judge in sorted(judges):
            check_judge_available(judge)


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
            deps -= {p for p in deps if p in ctx.df.columns or p in ctx.col_mapping}
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


def _metric_keys(metric: EvaluationMetric, value: MetricValue) -> dict[str, float]:
    out = {}
    for agg, v in (value.aggregate_results or {}).items():
        if v is None:
            continue
        if getattr(metric, "flat_aggregates", False):
            out[agg] = v
        elif agg == metric.name:
            out[metric.full_name] = v
        else:
            out[f"{metric.full_name}/{agg}"] = v
    return out


def _predict(
    model: Any,
    features: Any,
    inference_params: dict[str, Any] | None,
    timed: bool,
    predictions_col: str | None,
) -> tuple[list[Any], list[float] | None]:
    import pandas as pd

    def call(frame: Any) -> Any:
        if hasattr(model, "predict"):
            return model.predict(frame, params=inference_params) if inference_params else model.predict(frame)
        return model(frame)

    def as_list(out: Any, n: int) -> list[Any]:
        if isinstance(out, pd.DataFrame):
            if predictions_col and predictions_col in out.columns:
                out = out[predictions_col]
            elif len(out.columns) == 1:
                out = out.iloc[:, 0]
            else:
                raise invalid(
                    f"The model returned a DataFrame with columns {list(out.columns)}: name the output column "
                    "with predictions=..."
                )
        elif isinstance(out, dict):
            if predictions_col and predictions_col in out:
                out = out[predictions_col]
            else:
                raise invalid("The model returned a dict: name the output key with predictions=...")
        elif isinstance(out, str) or not hasattr(out, "__len__"):
            out = [out]
        values = list(out.tolist() if hasattr(out, "tolist") else out)
        if len(values) != n:
            raise invalid(f"The model returned {len(values)} predictions for {n} rows.")
        return values

    if not timed:
        return as_list(call(features), len(features)), None
    outputs, latencies = [], []
    for i in range(len(features)):
        row = features.iloc[[i]].reset_index(drop=True)
        start = time.perf_counter()
        out = call(row)
        latencies.append(time.perf_counter() - start)
        outputs += as_list(out, 1)
    return outputs, latencies


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
    to a new run; the per-row table is logged as ``eval_results_table.json``.

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
    from mltrail.data.tabular import PandasDataset

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
    metrics = _default_metrics(model_type, targets is not None, config) + extras
    timed = model is not None and any(m.name == "latency" for m in metrics)
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
    ctx = _Context(
        df,
        df[predictions] if model is None else None,
        target_values,
        inputs,
        col_mapping,
        config,
        [] if timed else None,
    )
    _check_metrics(metrics, ctx)

    resolved = _resolve_model(model, model_config)
    if resolved is None:
        outputs, latencies = list(df[predictions]), None
    else:
        outputs, latencies = _predict(resolved, features, inference_params, timed, predictions)
    import pandas as pd

    ctx.predictions = pd.Series(outputs, index=df.index, name=predictions or _OUTPUTS)
    ctx.latencies = latencies
    computed = _run_metrics(metrics, ctx)

    table = df.copy()
    if resolved is not None:
        table[_OUTPUTS] = outputs
    aggregates: dict[str, float] = {}
    for metric, value in computed:
        aggregates.update({prefix + k: v for k, v in _metric_keys(metric, value).items()})
        name = prefix + metric.full_name
        if value.scores:
            # MLflow names the per-row columns "<metric>/score", except the bare token_count and latency.
            column = name if metric.full_name in _BARE_COLUMNS else f"{name}/score"
            table[column] = list(value.scores)
        if value.justifications:
            table[f"{name}/justification"] = list(value.justifications)
    return _log_results(
        aggregates, table, run_id, df, targets, predictions if model is None else None, prefix
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
) -> EvaluationResult:
    import mltrail
    from mltrail.tracking.fluent import _client

    active = mltrail.active_run()
    if run_id is not None and active is not None and active.info.run_id != run_id:
        raise invalid(
            f"run_id {run_id!r} is not the active run ({active.info.run_id}): end the active run first or omit run_id."
        )
    owns_run = active is None
    run = mltrail.start_run(run_id=run_id) if owns_run else active
    run_id = run.info.run_id
    client = _client()
    try:
        _log_dataset(df, targets, predictions, prefix or None)
        if aggregates:
            mltrail.log_metrics(aggregates)
        client.log_table(run_id, table, f"{prefix}{EVAL_TABLE}.json")
    except BaseException:
        if owns_run:
            mltrail.end_run("FAILED")
        raise
    if owns_run:
        mltrail.end_run()
    artifact_uri = client.get_run(run_id).info.artifact_uri.rstrip("/") + f"/{prefix}{EVAL_TABLE}.json"
    return EvaluationResult(
        metrics=aggregates,
        artifacts={EVAL_TABLE: EvaluationArtifact(uri=artifact_uri, content=table)},
        run_id=run_id,
    )


def _log_dataset(df: Any, targets: str | None, predictions: str | None, context: str | None) -> None:
    """Record the evaluation data as a run input; MLflow tags it with a context only for a ``metric_prefix``."""
    import mltrail
    from mltrail.data import from_pandas

    try:
        dataset = from_pandas(df, targets=targets, predictions=predictions)
    except Exception as err:  # an unhashable column must not cost the user their results
        _log.warning("Could not record the evaluation dataset as a run input: %s", err)
        return
    mltrail.log_input(dataset, context=context)
