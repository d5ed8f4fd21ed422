"""The tracking store interface.

Implemented once on SQL (:mod:`mltrail.store.sql.tracking`) and once over HTTP
(:mod:`mltrail.store.rest`), so the client and the fluent API do not care where
data lives. Method names and arguments follow MLflow's ``AbstractStore``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

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

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_THRESHOLD = 50000
SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT = 1000


class TrackingStore(ABC):
    """Experiments, runs, metrics, params, tags and dataset inputs."""

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
    def log_metric(self, run_id: str, metric: Metric) -> None:
        """Append one metric value."""

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
    ) -> None:
        """Log many values at once, atomically: a rejected batch writes nothing."""

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None) -> None:
        """Record datasets a run used."""

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
    def flush(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Send anything buffered (the REST store batches ``log_metric``); a no-op here."""
