"""Small logging helpers shared by the framework integrations (truncation, batching, datasets)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mltrail.entities import Metric, Param, RunTag

if TYPE_CHECKING:
    from mltrail.tracking.client import MlflowClient
    from mltrail.tracking.fluent import ActiveRun

MAX_PARAM_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000  # MLflow truncates autologged param values to this, as we do


def client_for(run: ActiveRun) -> MlflowClient:
    """The client of the store ``run`` lives in."""
    from mltrail.tracking.fluent import client_for_uri

    return client_for_uri(run._tracking_uri)


def truncate_params(params: dict[str, Any]) -> dict[str, str]:
    """Params as strings cut to MLflow's limits (250-char keys, 6000-char values)."""
    return {str(k)[:MAX_PARAM_KEY_LENGTH]: str(v)[:MAX_PARAM_VAL_LENGTH] for k, v in params.items()}


def log_params(run_id: str, client: MlflowClient, params: dict[str, Any]) -> None:
    """Log params (truncated) in batches of MLflow's size; params already logged are skipped.

    MLflow refuses to change a logged param, so a param the user logged by hand
    before (or an earlier autolog call in the same run) is left as it is.
    """
    existing = client.get_run(run_id).data.params
    fresh = {k: v for k, v in truncate_params(params).items() if k not in existing}
    if fresh:
        client.log_batch(run_id, params=[Param(k, v) for k, v in fresh.items()])


def log_metrics(run_id: str, client: MlflowClient, metrics: dict[str, Any], step: int = 0) -> None:
    """Log numeric metrics at ``step`` in one batch (values that are not numbers are dropped)."""
    now = int(time.time() * 1000)
    batch = []
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        batch.append(Metric(str(key), number, now, int(step)))
    if batch:
        client.log_batch(run_id, metrics=batch)


def log_tags(run_id: str, client: MlflowClient, tags: dict[str, Any]) -> None:
    """Set several tags in one batch."""
    if tags:
        client.log_batch(run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])


def log_training_dataset(
    run_id: str, client: MlflowClient, features: Any, targets: Any = None, context: str = "train"
) -> None:
    """Record the training data as a run input (MLflow's ``log_datasets``), if its type is known."""
    from mltrail.data.dataset import to_dataset_input

    dataset = _dataset(features, targets)
    if dataset is not None:
        client.log_inputs(run_id, [to_dataset_input(dataset, context=context)])


def _dataset(features: Any, targets: Any) -> Any:
    module = type(features).__module__
    if module.startswith("pandas"):
        import pandas as pd

        from mltrail.data.tabular import from_pandas

        if isinstance(features, pd.DataFrame):
            if targets is not None and hasattr(targets, "__len__") and len(targets) == len(features):
                name = getattr(targets, "name", None) or "target"
                if name not in features.columns:
                    return from_pandas(features.assign(**{str(name): list(targets)}), targets=str(name))
            return from_pandas(features)
    if module.startswith("numpy"):
        import numpy as np

        from mltrail.data.tabular import from_numpy

        if isinstance(features, np.ndarray):
            return from_numpy(features, targets=None if targets is None else np.asarray(targets))
    return None


def infer_model_signature(model_input: Any, predict: Any) -> Any:
    """A signature inferred from a few input rows and the model's output on them, or ``None``."""
    from mltrail.models.signature import infer_signature

    sample = input_sample(model_input)
    if sample is None:
        return None
    return infer_signature(sample, predict(sample))


def input_sample(model_input: Any, rows: int = 5) -> Any:
    """The first ``rows`` rows of a DataFrame/array (what MLflow uses as input example)."""
    if hasattr(model_input, "iloc"):
        return model_input.iloc[:rows]
    if hasattr(model_input, "shape") and hasattr(model_input, "__getitem__"):
        return model_input[:rows]
    return None


def fn_args_as_params(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], unlogged: set[str]
) -> dict[str, Any]:
    """The arguments of a call to ``fn`` (defaults included) as params, minus ``unlogged`` and callables.

    MLflow logs e.g. ``num_boost_round`` and ``early_stopping_rounds`` of ``xgboost.train`` this way.
    """
    import inspect

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {}
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        kind = bound.signature.parameters[key].kind
        if key in unlogged or callable(value) or kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update({k: v for k, v in value.items() if k not in unlogged and not callable(v)})
        else:
            out[key] = value
    return out


def log_dict_artifact(run_id: str, client: MlflowClient, data: Any, artifact_file: str) -> None:
    """Write ``data`` as an indented JSON artifact at the run's root (feature importances …)."""
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, artifact_file)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2)
        client.log_artifact(run_id, path)


def sanitize_metric_name(name: str) -> str:
    """MLflow's rule for framework metric names: ``ndcg@3`` becomes ``ndcg_at_3``."""
    return name.replace("@", "_at_")


class MetricsBuffer:
    """Collects per-step metrics and writes them in batches (at most about once a second).

    Training loops call :meth:`record` each iteration; the run's charts fill in as
    training goes without a store round trip per value.
    """

    def __init__(self, run_id: str, client: MlflowClient, flush_every_s: float = 1.0) -> None:
        self.run_id = run_id
        self.client = client
        self.flush_every_s = flush_every_s
        self._pending: list[Any] = []
        self._last_flush = time.monotonic()

    def record(self, metrics: dict[str, Any], step: int) -> None:
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            try:
                self._pending.append(Metric(str(key), float(value), now, int(step)))
            except (TypeError, ValueError):
                continue
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.client.log_batch(self.run_id, metrics=batch)
        self._last_flush = time.monotonic()


def log_importance_plot(run_id: str, client: MlflowClient, importance: dict[str, float], kind: str) -> None:
    """``feature_importance_<kind>.png``, a horizontal bar chart, when matplotlib is installed.

    Drawn on a bare ``matplotlib.figure.Figure``: pyplot (and the user's backend) is left alone.
    """
    import importlib.util
    import os
    import tempfile

    if importlib.util.find_spec("matplotlib") is None:
        return
    from matplotlib.figure import Figure

    ordered = sorted(importance.items(), key=lambda item: item[1])
    height = 4.8 + (0.1 * len(ordered) if len(ordered) > 10 else 0)
    fig = Figure(figsize=(6.4, height))
    ax = fig.subplots()
    ax.barh(range(len(ordered)), [v for _, v in ordered], align="center", height=0.5)
    ax.set_yticks(range(len(ordered)))
    ax.set_yticklabels([str(k) for k, _ in ordered])
    ax.set_xlabel("Importance")
    ax.set_title(f"Feature Importance ({kind})")
    fig.tight_layout()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"feature_importance_{kind}.png")
        fig.savefig(path)
        client.log_artifact(run_id, path)
