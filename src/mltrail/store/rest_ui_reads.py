"""The tracking store's UI reads over HTTP: the server's ``/ajax-api/mltrail/...`` routes.

Mixed into :class:`~mltrail.store.rest.RestTrackingStore`, so a UI or a script
on the REST store gets the server's SQL answers (one request per read, or per
slice of runs) instead of the interface's generic defaults, which would page
every metric value over the wire. The route paths and answers are the ones the
web UI calls (``mltrail.ui.routes``). ``run_change_probe`` keeps the interface's
default (the server streams run changes as server-sent events, not as a probe).

Example::

    store = RestTrackingStore("http://127.0.0.1:5000")
    store.metric_history_sampled(run_id, "loss", "step", 500)   # GET /ajax-api/mltrail/metrics/history
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrail.protocol.routes import Route
from mltrail.protocol.ui import (
    UI,
    ExperimentIdsQuery,
    MetricHistoryBulkQuery,
    MetricHistoryQuery,
    RunIdsQuery,
)

if TYPE_CHECKING:
    from mltrail.store._http import HttpSession

# The server's per-request limits (mltrail.ui.routes): longer lists are sent in slices.
_HISTORY_RUNS_PER_CALL = 200
_COUNT_RUNS_PER_CALL = 1000


def _slices(items: Sequence[str], size: int) -> list[list[str]]:
    items = list(dict.fromkeys(items))
    return [items[i : i + size] for i in range(0, len(items), size)]


class RestUiReadsMixin:
    """UI reads answered by the server; the host class provides ``http`` and ``flush()`` (sends buffered metrics)."""

    http: HttpSession

    def _ui_get(self, route: Route, query: Any) -> dict[str, Any]:
        self.flush()  # metrics still buffered here must show in what the server answers
        return self.http.send(route, query)

    def experiment_run_summaries(self, experiment_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Run counts per experiment (see :meth:`TrackingStore.experiment_run_summaries`)."""
        if experiment_ids is not None and not experiment_ids:
            return {}
        query = ExperimentIdsQuery() if experiment_ids is None else ExperimentIdsQuery([str(i) for i in experiment_ids])
        return self._ui_get(UI.ui_experiment_summaries, query)["experiments"]

    def metric_point_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Values per metric key per run (see :meth:`TrackingStore.metric_point_counts`)."""
        out: dict[str, dict[str, int]] = {}
        for part in _slices(run_ids, _COUNT_RUNS_PER_CALL):
            out.update(self._ui_get(UI.ui_metric_counts, RunIdsQuery(part))["counts"])
        return out

    def metric_history_sampled(self, run_id: str, key: str, axis: str, max_points: int) -> dict[str, Any]:
        """One metric downsampled by the server (see :meth:`TrackingStore.metric_history_sampled`)."""
        query = MetricHistoryQuery(run_id=run_id, key=key, axis=axis, max_points=max_points)
        data = self._ui_get(UI.ui_metric_history, query)
        for echoed in ("run_id", "key", "axis"):
            data.pop(echoed, None)
        return data

    def metric_histories_sampled(
        self, run_ids: Sequence[str], key: str, axis: str, max_points: int
    ) -> dict[str, dict[str, Any]]:
        """One metric of many runs, one request per slice of runs."""
        out: dict[str, dict[str, Any]] = {}
        for part in _slices(run_ids, _HISTORY_RUNS_PER_CALL):
            query = MetricHistoryBulkQuery(run_ids=part, key=key, axis=axis, max_points=max_points)
            for entry in self._ui_get(UI.ui_metric_history_bulk, query)["runs"]:
                out[entry.pop("run_id")] = entry
        return out

    def experiment_columns(self, experiment_ids: Sequence[str]) -> dict[str, list[str]]:
        """Param, metric and tag keys of the experiments' runs, as the server lists them."""
        return self._ui_get(UI.ui_experiment_columns, ExperimentIdsQuery([str(i) for i in experiment_ids]))
