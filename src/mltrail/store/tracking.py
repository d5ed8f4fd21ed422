"""The tracking store interface.

Implemented once on SQL (:mod:`mltrail.store.sql.tracking`) and once over HTTP
(:mod:`mltrail.store.rest`), so the client and the fluent API do not care where
data lives. Method names and arguments follow MLflow's ``AbstractStore``.

Two additions to MLflow's interface:

* ``log_metric`` and ``log_batch`` take ``synchronous``: ``None`` is the store's
  own default, ``True`` returns only once the values are stored (errors raised),
  ``False`` lets a buffering store (REST) send them in the background. A store
  that always writes at once ignores it. The client passes it through as is.
* the UI reads (``experiment_run_summaries``, ``metric_point_counts``,
  ``metric_history_sampled``, ``metric_histories_sampled``,
  ``experiment_columns``, ``run_change_probe``): what the web UI shows beyond
  MLflow's API. Their defaults here answer through the other methods (so every
  store serves them); the SQL store answers each in a few indexed queries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.store.datasets import DatasetStore
from mltrail.store.downsample import bucket_points

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000
SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT = 1000
# Runs sampled for column keys by stores that cannot list them directly.
COLUMN_SAMPLE_RUNS = 1000


class TrackingStore(DatasetStore, ABC):
    """Experiments, runs, metrics, params, tags and dataset inputs (and evaluation datasets: :class:`DatasetStore`)."""

    # ------------------------------------------------------------ experiments
    @abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] | None = None
    ) -> str:
        """Create an experiment and return its id. Names are unique."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment, deleted or not; ``RESOURCE_DOES_NOT_EXIST`` if unknown."""

    @abstractmethod
    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        """The experiment of that name, or ``None``."""

    @abstractmethod
    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of experiments matching the filter (``name``, ``tags.``, times)."""

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Move an experiment and its runs to the trash."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Bring an experiment and its runs back from the trash."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment."""

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Set (or overwrite) an experiment tag."""

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove an experiment tag."""

    # ------------------------------------------------------------------- runs
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        """Create a RUNNING run; picks a name if none is given and sets ``mlflow.runName``."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its latest metrics, params, tags and inputs."""

    @abstractmethod
    def update_run_info(
        self, run_id: str, run_status: str | int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        """Change a run's status, end time and/or name."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Move a run to the trash."""

    @abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Bring a run back from the trash."""

    @abstractmethod
    def log_metric(self, run_id: str, metric: Metric, synchronous: bool | None = None) -> None:
        """Append one metric value (``synchronous``: see the module docstring)."""

    @abstractmethod
    def log_param(self, run_id: str, param: Param) -> None:
        """Log a param; logging a different value for an existing key is an error."""

    @abstractmethod
    def set_tag(self, run_id: str, tag: RunTag) -> None:
        """Set (or overwrite) a run tag."""

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run tag; ``RESOURCE_DOES_NOT_EXIST`` if it is not there."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log many values at once, atomically: a rejected batch writes nothing.

        ``synchronous``: see the module docstring.
        """

    @abstractmethod
    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput] | None = None, models: Sequence[Any] | None = None
    ) -> None:
        """Record datasets and logged models (``LoggedModelInput``) a run used."""

    @abstractmethod
    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """Every value logged for a key, ordered by step then timestamp."""

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of runs matching the filter, in the requested order."""

    # -------------------------------------------------------------------- gc
    @abstractmethod
    def get_deleted_runs(self, older_than_ms: int = 0) -> list[str]:
        """Ids of runs in the trash that were deleted more than ``older_than_ms`` ago."""

    @abstractmethod
    def hard_delete_run(self, run_id: str) -> None:
        """Erase a run and everything logged to it (artifacts are the caller's job)."""

    @abstractmethod
    def hard_delete_experiment(self, experiment_id: str) -> None:
        """Erase an experiment in the trash (its runs must be erased first)."""

    # ------------------------------------------------------------- buffering
    def flush(self) -> None:  # a deliberate no-op default
        """Send anything buffered (the REST store batches ``log_metric``); a no-op here."""

    # -------------------------------------------------------------- UI reads
    def dataset_summaries(self, experiment_ids: Sequence[str]) -> list[dict[str, str]]:
        """MLflow's ``DatasetSummary`` JSON (``experiment_id``, ``name``, ``digest``, ``context`` when set) of
        every dataset logged as a run input in some experiments (at most 1000, as MLflow's SQL store)."""
        raise MltrailException("dataset summaries need a database-backed store", error_code="NOT_IMPLEMENTED")

    def experiment_run_summaries(self, experiment_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per experiment id: ``{"runs": n, "running": n, "last_run_start": ms}`` for its active runs.

        Experiments without active runs are left out. This default knows no cheap
        way to count and returns ``{}`` (the experiments list then shows no counts).
        """
        return {}

    def metric_point_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run id, per metric key: how many values were logged (a number or a chart in the UI)."""
        out: dict[str, dict[str, int]] = {}
        for run_id in run_ids:
            keys = self.get_run(run_id).data.metrics
            out[run_id] = {k: len(self._metric_values(run_id, k)) for k in keys}
        return out

    def metric_history_sampled(self, run_id: str, key: str, axis: str, max_points: int) -> dict[str, Any]:
        """One metric of a run for a chart: at most about ``max_points`` points with a min/max envelope.

        ``axis`` is ``"step"`` or ``"time"``. The result has ``total`` (every logged
        point), ``downsampled``, and the ``step``, ``timestamp``, ``value`` lists
        (plus ``min`` and ``max`` when downsampled): see :mod:`mltrail.store.downsample`.
        """
        points = self._metric_values(run_id, key)
        return bucket_points([int(p.step) for p in points], [int(p.timestamp) for p in points],
                             [float(p.value) for p in points], axis, max_points)

    def metric_histories_sampled(
        self, run_ids: Sequence[str], key: str, axis: str, max_points: int
    ) -> dict[str, dict[str, Any]]:
        """:meth:`metric_history_sampled` for many runs (a run without the key has ``total`` 0)."""
        return {run_id: self.metric_history_sampled(run_id, key, axis, max_points) for run_id in run_ids}

    def experiment_columns(self, experiment_ids: Sequence[str]) -> dict[str, list[str]]:
        """``{"params": [...], "metrics": [...], "tags": [...]}``: the sorted keys of the experiments' runs.

        This default samples the newest ``COLUMN_SAMPLE_RUNS`` runs.
        """
        seen: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
        for run in self.search_runs(list(experiment_ids), None, ViewType.ALL, COLUMN_SAMPLE_RUNS):
            seen["params"].update(run.data.params)
            seen["metrics"].update(run.data.metrics)
            seen["tags"].update(run.data.tags)
        return {name: sorted(keys) for name, keys in seen.items()}

    def run_change_probe(self, run_id: str) -> tuple | None:
        """A value that changes whenever anything a run page shows changes; ``None`` once the run is gone.

        Live pages poll it and read the whole run only when it changed. This default
        reads the run; the SQL store answers from one indexed query.
        """
        try:
            run = self.get_run(run_id)
        except MltrailException as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        info = run.info
        metrics = tuple(sorted((m.key, m.step, m.timestamp) for m in run.data.metric_list))
        tags = tuple(sorted(run.data.tags.items()))
        return (info.status, info.end_time, info.lifecycle_stage, info.run_name, metrics, len(run.data.params), tags)

    def _metric_values(self, run_id: str, key: str) -> list[Metric]:
        """Every value of one metric, paging through :meth:`get_metric_history`."""
        values: list[Metric] = []
        token = None
        while True:
            page = self.get_metric_history(run_id, key, max_results=25000, page_token=token)
            values.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return values
