"""MLflow's tracking endpoints: experiments, runs, metrics, params, tags, inputs, search.

Thin handlers: validate what the wire types cannot express, call the tracking
store, shape the answer with MLflow's JSON field names.
"""

from __future__ import annotations

import json
from typing import Any

from mltrail.artifacts.paths import validate_artifact_path
from mltrail.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LoggedModelInput,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid, not_found
from mltrail.protocol.routes import Route
from mltrail.protocol.tracking import TRACKING, GetMetricHistoryBulk, LogModel
from mltrail.server import protocol as p
from mltrail.server.handlers.artifacts import uri_destination
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import check_artifact_location
from mltrail.server.wire import experiment_json, metric_json, page_json, run_info_json, run_json

SEARCH_MAX_RESULTS = 50000
DEFAULT_SEARCH_RUNS = 1000
DEFAULT_SEARCH_EXPERIMENTS = 1000
MAX_RUNS_BULK_INTERVAL = 100
DEFAULT_BULK_INTERVAL_RESULTS = 2500


def _run_id(body: Any) -> str:
    run_id = body.run_id or getattr(body, "run_uuid", "")
    if not run_id:
        raise invalid("Missing value for required parameter 'run_id'")
    return run_id


def _required(value: Any, name: str) -> Any:
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{name}'")
    return value


def _view_type(value: str | int | None) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return ViewType.from_string(value)


def _max_results(value: int | None, default: int, limit: int = SEARCH_MAX_RESULTS) -> int:
    if value is None:
        return default
    if value < 1 or value > limit:
        raise invalid(f"Invalid value {value} for parameter 'max_results': it must be between 1 and {limit}")
    return value


# ---------------------------------------------------------------- experiments


def create_experiment(call: Call) -> dict[str, Any]:
    """Create an experiment; ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""
    body: p.CreateExperiment = call.body
    name = body.name  # the store checks names (empty, too long) with MLflow's messages
    location = check_artifact_location(body.artifact_location) if body.artifact_location else None
    tags = [ExperimentTag(t.key, t.value) for t in body.tags]
    return {"experiment_id": call.tracking_store.create_experiment(name, location, tags)}


def get_experiment(call: Call) -> dict[str, Any]:
    """One experiment by id."""
    exp_id = _required(call.body.experiment_id, "experiment_id")
    return {"experiment": experiment_json(call.tracking_store.get_experiment(exp_id))}


def get_experiment_by_name(call: Call) -> dict[str, Any]:
    """One experiment by name."""
    name = _required(call.body.experiment_name, "experiment_name")
    exp = call.tracking_store.get_experiment_by_name(name)
    if exp is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(exp)}


def search_experiments(call: Call) -> dict[str, Any]:
    """A page of experiments matching a filter."""
    body: p.SearchExperiments = call.body
    page = call.tracking_store.search_experiments(
        view_type=_view_type(body.view_type),
        max_results=_max_results(body.max_results, DEFAULT_SEARCH_EXPERIMENTS),
        filter_string=body.filter or None,
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    return page_json("experiments", page, experiment_json)


def delete_experiment(call: Call) -> None:
    """Move an experiment and its runs to the trash."""
    call.tracking_store.delete_experiment(_required(call.body.experiment_id, "experiment_id"))


def restore_experiment(call: Call) -> None:
    """Bring an experiment back from the trash."""
    call.tracking_store.restore_experiment(_required(call.body.experiment_id, "experiment_id"))


def update_experiment(call: Call) -> None:
    """Rename an experiment."""
    body: p.UpdateExperiment = call.body
    exp_id = _required(body.experiment_id, "experiment_id")
    # MLflow requires new_name: an empty one is INVALID_PARAMETER_VALUE, not a silent no-op.
    call.tracking_store.rename_experiment(exp_id, _required(body.new_name, "new_name"))


def set_experiment_tag(call: Call) -> None:
    """Set an experiment tag."""
    body: p.SetExperimentTag = call.body
    call.tracking_store.set_experiment_tag(
        _required(body.experiment_id, "experiment_id"), ExperimentTag(_required(body.key, "key"), body.value)
    )


def delete_experiment_tag(call: Call) -> None:
    """Remove an experiment tag."""
    body: p.DeleteExperimentTag = call.body
    call.tracking_store.delete_experiment_tag(
        _required(body.experiment_id, "experiment_id"), _required(body.key, "key")
    )


# ----------------------------------------------------------------------- runs


def create_run(call: Call) -> dict[str, Any]:
    """Start a run in an experiment (the default experiment ``0`` if none is named)."""
    body: p.CreateRun = call.body
    run = call.tracking_store.create_run(
        experiment_id=body.experiment_id or "0",
        user_id=body.user_id,
        start_time=body.start_time,
        tags=[RunTag(t.key, t.value) for t in body.tags],
        run_name=body.run_name or None,
    )
    return {"run": run_json(run)}


def get_run(call: Call) -> dict[str, Any]:
    """A run with its latest metrics, params, tags and inputs."""
    # The JSON comes straight from the rows (store.sql._run_json), with no entities between.
    return {"run": call.tracking_store.get_run_json(_run_id(call.body))}


def update_run(call: Call) -> dict[str, Any]:
    """Change a run's status, end time or name."""
    body: p.UpdateRun = call.body
    run_id = _run_id(body)
    store = call.tracking_store
    status = body.status
    if status is None or status == "":
        status = None  # the store leaves it as it is (no run load to read it first)
    elif isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
        status = RunStatus.to_string(int(status))
    else:
        status = RunStatus.normalize(status)
    info = store.update_run_info(run_id, status, body.end_time, body.run_name or None)
    return {"run_info": run_info_json(info)}


