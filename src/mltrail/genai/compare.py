"""``mltrail.genai.compare_evaluations``: which examples got worse or better between two evaluations.

MLflow has no such call: its UI compares two runs' metrics, not their rows.
Here two evaluation runs (or two model versions, through their latest
evaluation run) are matched row by row on their inputs, and every scorer says
``better``, ``worse``, ``same``, ``changed``, ``new`` or ``missing``.

Example::

    import mltrail as mlflow

    base = mlflow.genai.evaluate(data=rows, predict_fn=v1, scorers=[Correctness(), Safety()])
    cand = mlflow.genai.evaluate(data=rows, predict_fn=v2, scorers=[Correctness(), Safety()])
    df = mlflow.genai.compare_evaluations(base.run_id, cand.run_id)
    df[df["correctness/change"] == "worse"][["inputs", "baseline_outputs", "candidate_outputs"]]
    df.attrs["aggregates"]      # per scorer: baseline_mean, candidate_mean, delta, better, worse, ...

    mlflow.genai.compare_evaluations("models:/qa-bot/1", "models:/qa-bot/2")

The server's UI shows the same comparison ("Compare evaluations" on the runs
page, with two evaluation runs selected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mltrail.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.store.eval_compare import CHANGES, GENAI_EVALUATE, RUN_TYPE_TAG, compare_evaluation_runs

__all__ = ["compare_evaluations", "latest_evaluation_run"]

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


def _model_version(client: Any, target: Any) -> Any | None:
    """A ModelVersion for ``models:/name/3``, ``models:/name@alias`` or a ModelVersion; None for a run id."""
    if hasattr(target, "version") and hasattr(target, "name"):
        return target
    if not isinstance(target, str):
        raise MltrailException(
            f"Expected a run id, a 'models:/name/version' URI or a ModelVersion, got {target!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if not target.startswith("models:/"):
        return None
    m = _MODEL_URI.match(target)
    if m is None:
        raise MltrailException(
            f"Invalid model URI {target!r}: expected 'models:/<name>/<version>' or 'models:/<name>@<alias>'",
            error_code=INVALID_PARAMETER_VALUE,
        )
    if m["alias"]:
        return client.get_model_version_by_alias(m["name"], m["alias"])
    return client.get_model_version(m["name"], m["version"])


def _is_evaluation(run: Any) -> bool:
    return run.data.tags.get(RUN_TYPE_TAG) == GENAI_EVALUATE


def latest_evaluation_run(model_version: Any, client: Any = None) -> str:
    """The run id of a model version's latest ``genai.evaluate`` run.

    Looked up through the version's logged model (the evaluation runs that
    logged metrics for it), else its source run (the run itself when it is an
    evaluation, else its newest evaluation child run).
    """
    from mltrail.tracking.client import MlflowClient

    client = client or MlflowClient()
    candidates = []
    if getattr(model_version, "model_id", None):
        model = client.get_logged_model(model_version.model_id)
        run_ids = {m.run_id for m in model.metrics or [] if getattr(m, "run_id", None)}
        for run_id in run_ids:
            run = client.get_run(run_id)
            if _is_evaluation(run):
                candidates.append(run)
    source_run_id = getattr(model_version, "run_id", None)
    if not candidates and source_run_id:
        source = client.get_run(source_run_id)
        if _is_evaluation(source):
            candidates.append(source)
        else:
            candidates.extend(
                client.search_runs(
                    [source.info.experiment_id],
                    f"tags.`{RUN_TYPE_TAG}` = '{GENAI_EVALUATE}' AND tags.`mlflow.parentRunId` = '{source_run_id}'",
                    max_results=50,
                )
            )
    if not candidates:
        raise MltrailException(
            f"Model version {model_version.name}/{model_version.version} has no genai.evaluate run: evaluate it "
            "with model_id=<its logged model> or inside its source run",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return max(candidates, key=lambda r: (r.info.start_time or 0, r.info.run_id)).info.run_id


def _run_id(client: Any, target: Any) -> str:
    version = _model_version(client, target)
    return target if version is None else latest_evaluation_run(version, client)


def _score_columns(name: str) -> list[str]:
    return [
        f"{name}/{part}"
        for part in (
            "baseline",
            "candidate",
            "change",
            "baseline_rationale",
            "candidate_rationale",
            "baseline_error",
            "candidate_error",
        )
    ]


def compare_evaluations(
    baseline: Any,
    candidate: Any,
    *,
    lower_is_better: Iterable[str] = (),
    tracking_uri: str | None = None,
) -> Any:
    """Compare two evaluations row by row; a pandas DataFrame, one row per example matched on its inputs.

    Args:
        baseline: the reference: a ``genai.evaluate`` run id, a ``models:/name/version`` (or
            ``models:/name@alias``) URI, or a ``ModelVersion`` (its latest evaluation run).
        candidate: the same for the evaluation to judge.
        lower_is_better: scorer names whose numbers improve downwards (latency, cost, errors).
        tracking_uri: where the runs live (the current tracking URI by default).

    Columns: ``input_key`` (hash of the inputs), ``inputs``, ``expectations``, ``status``
    (``matched``/``added``/``removed``), ``baseline_trace_id``, ``candidate_trace_id``,
    ``baseline_outputs``, ``candidate_outputs``, then per scorer ``<scorer>/baseline``,
    ``<scorer>/candidate``, ``<scorer>/change`` (``better``, ``worse``, ``same``,
    ``changed``, ``new``, ``missing``), both rationales and both errors. Rows are ordered
    worst first (most scorers worse), then as the baseline evaluated them.

    ``df.attrs`` holds ``aggregates`` (a DataFrame indexed by scorer: ``baseline_mean``,
    ``candidate_mean``, ``delta`` and a count per change), ``metrics`` (each logged metric
    of both runs and its delta) and both run ids.
    """
    import pandas as pd

    from mltrail.tracing._store import trace_store_for
    from mltrail.tracking._store_registry import get_tracking_store
    from mltrail.tracking.client import MlflowClient

    client = MlflowClient(tracking_uri)
    base_id, cand_id = _run_id(client, baseline), _run_id(client, candidate)
    result = compare_evaluation_runs(
        get_tracking_store(tracking_uri), trace_store_for(tracking_uri), base_id, cand_id, lower_is_better
    )
    records = []
    for row in result["rows"]:
        record = {
            "input_key": row["key"],
            "inputs": row["inputs"],
            "expectations": row["expectations"],
            "status": row["status"],
            "baseline_trace_id": row["baseline_trace_id"],
            "candidate_trace_id": row["candidate_trace_id"],
            "baseline_outputs": row["baseline_outputs"],
            "candidate_outputs": row["candidate_outputs"],
        }
        for name in result["scorers"]:
            cell = row["scores"].get(name, {})
            for column in _score_columns(name):
                record[column] = cell.get(column.split("/", 1)[1])
        records.append(record)
    columns = [
        "input_key",
        "inputs",
        "expectations",
        "status",
        "baseline_trace_id",
        "candidate_trace_id",
        "baseline_outputs",
        "candidate_outputs",
    ]
    columns += [c for name in result["scorers"] for c in _score_columns(name)]
    df = pd.DataFrame(records, columns=columns, dtype=object)
    df = df.where(df.notna(), None)  # a side without a value is None, not NaN
    if len(df):
        worse = (
            sum((df[f"{n}/change"] == "worse").astype(int) for n in result["scorers"])
            if result["scorers"]
            else pd.Series(0, index=df.index)
        )
        df = df.iloc[sorted(range(len(df)), key=lambda i: -int(worse.iloc[i]))].reset_index(drop=True)
    aggregates = pd.DataFrame.from_dict(
        result["aggregates"],
        orient="index",
        columns=["baseline_mean", "candidate_mean", "delta", "rows", *CHANGES],
    )
    aggregates.index.name = "scorer"
    df.attrs.update(
        aggregates=aggregates, metrics=result["metrics"], baseline_run_id=base_id, candidate_run_id=cand_id
    )
    return df
