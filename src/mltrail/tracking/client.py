"""``MlflowClient``: the explicit tracking API (also exported as ``mltrail.Client``).

Method names, arguments and return types follow MLflow's ``MlflowClient`` so
ported code keeps working. Every call goes to the store chosen for the
client's tracking URI (:func:`~mltrail.tracking.get_tracking_store`); artifacts
go through :func:`mltrail.artifacts.get_artifact_repository`.

Example::

    from mltrail import Client
    client = Client()                       # ./mltrail.db unless configured
    exp_id = client.create_experiment("demo")
    run = client.create_run(exp_id, run_name="first")
    client.log_metric(run.info.run_id, "loss", 0.25, step=1)
    client.set_terminated(run.info.run_id)
"""

from __future__ import annotations

import os
import pathlib
import posixpath
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mltrail.artifacts import get_artifact_repository
from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.exceptions import TEMPORARILY_UNAVAILABLE, MltrailException, invalid
from mltrail.store.reachability import unreachable
from mltrail.tracking import _artifact_io
from mltrail.tracking._client_traces import TracingClientMixin
from mltrail.tracking._dataset_client import DatasetClientMixin
from mltrail.tracking._logged_model_client import LoggedModelClientMixin
from mltrail.tracking._prompt_client import PromptClientMixin
from mltrail.tracking._registry_client import RegistryClientMixin
from mltrail.tracking._store_registry import get_tracking_store
from mltrail.tracking._uris import resolve_registry_uri, resolve_tracking_uri
from mltrail.tracking._webhook_client import WebhookClientMixin

if TYPE_CHECKING:
    from mltrail.store.tracking import TrackingStore

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT = 1000
# MLflow's per-request batch limits; the client splits larger batches like MLflow's does.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

_MLFLOW_USER = "mlflow.user"
_MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _metric_value(value: Any) -> Any:
    """Plain floats for numbers (numpy scalars included); anything else goes to the store to reject."""
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, str):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