def delete_run(call: Call) -> None:
    """Move a run to the trash."""
    call.tracking_store.delete_run(_run_id(call.body))


def restore_run(call: Call) -> None:
    """Bring a run back from the trash."""
    call.tracking_store.restore_run(_run_id(call.body))


def log_metric(call: Call) -> None:
    """Append one metric value."""
    body: p.LogMetric = call.body
    run_id = _run_id(body)
    metric = Metric(
        key=body.key,
        value=body.value,
        timestamp=body.timestamp,
        step=body.step,
        dataset_name=body.dataset_name or None,
        dataset_digest=body.dataset_digest or None,
        run_id=run_id,
        model_id=body.model_id or None,
    )
    call.tracking_store.log_metric(run_id, metric)


def log_param(call: Call) -> None:
    """Log a param (immutable once logged)."""
    body: p.LogParam = call.body
    call.tracking_store.log_param(_run_id(body), Param(body.key, body.value))


def set_tag(call: Call) -> None:
    """Set a run tag."""
    body: p.SetTag = call.body
    call.tracking_store.set_tag(_run_id(body), RunTag(body.key, body.value))


def delete_tag(call: Call) -> None:
    """Remove a run tag."""
    body: p.DeleteTag = call.body
    call.tracking_store.delete_tag(_run_id(body), _required(body.key, "key"))


def log_batch(call: Call) -> None:
    """Log metrics, params and tags at once; all or nothing."""
    body: p.LogBatch = call.body
    run_id = _run_id(body)
    # Limits and key rules are the store's (mltrail.store.validation): one source of truth.
    # Positional: keyword arguments cost a 1,000-metric batch a few hundred microseconds.
    metrics = [
        Metric(
            m.key,
            m.value,
            m.timestamp,
            m.step,
            m.dataset_name or None,
            m.dataset_digest or None,
            run_id,
            m.model_id or None,
        )
        for m in body.metrics
    ]
    params = [Param(x.key, x.value) for x in body.params]
    tags = [RunTag(x.key, x.value) for x in body.tags]
    call.tracking_store.log_batch(run_id, metrics=metrics, params=params, tags=tags)


def log_inputs(call: Call) -> None:
    """Record datasets a run used."""
    body: p.LogInputs = call.body
    run_id = _run_id(body)
    datasets = [
        DatasetInput(
            dataset=Dataset(
                name=_required(d.dataset.name, "dataset.name"),
                digest=_required(d.dataset.digest, "dataset.digest"),
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                schema=d.dataset.schema,
                profile=d.dataset.profile,
            ),
            tags=[InputTag(t.key, t.value) for t in d.tags],
        )
        for d in body.datasets
    ]
    models = [LoggedModelInput(_required(m.model_id, "models.model_id")) for m in body.models]
    call.tracking_store.log_inputs(run_id, datasets, models)


_LOG_MODEL_HISTORY = "mlflow.log-model.history"
_LOG_MODEL_FIELDS = {"artifact_path", "flavors", "utc_time_created", "run_id"}


