"""The fluent API: MLflow's module-level functions (``mltrail.start_run``, ``log_metric``, …).

They keep the active-run stack (:mod:`mltrail.tracking.context`) and
delegate to a :class:`~mltrail.tracking.client.MlflowClient` for the tracking
URI in effect. Logging without an active run starts one, as in MLflow.

Example::

    import mltrail as mlflow

    mlflow.set_experiment("llm-prompt-experiments")
    with mlflow.start_run(run_name="v3") as run:
        mlflow.log_params({"model": "gpt-4o-mini", "temperature": 0.7})
        mlflow.log_metric("prompt_tokens", 42)
        mlflow.log_text("You are a concise technical writer.", "system_prompt.txt")
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from mltrail import _exported_by
from mltrail.data import to_dataset_input
from mltrail.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunTag,
    ViewType,
)
from mltrail.exceptions import (
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    MltrailException,
    invalid,
)
from mltrail.tracking import _model_context
from mltrail.tracking import context as ctx
from mltrail.tracking._default_tags import (
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NAME,
    MLFLOW_RUN_NOTE,
    default_tags,
)
from mltrail.tracking._search_df import runs_to_dataframe
from mltrail.tracking._store_registry import cached_stores
from mltrail.tracking._uris import (  # the `x as x` names are re-exported as public API
    get_registry_uri as get_registry_uri,
)
from mltrail.tracking._uris import (
    get_tracking_uri as get_tracking_uri,
)
from mltrail.tracking._uris import (
    is_tracking_uri_set as is_tracking_uri_set,
)
from mltrail.tracking._uris import (
    set_registry_uri as set_registry_uri,
)
from mltrail.tracking._uris import (
    set_tracking_uri as set_tracking_uri,
)
from mltrail.tracking.client import MlflowClient, _metric_value
from mltrail.tracking.context import DEFAULT_EXPERIMENT_ID as DEFAULT_EXPERIMENT_ID
from mltrail.tracking.context import ActiveRun
from mltrail.tracking.context import client_for_uri as client_for_uri

_log = logging.getLogger(__name__)

SEARCH_MAX_RESULTS_PANDAS = 100000
_PAGE_SIZE = 10000
_RUN_ID_ENV_VARS = ("MLTRAIL_RUN_ID", "MLFLOW_RUN_ID")
_RUN_ID = re.compile(r"^[A-Za-z0-9][\w\-]{0,255}$")

# The public names are listed once, in mltrail/__init__.py's lazy table.
__all__ = _exported_by(__name__)


def _run_client(run_id: str | None) -> tuple[MlflowClient, str]:
    """The client and run id to log to (the active run, started if needed): see :func:`ctx.run_client`."""
    return ctx.run_client(run_id, start_run)


def _get_experiment_id() -> str:
    """MLflow's private ``mlflow.tracking.fluent._get_experiment_id``, which plugins and scripts call.

    mltrail's own modules ask :func:`mltrail.tracking.context.experiment_id` instead.
    """
    return ctx.experiment_id()


# -------------------------------------------------------------- experiments
def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment active for new runs, creating it when given by a name that does not exist.

    Exactly one of ``experiment_name`` and ``experiment_id`` must be given. A
    deleted experiment cannot be made active (restore it first).
    """
    if (experiment_name is None) == (experiment_id is None):
        raise invalid("Must specify exactly one of: `experiment_id` or `experiment_name`.")
    client = ctx.client()
    with ctx.experiment_lock():
        if experiment_id is None:
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                try:
                    new_id = client.create_experiment(experiment_name)
                    _log.info("Experiment with name '%s' does not exist. Creating a new experiment.", experiment_name)
                    experiment = client.get_experiment(new_id)
                except MltrailException as err:
                    # Another process created it between our read and our write: use theirs.
                    if err.error_code != RESOURCE_ALREADY_EXISTS:
                        raise
                    experiment = client.get_experiment_by_name(experiment_name)
                    if experiment is None:
                        raise
        else:
            experiment = client.get_experiment(str(experiment_id))
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise invalid(
                f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. "
                "You can restore the experiment, or permanently delete the experiment to create a new one."
            )
        ctx.set_active_experiment(client.tracking_uri, experiment.experiment_id)
    return experiment


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    """Create an experiment and return its id (it does not become active)."""
    return ctx.client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment with that id (``RESOURCE_DOES_NOT_EXIST`` if unknown)."""
    return ctx.client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment with that name, or ``None``."""
    return ctx.client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    """Move an experiment and its runs to the trash."""
    ctx.client().delete_experiment(experiment_id)