class MlflowClient(
    LoggedModelClientMixin, TracingClientMixin, RegistryClientMixin, PromptClientMixin, DatasetClientMixin,
    WebhookClientMixin,
):
    """A client of one tracking store (and one model registry).

    ``tracking_uri`` defaults to the URI in effect (``set_tracking_uri``, then
    ``MLTRAIL_TRACKING_URI``/``MLFLOW_TRACKING_URI``, then ``./mltrail.db``);
    ``registry_uri`` defaults to the tracking URI.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self._tracking_uri = resolve_tracking_uri(tracking_uri)
        self._registry_uri = resolve_registry_uri(registry_uri, self._tracking_uri)
        self._store_obj: TrackingStore | None = None
        # A run's artifact URI never changes, so artifact calls need not re-read the run.
        self._artifact_uris: dict[str, str] = {}

    @property
    def tracking_uri(self) -> str:
        """The tracking URI this client talks to."""
        return self._tracking_uri

    @property
    def _store(self) -> TrackingStore:
        if self._store_obj is None:
            self._store_obj = get_tracking_store(self._tracking_uri)
        return self._store_obj

    # ------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        """Create an experiment and return its id; ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""
        if not isinstance(name, str) or not name.strip():
            raise invalid("Invalid experiment name: the name must be a non-empty string")
        exp_tags = [ExperimentTag(k, str(v)) for k, v in (tags or {}).items()]
        return self._store.create_experiment(name, artifact_location=artifact_location, tags=exp_tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with that id (``RESOURCE_DOES_NOT_EXIST`` if unknown)."""
        return self._store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name, or ``None``."""
        return self._store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int | None = SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of experiments matching ``filter_string`` (e.g. ``"name LIKE 'llm-%'"``)."""
        return self._store.search_experiments(
            view_type=ViewType.from_string(view_type),
            max_results=SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT if max_results is None else max_results,
            filter_string=filter_string,
            order_by=order_by,
            page_token=page_token,
        )

    def delete_experiment(self, experiment_id: str) -> None:
        """Move an experiment and its runs to the trash."""
        self._store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        """Bring an experiment and its runs back from the trash."""
        self._store.restore_experiment(str(experiment_id))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment."""
        self._store.rename_experiment(str(experiment_id), new_name)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        """Set (or overwrite) an experiment tag."""
        self._store.set_experiment_tag(str(experiment_id), ExperimentTag(key, str(value)))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove an experiment tag."""
        self._store.delete_experiment_tag(str(experiment_id), key)

    # ------------------------------------------------------------------- runs
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        """Create a RUNNING run. Unlike ``mltrail.start_run`` no system tags are added."""
        tags = {k: str(v) for k, v in (tags or {}).items()}
        return self._store.create_run(
            experiment_id=str(experiment_id),
            user_id=tags.get(_MLFLOW_USER, "unknown"),
            start_time=start_time or _now_ms(),
            tags=[RunTag(k, v) for k, v in tags.items()],
            run_name=run_name,
        )

    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and inputs."""
        run = self._store.get_run(run_id)
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run

    def get_parent_run(self, run_id: str) -> Run | None:
        """The parent of a nested run (tag ``mlflow.parentRunId``), or ``None``."""
        parent_id = self.get_run(run_id).data.tags.get(_MLFLOW_PARENT_RUN_ID)
        return None if parent_id is None else self.get_run(parent_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        """Change a run's status and/or name (the end time is left alone)."""
        if status is None and name is None:
            return
        current = self._store.get_run(run_id).info
        status = RunStatus.normalize(status) if status is not None else current.status
        self._store.update_run_info(run_id, run_status=status, end_time=current.end_time, run_name=name)

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None) -> None:
        """End a run: ``status`` (default FINISHED) and ``end_time`` (default now).

        Buffered writes are flushed first so nothing logged is left behind.
        """
        status = RunStatus.normalize(status or "FINISHED")
        self._store.flush()
        self._store.update_run_info(run_id, run_status=status, end_time=end_time or _now_ms(), run_name=None)

    def delete_run(self, run_id: str) -> None:
        """Move a run to the trash."""
        self._store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Bring a run back from the trash."""
        self._store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of runs (``PagedList`` of :class:`Run` with ``.token``) matching the filter."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        return self._store.search_runs(
            experiment_ids=[str(e) for e in experiment_ids],
            filter_string=filter_string or None,
            run_view_type=ViewType.from_string(run_view_type),
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
        )

    # ------------------------------------------------------- params, metrics
    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        """Log a param (stored as a string) and return ``value``; re-logging a different value fails."""
        self._store.log_param(run_id, Param(key, str(value)))
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Log one metric value (timestamp defaults to now in ms, step to 0)."""
        metric = Metric(
            key,
            _metric_value(value),
            int(timestamp) if timestamp is not None else _now_ms(),
            int(step) if step is not None else 0,
            dataset_name=dataset_name,
            dataset_digest=dataset_digest,
            model_id=model_id,
        )
        self._store.log_metric(run_id, metric, synchronous=synchronous)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        """Set (or overwrite) a run tag; the value is stored as a string."""
        self._store.set_tag(run_id, RunTag(key, str(value)))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run tag."""
        self._store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log metrics, params and tags together.

        A batch within MLflow's limits (1,000 metrics, 100 params, 100 tags) is
        written atomically; a larger one is split into such batches, as
        MLflow's client does.
        """
        metrics, params, tags = list(metrics), list(params), list(tags)
        if not (metrics or params or tags):
            return
        for m_chunk, p_chunk, t_chunk in _split_batch(metrics, params, tags):
            self._store.log_batch(run_id, m_chunk, p_chunk, t_chunk, synchronous=synchronous)

    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput] | None = None, models: Any = None
    ) -> None:
        """Record the datasets and logged models (``LoggedModelInput``) a run used."""
        self._store.log_inputs(run_id, list(datasets or []), list(models or []))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value logged for ``key``, ordered by step then timestamp."""
        self._store.flush()  # buffered values must be visible to the reader
        history: list[Metric] = []
        token: str | None = None
        while True:
            page = self._store.get_metric_history(run_id, key, page_token=token)
            history.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return history

    # -------------------------------------------------------------- artifacts
    def _artifact_repo(self, run_id: str) -> Any:
        uri = self._artifact_uris.get(run_id)
        if uri is None:
            uri = self.get_run(run_id).info.artifact_uri
        return get_artifact_repository(uri, tracking_uri=self._tracking_uri)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload a file (or a whole directory, under its own name) to the run's artifacts."""
        path = pathlib.Path(local_path)
        if not path.exists():
            raise invalid(f"Cannot log artifact: local path {str(local_path)!r} does not exist")
        if path.is_dir():
            target = posixpath.join(artifact_path, path.name) if artifact_path else path.name
            self._upload(run_id, path, target, lambda repo: repo.log_artifacts(str(path), target))
        else:
            upload = lambda repo: repo.log_artifact(str(path), artifact_path)  # noqa: E731
            self._upload(run_id, path, artifact_path, upload)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the contents of a directory to the run's artifacts."""
        if not pathlib.Path(local_dir).is_dir():
            raise invalid(f"Cannot log artifacts: {str(local_dir)!r} is not a directory")
        path = pathlib.Path(local_dir)
        self._upload(run_id, path, artifact_path, lambda repo: repo.log_artifacts(str(path), artifact_path))

    def _upload(self, run_id: str, local: pathlib.Path, artifact_path: str | None, upload: Any) -> None:
        """``upload(repo)``; with the server away, the files go to the offline journal (docs/offline.md)."""
        try:
            upload(self._artifact_repo(run_id))
        except MltrailException as err:
            guard, uri = self._offline_target(run_id, err)
            guard.journal_artifacts(run_id, uri, local, artifact_path, err)

    def _offline_target(self, run_id: str, err: MltrailException) -> tuple[Any, str]:
        """The offline guard and the run's artifact URI to journal a failed upload to; else raises ``err``."""
        guard = getattr(self._store, "offline", None)
        uri = self._artifact_uris.get(run_id) or (guard.artifact_uri_of(run_id) if guard else None)
        away = unreachable(err) or err.error_code == TEMPORARILY_UNAVAILABLE
        if guard is None or uri is None or not away:
            raise err
        return guard, uri

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[Any]:
        """The run's artifacts one level under ``path`` (``FileInfo`` records)."""
        return self._artifact_repo(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download an artifact file or directory and return its local path."""
        return self._artifact_repo(run_id).download_artifacts(path, dst_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Save ``text`` as the artifact ``artifact_file`` (e.g. ``"outputs/answer.txt"``)."""
        _artifact_io.log_text(self, run_id, text, artifact_file)

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Save a dict/list as JSON, or YAML when the file ends in ``.yaml``/``.yml``."""
        _artifact_io.log_dict(self, run_id, dictionary, artifact_file)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a dict or DataFrame as a JSON table, appending to an existing one like MLflow."""
        _artifact_io.log_table(self, run_id, data, artifact_file)

    def load_table(
        self, experiment_id: str, artifact_file: str, run_ids: list[str] | None = None,
        extra_columns: list[str] | None = None,
    ) -> Any:
        """Read a logged table from runs of an experiment into one DataFrame."""
        return _artifact_io.load_table(self, experiment_id, artifact_file, run_ids, extra_columns)

    def log_figure(
        self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Save a matplotlib or plotly figure as an artifact."""
        _artifact_io.log_figure(self, run_id, figure, artifact_file, save_kwargs=save_kwargs)

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> None:
        """Save a numpy array or PIL image as an image artifact."""
        _artifact_io.log_image(self, run_id, image, artifact_file, key=key, step=step, timestamp=timestamp)

    def _log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> None:
        """Write ``data`` as ``artifact_file`` through a temp file (works for every repository)."""
        _artifact_io.log_bytes(self, run_id, data, artifact_file)


def _split_batch(
    metrics: list[Metric], params: list[Param], tags: list[RunTag]
) -> Iterable[tuple[list[Metric], list[Param], list[RunTag]]]:
    """Chunks within MLflow's limits; one chunk (the common case) when already small enough."""
    if (
        len(metrics) <= MAX_METRICS_PER_BATCH
        and len(params) <= MAX_PARAMS_TAGS_PER_BATCH
        and len(tags) <= MAX_PARAMS_TAGS_PER_BATCH
        and len(metrics) + len(params) + len(tags) <= MAX_ENTITIES_PER_BATCH
    ):
        yield metrics, params, tags
        return
    # Params and tags first (they are few), then metrics filling up to the total limit.
    while params or tags:
        p, params = params[:MAX_PARAMS_TAGS_PER_BATCH], params[MAX_PARAMS_TAGS_PER_BATCH:]
        t, tags = tags[:MAX_PARAMS_TAGS_PER_BATCH], tags[MAX_PARAMS_TAGS_PER_BATCH:]
        room = MAX_ENTITIES_PER_BATCH - len(p) - len(t)
        m, metrics = metrics[:room], metrics[room:]
        yield m, p, t
    while metrics:
        m, metrics = metrics[:MAX_METRICS_PER_BATCH], metrics[MAX_METRICS_PER_BATCH:]
        yield m, [], []


__all__ = ["MlflowClient", "MltrailException"]