def log_model(call: Call) -> None:
    """Append a model's summary to the run's ``mlflow.log-model.history`` tag (MLflow's LogModel).

    The official client's ``log_model`` sends it for every model logged in a run. The
    entry keeps what ``Model.get_tags_dict()`` keeps (flavors without their ``config``).
    """
    body: LogModel = call.body
    try:
        model = json.loads(body.model_json)
    except ValueError:
        raise invalid(f"Malformed model info. \n {body.model_json} \n is not a valid JSON.") from None
    if not isinstance(model, dict):
        raise invalid(f"Malformed model info. \n {body.model_json} \n is not a JSON object.")
    missing = _LOG_MODEL_FIELDS - model.keys()
    if missing:
        raise invalid(f"Model json is missing mandatory fields: {sorted(missing)}")
    if not isinstance(model["flavors"], dict):
        raise invalid("Model json field 'flavors' must be an object.")
    entry = {k: model[k] for k in ("run_id", "utc_time_created", "artifact_path", "model_uuid") if k in model}
    entry["flavors"] = {
        name: {k: v for k, v in conf.items() if k != "config"} if isinstance(conf, dict) else conf
        for name, conf in model["flavors"].items()
    }
    store = call.tracking_store
    run = store.get_run(body.run_id)
    if run.info.lifecycle_stage != "active":
        raise invalid(
            f"The run {body.run_id} must be in the 'active' state. Current state is {run.info.lifecycle_stage}."
        )
    try:
        history = json.loads(run.data.tags.get(_LOG_MODEL_HISTORY, "[]"))
    except ValueError:
        history = []
    history = history if isinstance(history, list) else []
    store.set_tag(body.run_id, RunTag(_LOG_MODEL_HISTORY, json.dumps([*history, entry])))


def get_metric_history(call: Call) -> dict[str, Any]:
    """Every value logged for one metric key of a run, paged."""
    body: p.GetMetricHistory = call.body
    run_id = _run_id(body)
    key = _required(body.metric_key, "metric_key")
    max_results = None if body.max_results is None else _max_results(body.max_results, 0, 10**9)
    page = call.tracking_store.get_metric_history(run_id, key, max_results, body.page_token or None)
    return page_json("metrics", page, metric_json)


def _ntile_sample(rows: list[Any], max_results: int) -> list[Any]:
    """MLflow's row sampling: the first row of each of ``max_results`` NTILE buckets, plus the last row.

    ``rows`` are ordered. NTILE splits n rows into buckets whose sizes differ by at
    most one (the larger ones first); the last row replaces the last pick when the
    sample is already full, so at most ``max_results`` rows come back.
    """
    n = len(rows)
    if n <= max_results:
        return rows
    q, r = divmod(n, max_results)
    picked = [rows[b * (q + 1) if b < r else r * (q + 1) + (b - r) * q] for b in range(max_results)]
    if picked[-1] is not rows[-1]:
        picked[-1] = rows[-1]
    return picked


def _history_order(m: Metric) -> tuple:
    nan = m.value != m.value
    return (m.step, m.timestamp, 0.0 if nan else m.value, nan)  # MLflow stores NaN as 0 with is_nan


def get_metric_history_bulk_interval(call: Call) -> dict[str, Any]:
    """Histories of one metric across runs, each sampled to ``max_results`` rows (for charts).

    As MLflow 3.17: up to 100 runs, ``max_results`` 1..2500 (2500 by default), an
    optional inclusive ``[start_step, end_step]``; each run's values ordered by step,
    timestamp and value are sampled evenly by row (NTILE), always keeping the first
    and the last, so many values at one step cannot blow the answer up.
    """
    body: p.GetMetricHistoryBulkInterval = call.body
    key = _required(body.metric_key, "metric_key")
    if not body.run_ids:
        raise invalid("Missing value for required parameter 'run_ids'.")
    if len(body.run_ids) > MAX_RUNS_BULK_INTERVAL:
        raise invalid(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK_INTERVAL} run_ids."
            f" Received {len(body.run_ids)} run_ids."
        )
    max_results = DEFAULT_BULK_INTERVAL_RESULTS if body.max_results is None else body.max_results
    if not 1 <= max_results <= DEFAULT_BULK_INTERVAL_RESULTS:
        raise invalid(f"max_results must be between 1 and {DEFAULT_BULK_INTERVAL_RESULTS}.")
    lo, hi = body.start_step, body.end_step
    if (lo is None) != (hi is None):
        raise invalid("If either start step or end step are specified, both must be specified.")
    if lo is not None and hi is not None and lo > hi:
        raise invalid(f"end_step must be greater than start_step. Found start_step={lo} and end_step={hi}.")
    store = call.tracking_store
    run_ids = list(dict.fromkeys(body.run_ids))
    for run_id in run_ids:  # every run must exist before any answer is built
        store.get_run(run_id)
    out = []
    for run_id in run_ids:
        history = sorted(
            (m for m in store.get_metric_history(run_id, key) if lo is None or lo <= m.step <= hi),
            key=_history_order,
        )
        out.extend({**metric_json(m), "run_id": run_id} for m in _ntile_sample(history, max_results))
    return {"metrics": out}


MAX_HISTORY_BULK_RESULTS = 25000


