"""``RestTrackingStore``: the tracking store interface over MLflow's REST API.

What ``mltrail.set_tracking_uri("http://…")`` uses, against ``mltrail server``
or ``mlflow server`` alike.

Buffered metrics
----------------
``log_metric`` queues the value and returns at once; a background thread sends
queued values with ``runs/log-batch`` (at most 1,000 per call, in logging
order). Every other call, ``flush()`` and interpreter exit send the queue
first, so reads see earlier writes and nothing is lost. Opt out per call with
``log_metric(run_id, metric, synchronous=True)`` (waits and raises any error),
or for the process with ``MLTRAIL_ASYNC_LOGGING=false``. An error from a
background send is raised by the next ``flush()``.

Example::

    store = RestTrackingStore("http://127.0.0.1:5000")
    run = store.create_run("0", "me", None, [], "demo")
    store.log_metric(run.info.run_id, Metric("loss", 0.5, 0, 0))
    store.flush()
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from math import isfinite
from typing import Any

import msgspec

from mltrail.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from mltrail.exceptions import NOT_IMPLEMENTED, RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.offline.guard import guard_for
from mltrail.protocol import tracking as w
from mltrail.protocol.offline import ReplayCreateRun
from mltrail.protocol.routes import Route
from mltrail.protocol.tracking import TRACKING as T
from mltrail.store import rest_answers as a
from mltrail.store._http import HttpSession, env, unreachable
from mltrail.store.rest_answers import decode_answer
from mltrail.store.rest_datasets import RestDatasetsMixin
from mltrail.store.rest_ui_reads import RestUiReadsMixin
from mltrail.store.tracking import (
    SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
    SEARCH_MAX_RESULTS_DEFAULT,
    TrackingStore,
)
from mltrail.store.validation import validate_batch, validate_experiment_name, validate_metric

MAX_METRICS_PER_BATCH = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _tags(tags: Sequence[Any] | None) -> list[w.KeyValue]:
    return [w.KeyValue(t.key, t.value) for t in tags or ()]


def _value(m: Metric) -> Any:
    value = m.value  # NaN and infinities are sent as strings ("NaN"), like protobuf JSON
    return value if isfinite(value) else m.to_dict()["value"]


def _metrics(metrics: Sequence[Metric]) -> list[w.MetricIn]:
    """The wire's metrics (one comprehension: a log_batch may carry 1,000 of them)."""
    metric_in = w.MetricIn
    return [
        metric_in(
            m.key,
            _value(m),
            m.timestamp,
            m.step,
            m.dataset_name or None,
            m.dataset_digest or None,
            m.model_id or None,
        )
        for m in metrics
    ]