def search_experiments(
    view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int | None = None,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
) -> list[Experiment]:
    """Every matching experiment (all pages, or at most ``max_results``)."""
    client = ctx.client()
    return _collect(
        lambda n, token: client.search_experiments(view_type, n, filter_string, order_by, token),
        max_results,
        page_size=1000,
    )


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the active experiment."""
    client = ctx.client()
    client.set_experiment_tag(ctx.experiment_id(client), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    """Tag the active experiment with several tags."""
    client = ctx.client()
    exp_id = ctx.experiment_id(client)
    for key, value in tags.items():
        client.set_experiment_tag(exp_id, key, value)


# --------------------------------------------------------------------- runs
def _pop_run_id_env() -> str | None:
    for var in _RUN_ID_ENV_VARS:
        value = os.environ.pop(var, None)
        if value:
            return value
    return None


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a new run, or resume ``run_id``, and make it the active run.

    Use it as a context manager to end the run automatically. Starting a run
    while another is active needs ``nested=True`` (the new run gets the tag
    ``mlflow.parentRunId``). ``log_system_metrics`` is accepted for
    compatibility and ignored.
    """
    stack = ctx.run_stack()
    if experiment_id is not None and not isinstance(experiment_id, (str, int)):
        raise invalid(f"experiment_id must be a string, got {type(experiment_id).__name__}")
    if stack and not nested:
        raise MltrailException(
            f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, first end "
            "the current run with mlflow.end_run(). To start a nested run, call start_run with nested=True",
            error_code=INVALID_STATE,
        )
    client = ctx.client()
    user_tags = {str(k): str(v) for k, v in (tags or {}).items()}
    if description is not None:
        if MLFLOW_RUN_NOTE in user_tags:
            raise invalid(
                f"Description is already set via the tag {MLFLOW_RUN_NOTE} in tags. "
                f"Remove the key {MLFLOW_RUN_NOTE} from the tags or omit the description."
            )
        user_tags[MLFLOW_RUN_NOTE] = str(description)

    existing_id = run_id or _pop_run_id_env()
    if existing_id:
        run = _resume_run(client, _checked_run_id(existing_id), user_tags, run_name)
    else:
        run = _create_run(client, stack, experiment_id, run_name, parent_run_id, user_tags)
    active = ActiveRun(run, client.tracking_uri)
    stack.append(active)
    ctx.install_exit_hook()
    return active