def get_metric_history_bulk(call: Call) -> dict[str, Any]:
    """MLflow UI's full histories of one metric for up to 100 runs (``ajax-api`` only), as MLflow.

    Runs in id order (unknown ones left out), each run's values by timestamp, step and
    value, cut at ``max_results`` values in all (25,000 at most).
    """
    body: GetMetricHistoryBulk = call.body
    if not body.run_id:
        raise invalid("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(body.run_id) > MAX_RUNS_BULK_INTERVAL:
        raise invalid(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_BULK_INTERVAL}"
            f" run_ids. Received {len(body.run_id)} run_ids."
        )
    if body.metric_key is None:
        raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
    max_results = MAX_HISTORY_BULK_RESULTS if body.max_results is None else body.max_results
    if max_results < 1:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results': it must be at least 1")
    max_results = min(max_results, MAX_HISTORY_BULK_RESULTS)
    out: list[dict[str, Any]] = []
    for run_id in sorted(set(body.run_id)):
        if len(out) >= max_results:
            break
        try:
            history = call.tracking_store.get_metric_history(run_id, body.metric_key)
        except MltrailException as err:  # MLflow's store leaves unknown runs out
            if err.error_code != RESOURCE_DOES_NOT_EXIST:
                raise
            continue
        for m in sorted(history, key=lambda m: (m.timestamp, m.step, m.value)):
            out.append({**metric_json(m), "run_id": run_id})
    return {"metrics": out[:max_results]}


def search_runs(call: Call) -> dict[str, Any]:
    """A page of runs matching a filter, in the requested order."""
    body: p.SearchRuns = call.body
    page = call.tracking_store.search_runs_json(
        experiment_ids=body.experiment_ids,
        filter_string=body.filter or None,
        run_view_type=_view_type(body.run_view_type),
        max_results=_max_results(body.max_results, DEFAULT_SEARCH_RUNS),
        order_by=body.order_by or None,
        page_token=body.page_token or None,
    )
    out: dict[str, Any] = {"runs": list(page)}  # each run already MLflow's JSON (see get_run)
    if page.token:
        out["next_page_token"] = page.token
    return out


def list_run_artifacts(call: Call) -> dict[str, Any]:
    """Entries under ``path`` of a run's artifacts (paths relative to the run's root)."""
    body: p.ListArtifacts = call.body
    rel = validate_artifact_path(body.path or "")
    run = call.tracking_store.get_run(_run_id(body))
    root_uri = run.info.artifact_uri
    files = uri_destination(call, root_uri).list(rel)
    if rel:
        files = [{**f, "path": f"{rel}/{f['path']}"} for f in files]
    return {"root_uri": root_uri, "files": files}


def _ep(route: Route, handler: Any, **kw: Any) -> Endpoint:
    kw.setdefault("db_only", True)  # every tracking handler but the artifact listing only queries the store
    return implement(route, handler, **kw)


T = TRACKING
W = {"write": True}
# Small writes, bounded by the request limits (a batch holds at most 1,000 metrics).
FAST_W = {"write": True, "inline": True}
FAST = {"inline": True}  # one small bounded read
# Reads whose cost grows with the data: inline only when the same request was fast last time.
ADAPT = {"inline_if_fast": True}
ENDPOINTS: list[Endpoint] = [
    _ep(T.create_experiment, create_experiment, **FAST_W),
    _ep(T.get_experiment, get_experiment, **FAST),
    _ep(T.get_experiment_by_name, get_experiment_by_name, **FAST),
    _ep(T.search_experiments, search_experiments, **ADAPT),
    _ep(T.search_experiments_get, search_experiments, **ADAPT),
    _ep(T.delete_experiment, delete_experiment, **W),
    _ep(T.restore_experiment, restore_experiment, **W),
    _ep(T.update_experiment, update_experiment, **W),
    _ep(T.set_experiment_tag, set_experiment_tag, **FAST_W),
    _ep(T.delete_experiment_tag, delete_experiment_tag, **W),
    _ep(T.create_run, create_run, **FAST_W),
    _ep(T.get_run, get_run, **FAST),
    _ep(T.update_run, update_run, **FAST_W),
    _ep(T.delete_run, delete_run, **W),
    _ep(T.restore_run, restore_run, **W),
    _ep(T.log_metric, log_metric, **FAST_W),
    _ep(T.log_param, log_param, **FAST_W),
    _ep(T.set_tag, set_tag, **FAST_W),
    _ep(T.delete_tag, delete_tag, **FAST_W),
    _ep(T.log_batch, log_batch, **FAST_W),
    _ep(T.log_inputs, log_inputs, **W),
    _ep(T.log_model, log_model, **W),
    _ep(T.search_runs, search_runs, **ADAPT),
    _ep(T.get_metric_history, get_metric_history, **ADAPT),
    _ep(T.get_metric_history_bulk_interval, get_metric_history_bulk_interval, **ADAPT),
    _ep(T.get_metric_history_bulk, get_metric_history_bulk, **ADAPT),
    _ep(T.list_artifacts, list_run_artifacts, db_only=False),
]