class _MetricBuffer:
    """An ordered queue of (run_id, metric) drained by one background thread."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._queue: deque[tuple[str, Metric]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def put(self, run_id: str, metric: Metric) -> None:
        with self._cond:
            self._queue.append((run_id, metric))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mltrail-metric-sender", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _take(self) -> list[tuple[str, Metric]]:
        batch = []
        while self._queue and len(batch) < MAX_METRICS_PER_BATCH:
            batch.append(self._queue.popleft())
        return batch

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if not self._cond.wait(timeout=30):
                        self._thread = None  # idle: let the thread end; put() starts another
                        return
                batch = self._take()
                self._busy = True
            try:
                self._send_batch(batch)
            except BaseException as err:  # kept and raised by flush(): never lost silently
                with self._cond:
                    self._error = self._error or err
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _send_batch(self, batch: list[tuple[str, Metric]]) -> None:
        # Group by run, keeping each run's values in logging order.
        by_run: dict[str, list[Metric]] = {}
        for run_id, metric in batch:
            by_run.setdefault(run_id, []).append(metric)
        for run_id, metrics in by_run.items():
            self._send(run_id, metrics)

    def flush(self) -> None:
        """Wait until everything queued so far has been sent; raise a send error if one happened."""
        with self._cond:
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    # No sender (e.g. at interpreter exit): send inline.
                    batch = self._take()
                    self._busy = True
                    self._cond.release()
                    try:
                        self._send_batch(batch)
                    finally:
                        self._cond.acquire()
                        self._busy = False
                    continue
                self._cond.wait(timeout=1)
            err, self._error = self._error, None
        if err is not None:
            raise err

    def pending(self) -> bool:
        return bool(self._queue) or self._busy


class RestTrackingStore(RestUiReadsMixin, RestDatasetsMixin, TrackingStore):
    """The tracking store interface over HTTP (MLflow's REST API)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HttpSession(self.base_url)
        self.async_logging = (env("ASYNC_LOGGING", "true") or "true").strip().lower() not in (
            "0",
            "false",
            "no",
            "off",
        )
        self._buffer = _MetricBuffer(self._send_metrics)
        # Offline logging (docs/offline.md): None with MLTRAIL_OFFLINE=never.
        self.offline = guard_for(self.http, unreachable)
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s._flush_quietly())

    def __repr__(self) -> str:
        return f"RestTrackingStore({self.base_url!r})"

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:
            pass

    # -------------------------------------------------------------- plumbing
    def _send(self, route: Route, body: Any) -> dict[str, Any]:
        """Send buffered metrics first (reads see earlier writes), then call ``route``."""
        if self._buffer.pending():
            self._buffer.flush()
        return self.http.send(route, body)

    def _send_raw(self, route: Route, body: Any) -> bytes:
        """:meth:`_send` with the answer's body undecoded (for ``rest_answers.decode_answer``)."""
        if self._buffer.pending():
            self._buffer.flush()
        return self.http.send_raw(route, body)

    def _send_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        body = w.LogBatch(run_id, metrics=_metrics(metrics))
        self._write("log_batch", body, lambda: self.http.send(T.log_batch, body), flush=False)

    # ------------------------------------------------------- offline hooks
    def _write(self, op: str, body: Any, online: Any, offline: Any = None, flush: bool = True) -> Any:
        """A write: ``online()``, or journaled while the server is unreachable (see mltrail.offline).

        Buffered metrics go first (to the server or to the journal), so the journal keeps
        the logging order; the metric sender itself passes ``flush=False``.
        """
        if self.offline is None:
            return online()
        if flush and self._buffer.pending():
            self._buffer.flush()
        return self.offline.write(op, body, online, offline)

    def flush(self) -> None:
        """Send every buffered metric now (kept in order); raises if a background send failed."""
        self._buffer.flush()

    # ----------------------------------------------------------- experiments
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: Sequence[ExperimentTag] | None = None
    ) -> str:
        validate_experiment_name(name)
        body = w.CreateExperiment(name, artifact_location or "", _tags(tags))
        if self.offline is None:
            return str(self._send(T.create_experiment, body)["experiment_id"])
        record = self.offline.experiment_record(body)
        return self._write(
            "create_experiment",
            record,
            lambda: str(self._send(T.create_experiment, body)["experiment_id"]),
            lambda: self.offline.new_experiment(record),
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        if self.offline is not None and (
            exp := self.offline.offline_experiment(experiment_id=str(experiment_id))
        ):
            return exp
        return decode_answer(
            self._send_raw(T.get_experiment, w.ExperimentId(str(experiment_id))), a.EXPERIMENT
        )

    def get_experiment_by_name(self, experiment_name: str) -> Experiment | None:
        if self.offline is not None:  # offline: an experiment this process created offline, else None
            guard = self.offline
            if guard.journaling and (exp := guard.offline_experiment(name=experiment_name)):
                return exp
            return guard.read(
                lambda: self._experiment_by_name(experiment_name),
                lambda: guard.offline_experiment(name=experiment_name),
            )
        return self._experiment_by_name(experiment_name)

    def _experiment_by_name(self, experiment_name: str) -> Experiment | None:
        try:
            data = self._send_raw(T.get_experiment_by_name, w.GetExperimentByName(experiment_name))
        except MltrailException as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                return None
            raise
        return decode_answer(data, a.EXPERIMENT)

    def search_experiments(
        self,
        view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_EXPERIMENTS_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body = w.SearchExperiments(
            max_results=max_results,
            page_token=page_token or None,
            filter=filter_string or None,
            order_by=list(order_by or []),
            view_type=ViewType.to_string(ViewType.from_string(view_type)),
        )
        return decode_answer(self._send_raw(T.search_experiments, body), a.SEARCH_EXPERIMENTS)

    def delete_experiment(self, experiment_id: str) -> None:
        self._send(T.delete_experiment, w.ExperimentId(str(experiment_id)))

    def restore_experiment(self, experiment_id: str) -> None:
        self._send(T.restore_experiment, w.ExperimentId(str(experiment_id)))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._send(T.update_experiment, w.UpdateExperiment(str(experiment_id), new_name))

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        body = w.SetExperimentTag(str(experiment_id), tag.key, tag.value)
        self._write("set_experiment_tag", body, lambda: self._send(T.set_experiment_tag, body))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._send(T.delete_experiment_tag, w.DeleteExperimentTag(str(experiment_id), key))

    # ------------------------------------------------------------------ runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int | None,
        tags: Sequence[RunTag],
        run_name: str | None,
    ) -> Run:
        body = w.CreateRun(str(experiment_id), user_id, run_name or None, start_time, _tags(tags))
        if self.offline is None:
            return decode_answer(self._send_raw(T.create_run, body), a.GET_RUN)
        guard = self.offline
        online = lambda: self._known(decode_answer(self._send_raw(T.create_run, body), a.GET_RUN))  # noqa: E731
        record = msgspec.to_builtins(ReplayCreateRun(
            str(experiment_id), user_id or "", run_name or None, start_time if start_time is not None else _now_ms(),
            _tags(tags), run_id=guard.new_run_id(),
        ))  # fmt: skip
        return self._write("create_run", record, online, lambda: guard.offline_run(record))

    def get_run(self, run_id: str) -> Run:
        guard = self.offline
        if guard is not None and (run := guard.offline_run_of(run_id)) is not None:  # created offline
            if guard.journaling:
                return run
            return guard.read(lambda: self._get_run(run_id), lambda: run)
        return self._get_run(run_id)

    def _get_run(self, run_id: str) -> Run:
        return self._known(decode_answer(self._send_raw(T.get_run, w.RunRef(run_id)), a.GET_RUN))

    def _known(self, run: Run) -> Run:
        """``run``, its artifact URI noted for offline logging (its uploads can wait in the journal)."""
        if self.offline is not None:
            self.offline.note_artifact_uri(run.info.run_id, run.info.artifact_uri)
        return run

    def update_run_info(
        self, run_id: str, run_status: str | int, end_time: int | None, run_name: str | None
    ) -> RunInfo:
        status = RunStatus.normalize(run_status) if run_status is not None else None
        body = w.UpdateRun(run_id, status=status, end_time=end_time, run_name=run_name or None)
        if self.offline is None:
            return decode_answer(self._send_raw(T.update_run, body), a.RUN_INFO)
        guard, record = self.offline, msgspec.to_builtins(body)
        return self._write(
            "update_run",
            record,
            lambda: decode_answer(self._send_raw(T.update_run, body), a.RUN_INFO),
            lambda: guard.offline_run_info(record),
        )

    def delete_run(self, run_id: str) -> None:
        self._send(T.delete_run, w.RunRef(run_id))

    def restore_run(self, run_id: str) -> None:
        self._send(T.restore_run, w.RunRef(run_id))

    def log_metric(self, run_id: str, metric: Metric, synchronous: bool | None = None) -> None:
        """Queue a metric value (sent in batches); ``synchronous=True`` sends it now and waits."""
        validate_metric(metric)  # bad values fail here, at the call, even when buffered
        if synchronous or (synchronous is None and not self.async_logging):
            m = metric
            body = w.LogMetric(
                m.key,
                _value(m),
                m.timestamp,
                run_id,
                step=m.step,
                model_id=m.model_id or None,
                dataset_name=m.dataset_name or None,
                dataset_digest=m.dataset_digest or None,
            )
            # Journaled offline as the log_batch it is equivalent to (one record type for values).
            batch = w.LogBatch(run_id, metrics=_metrics([metric]))
            self._write("log_batch", batch, lambda: self._send(T.log_metric, body))
            return
        self._buffer.put(run_id, metric)

    def log_param(self, run_id: str, param: Param) -> None:
        body = w.LogParam(param.key, run_id, value=param.value)
        batch = w.LogBatch(run_id, params=[w.KeyValue(param.key, param.value)])
        self._write("log_batch", batch, lambda: self._send(T.log_param, body))

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        body = w.SetTag(tag.key, run_id, value=tag.value)
        batch = w.LogBatch(run_id, tags=[w.KeyValue(tag.key, tag.value)])
        self._write("log_batch", batch, lambda: self._send(T.set_tag, body))

    def delete_tag(self, run_id: str, key: str) -> None:
        body = w.DeleteTag(run_id, key)
        self._write("delete_tag", body, lambda: self._send(T.delete_tag, body))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool | None = None,
    ) -> None:
        """Log many values in one call (always sent now, after anything buffered)."""
        validate_batch(metrics, params, tags)
        key_value = w.KeyValue
        body = w.LogBatch(run_id, _metrics(metrics), [key_value(p.key, p.value) for p in params], _tags(tags))
        self._write("log_batch", body, lambda: self._send(T.log_batch, body))

    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput] | None = None, models: Sequence[Any] | None = None
    ) -> None:
        # The entities already speak the wire's dataset shape (w.DatasetInputWire).
        body = w.LogInputs(
            run_id,
            datasets=[d.to_dict() for d in datasets or ()],  # type: ignore[misc]
            models=[w.ModelInputWire(m.model_id) for m in models or ()],
        )
        self._write("log_inputs", body, lambda: self._send(T.log_inputs, body))

    def get_metric_history(
        self, run_id: str, metric_key: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """One page when ``max_results``/``page_token`` is given, else the whole history."""
        out: list[Metric] = []
        token = page_token
        while True:
            body = w.GetMetricHistory(metric_key, run_id, page_token=token, max_results=max_results)
            metrics, token = decode_answer(self._send_raw(T.get_metric_history, body), a.METRICS_PAGE)
            out.extend(metrics)
            token = token or None
            if max_results is not None or page_token is not None or token is None:
                return PagedList(out, token)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: int = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body = w.SearchRuns(
            experiment_ids=[str(e) for e in experiment_ids],
            filter=filter_string or None,
            run_view_type=ViewType.to_string(ViewType.from_string(run_view_type)),
            max_results=max_results,
            order_by=list(order_by or []),
            page_token=page_token or None,
        )
        return decode_answer(self._send_raw(T.search_runs, body), a.SEARCH_RUNS)

    # ------------------------------------------------------------------- gc
    def _server_side_only(self, what: str) -> MltrailException:
        return MltrailException(
            f"{what} is not available over REST; run `mltrail gc --backend-store-uri <db>` on the server",
            error_code=NOT_IMPLEMENTED,
        )

    def get_deleted_runs(self, older_than_ms: int = 0) -> list[str]:
        raise self._server_side_only("Listing deleted runs")

    def hard_delete_run(self, run_id: str) -> None:
        raise self._server_side_only("Permanently deleting runs")

    def hard_delete_experiment(self, experiment_id: str) -> None:
        raise self._server_side_only("Permanently deleting experiments")