def _checked_run_id(run_id: Any) -> str:
    """MLflow's run id rule: letters, digits, '_' and '-', at most 256, not starting with a symbol."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise invalid(f"Invalid run ID: {run_id!r}")
    return run_id


def _resume_run(client: MlflowClient, run_id: str, user_tags: dict[str, str], run_name: str | None) -> Run:
    run = client.get_run(run_id)
    chosen = ctx.active_experiment_id(client.tracking_uri)
    if chosen is not None and chosen != run.info.experiment_id:
        raise invalid(
            f"Cannot start run with ID {run_id} because active experiment ID does not match environment run ID. "
            "Make sure --experiment-name or --experiment-id matches experiment set with "
            "set_experiment(), or just use command-line arguments"
        )
    if run.info.lifecycle_stage == LifecycleStage.DELETED:
        raise invalid(f"Cannot start run with ID {run_id} because it is in the deleted state.")
    # The previous end time is kept until the run ends again, as MLflow does; a name renames it.
    client._store.update_run_info(run_id, run_status="RUNNING", end_time=run.info.end_time, run_name=run_name)
    if user_tags:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in user_tags.items()])
    return client.get_run(run_id)


def _create_run(
    client: MlflowClient,
    stack: list[ActiveRun],
    experiment_id: str | None,
    run_name: str | None,
    parent_run_id: str | None,
    user_tags: dict[str, str],
) -> Run:
    if parent_run_id is not None:
        _checked_run_id(parent_run_id)
        if stack and parent_run_id != stack[-1].info.run_id:
            current = stack[-1].info.run_id
            raise invalid(
                f"Current run with UUID {current} does not match the specified parent_run_id "
                f"{parent_run_id}. To start a new nested run under the parent run with UUID "
                f"{current}, first end the current run with mlflow.end_run()."
            )
        parent = client.get_run(parent_run_id)
        if parent.info.lifecycle_stage == LifecycleStage.DELETED:
            raise invalid(
                f"Cannot start run under parent run with ID {parent_run_id} because it is in the deleted state."
            )
    elif stack:
        parent_run_id = stack[-1].info.run_id
    exp_id = str(experiment_id) if experiment_id is not None else ctx.experiment_id(client)
    tags = default_tags()
    tags.update(user_tags)
    if parent_run_id is not None:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    if run_name:
        tags[MLFLOW_RUN_NAME] = run_name
    return client.create_run(exp_id, tags=tags, run_name=run_name or tags.get(MLFLOW_RUN_NAME))


def flush_async_logging() -> None:
    """Send everything buffered by stores that batch writes (the HTTP store's metrics)."""
    for store in cached_stores():
        store.flush()


def end_run(status: str = "FINISHED") -> None:
    """End the active run (if any) with ``status``; buffered metrics are flushed first."""
    stack = ctx.run_stack()
    if stack:
        for var in _RUN_ID_ENV_VARS:  # a run id handed in by the environment is used up
            os.environ.pop(var, None)
        ctx.terminate(stack.pop(), status)


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or ``None``."""
    stack = ctx.run_stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The active run, else the run most recently ended in this thread (fresh from the store)."""
    current = active_run()
    if current is not None:
        return client_for_uri(current._tracking_uri).get_run(current.info.run_id)
    last = ctx.last_run()
    if last is None:
        return None
    return client_for_uri(last[0]).get_run(last[1])


def get_run(run_id: str) -> Run:
    """The run with its latest metrics, params, tags and inputs."""
    return ctx.client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The parent of a nested run, or ``None``."""
    return ctx.client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    """Move a run to the trash."""
    ctx.client().delete_run(run_id)


# ------------------------------------------------------- params and metrics
def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param to the active run and return ``value``."""
    client, run_id = _run_client(None)
    return client.log_param(run_id, key, value, synchronous=synchronous)


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Log several params at once (stored as strings)."""
    client, run_id = _run_client(run_id)
    client.log_batch(run_id, params=[Param(str(k), str(v)) for k, v in params.items()], synchronous=synchronous)


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> None:
    """Log one metric value to the active run (or ``run_id``).

    ``model_id`` defaults to the active model (``set_active_model``), as in MLflow:
    the value is then also one of that LoggedModel's metrics.
    """
    client, run_id = _run_client(run_id)
    model_id = model_id or _model_context.active_model_id()
    name, digest = _dataset_ref(dataset)
    client.log_metric(
        run_id, key, value, timestamp=timestamp, step=step, synchronous=synchronous,
        dataset_name=name, dataset_digest=digest, model_id=model_id,
    )


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: Any = None,
) -> None:
    """Log several metrics at one step and timestamp in one batch (``model_id``: as in :func:`log_metric`)."""
    client, run_id = _run_client(run_id)
    model_id = model_id or _model_context.active_model_id()
    ts = int(timestamp) if timestamp is not None else int(time.time() * 1000)
    name, digest = _dataset_ref(dataset)
    batch = [
        Metric(str(k), _metric_value(v), ts, int(step or 0), dataset_name=name, dataset_digest=digest, model_id=model_id)
        for k, v in metrics.items()
    ]
    client.log_batch(run_id, metrics=batch, synchronous=synchronous)


def _dataset_ref(dataset: Any) -> tuple[str | None, str | None]:
    if dataset is None:
        return None, None
    return getattr(dataset, "name", None), getattr(dataset, "digest", None)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set a tag on the active run."""
    client, run_id = _run_client(None)
    client.set_tag(run_id, key, value, synchronous=synchronous)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags on the active run in one batch."""
    client, run_id = _run_client(None)
    client.log_batch(run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()], synchronous=synchronous)


def delete_tag(key: str) -> None:
    """Remove a tag from the active run."""
    client, run_id = _run_client(None)
    client.delete_tag(run_id, key)


# ---------------------------------------------------------------- artifacts
def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact URI, or the URI of ``artifact_path`` inside it."""
    client, run_id = _run_client(None)
    uri = client.get_run(run_id).info.artifact_uri
    if not artifact_path:
        return uri
    return uri.rstrip("/") + "/" + artifact_path.lstrip("/")


def log_artifact(local_path: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Upload a local file (or directory) to the active run's artifacts."""
    client, run_id = _run_client(run_id)
    client.log_artifact(run_id, local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Upload a local directory's contents to the active run's artifacts."""
    client, run_id = _run_client(run_id)
    client.log_artifacts(run_id, local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Save ``text`` as an artifact file of the active run."""
    client, run_id = _run_client(run_id)
    client.log_text(run_id, text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict as JSON (or YAML for ``.yaml``/``.yml``) in the active run."""
    client, run_id = _run_client(run_id)
    client.log_dict(run_id, dictionary, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a dict/DataFrame as a JSON table artifact, appending to an existing one."""
    client, run_id = _run_client(run_id)
    client.log_table(run_id, data, artifact_file)


def load_table(
    artifact_file: str, run_ids: list[str] | None = None, extra_columns: list[str] | None = None
) -> Any:
    """Read a table logged with ``log_table`` from runs of the active experiment."""
    client = ctx.client()
    return client.load_table(ctx.experiment_id(client), artifact_file, run_ids, extra_columns)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None, run_id: str | None = None
) -> None:
    """Save a matplotlib or plotly figure in the active run."""
    client, run_id = _run_client(run_id)
    client.log_figure(run_id, figure, artifact_file, save_kwargs=save_kwargs)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool | None = False,
    run_id: str | None = None,
) -> None:
    """Save a numpy array or PIL image in the active run."""
    client, run_id = _run_client(run_id)
    client.log_image(run_id, image, artifact_file, key=key, step=step, timestamp=timestamp)


def log_input(
    dataset: Any = None, context: str | None = None, tags: dict[str, Any] | None = None, model: Any = None
) -> None:
    """Record that the active run used ``dataset`` (from ``mltrail.data.from_pandas`` & co.)."""
    if dataset is None:
        raise invalid("log_input needs a dataset")
    log_inputs([dataset], [context], [tags])


def log_inputs(
    datasets: Sequence[Any] | None = None,
    contexts: Sequence[str | None] | None = None,
    tags_list: Sequence[dict[str, Any] | None] | None = None,
    models: Any = None,
) -> None:
    """Record several datasets at once, each with an optional context and tags, and logged models used."""
    datasets = list(datasets or [])
    contexts = list(contexts or [None] * len(datasets))
    tags_list = list(tags_list or [None] * len(datasets))
    if not (len(datasets) == len(contexts) == len(tags_list)):
        raise invalid("datasets, contexts and tags_list must have the same length")
    inputs = [to_dataset_input(d, c, t) for d, c, t in zip(datasets, contexts, tags_list, strict=True)]
    client, run_id = _run_client(None)
    client.log_inputs(run_id, inputs, list(models or []))


# ------------------------------------------------------------------- search
def _collect(fetch: Any, max_results: int | None, page_size: int) -> list[Any]:
    """Follow page tokens until ``max_results`` items (or everything when ``None``)."""
    items: list[Any] = []
    token: str | None = None
    while True:
        want = page_size if max_results is None else min(page_size, max_results - len(items))
        if want <= 0:
            return items
        page = fetch(want, token)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def search_runs(
    experiment_ids: list[str] | None = None,
    filter_string: str = "",
    run_view_type: int = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: list[str] | None = None,
) -> Any:
    """Search runs; a pandas DataFrame in MLflow's layout, or a list of Run with ``output_format="list"``.

    Without ids or names the active experiment is searched
    (``search_all_experiments=True``: every active experiment).
    """
    if output_format not in ("pandas", "list"):
        raise invalid(f"Unsupported output format: {output_format}. Supported string values are 'pandas' or 'list'")
    if isinstance(experiment_ids, (str, int)):
        experiment_ids = [experiment_ids]
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    if experiment_ids and experiment_names:
        raise invalid("Only experiment_ids or experiment_names can be used, but not both")
    client = ctx.client()
    if experiment_names:
        ids = []
        for name in experiment_names:
            experiment = client.get_experiment_by_name(name) if name is not None else None
            if experiment is None:
                _log.warning("Cannot retrieve experiment by name %s", name)
            else:
                ids.append(experiment.experiment_id)
    elif experiment_ids:
        ids = [str(e) for e in experiment_ids]
    elif search_all_experiments:
        ids = [e.experiment_id for e in search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    else:
        ids = [ctx.experiment_id(client)]
    runs: list[Run] = []
    if ids:
        runs = _collect(
            lambda n, token: client.search_runs(ids, filter_string, run_view_type, n, order_by, token),
            max_results,
            page_size=_PAGE_SIZE,
        )
    if output_format == "list":
        return runs
    return runs_to_dataframe(runs)

