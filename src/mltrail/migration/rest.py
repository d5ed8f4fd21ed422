"""Read an MLflow tracking server over its REST API (mltrail's REST stores, with their auth).

Credentials come as for the SDK (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``,
``MLFLOW_TRACKING_TOKEN``, ``~/.mlflow/credentials``). Searches and metric
histories are read page by page; artifacts are streamed through the server's
artifact proxy (``mlflow-artifacts:``) or read from where the run says they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.logged_model import LoggedModel
from mltrail.entities.model_registry import ModelVersion, RegisteredModel
from mltrail.entities.trace import Trace, TraceData, TraceTagKey
from mltrail.entities.tracking import Metric
from mltrail.entities.view_type import ViewType
from mltrail.exceptions import MltrailException
from mltrail.migration.source import (
    SPAN_READ_ERRORS,
    ExperimentRecord,
    LoggedModelRecord,
    RunRecord,
    Skipped,
    Source,
    artifact_spans,
)
from mltrail.store.rest import RestTrackingStore
from mltrail.store.rest_logged_models import RestLoggedModelStore
from mltrail.store.rest_registry import RestRegistryStore
from mltrail.store.rest_traces import RestTraceStore

_PAGE = 1000
_TRACE_PAGE = 100
_PAGE_COUNT = 500  # MLflow's largest page of trace infos
# MLflow keeps prompts as registered models with this tag, out of plain searches.
_PROMPTS = "tags.`mlflow.prompt.is_prompt` = 'true'"


def _pages(call: Callable[[str | None], Any]) -> Iterator[Any]:
    token = None
    while True:
        page = call(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


class RestSource(Source):
    """An MLflow (or mltrail) tracking server at ``http(s)://host[:port][/prefix]``."""

    def __init__(self, url: str) -> None:
        self.identity = url.rstrip("/")
        self.tracking = RestTrackingStore(self.identity)
        self.tracking.offline = None  # an unreachable server is an error here, never a journal
        self.registry = RestRegistryStore(self.identity)
        self.trace_store = RestTraceStore(self.identity)
        self.logged_store = RestLoggedModelStore(self.identity)
        self.problems: list[Skipped] = []

    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment, active and deleted."""
        pages = _pages(
            lambda t: self.tracking.search_experiments(
                view_type=ViewType.ALL, max_results=_PAGE, page_token=t
            )
        )
        return [
            ExperimentRecord(
                experiment_id=str(e.experiment_id),
                name=e.name,
                artifact_location=e.artifact_location,
                lifecycle_stage=e.lifecycle_stage,
                creation_time=e.creation_time,
                last_update_time=e.last_update_time,
                tags=dict(e.tags),
            )
            for e in pages
        ]

    def runs(self, experiment_id: str) -> Iterator[RunRecord]:
        """The experiment's runs, oldest first; their marker uses the latest value of each metric."""
        pages = _pages(
            lambda t: self.tracking.search_runs(
                [experiment_id],
                run_view_type=ViewType.ALL,
                max_results=_PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=t,
            )
        )
        for run in pages:
            info = run.info
            latest = sorted((m.key, m.step, m.timestamp) for m in run.data.metric_list)
            yield RunRecord(
                run_id=info.run_id,
                experiment_id=str(info.experiment_id),
                name=info.run_name or "",
                user_id=info.user_id or "",
                status=info.status,
                start_time=info.start_time,
                end_time=info.end_time,
                lifecycle_stage=info.lifecycle_stage,
                artifact_uri=info.artifact_uri,
                params=dict(run.data.params),
                tags=dict(run.data.tags),
                inputs=list(run.inputs.dataset_inputs),
                metric_points=-1,
                metric_signature=hashlib.sha1(repr(latest).encode()).hexdigest(),
                metric_keys=[k for k, _, _ in latest],
            )

    def metrics(self, run: RunRecord) -> list[Metric]:
        """Each metric's full history, paged."""
        out: list[Metric] = []
        for key in run.metric_keys:
            history = _pages(
                lambda t, k=key: self.tracking.get_metric_history(
                    run.run_id, k, max_results=25_000, page_token=t
                )
            )
            out.extend(Metric(m.key, m.value, m.timestamp, m.step) for m in history)
        run.metric_points = len(out)
        return out

    def artifact_repository(self, run: RunRecord) -> ArtifactRepository | None:
        """The run's artifacts, through the server's proxy when the URI is ``mlflow-artifacts:``."""
        if not run.artifact_uri:
            return None
        return get_artifact_repository(run.artifact_uri, tracking_uri=self.identity)

    def registered_models(self) -> list[RegisteredModel]:
        """Every registered model, and the prompts (which MLflow's plain search leaves out), paged."""
        found: dict[str, RegisteredModel] = {}
        for filter_string in (None, _PROMPTS):
            pages = _pages(
                lambda t, f=filter_string: self.registry.search_registered_models(
                    f, max_results=_PAGE, page_token=t
                )
            )
            for model in pages:
                found.setdefault(model.name, model)
        return list(found.values())

    def model_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions by number (a prompt's, which searches leave out, one by one)."""
        quoted = name.replace("'", "\\'")
        versions = list(
            _pages(
                lambda t: self.registry.search_model_versions(
                    f"name = '{quoted}'", max_results=_PAGE, page_token=t
                )
            )
        )
        if not versions:
            versions = self._versions_one_by_one(name)
        return sorted(versions, key=lambda v: int(v.version))

    def _versions_one_by_one(self, name: str) -> list[ModelVersion]:
        model = self.registry.get_registered_model(name)
        top = max(
            [int(v.version) for v in model.latest_versions] + [int(v) for v in model.aliases.values()] + [0]
        )
        out = []
        for number in range(1, top + 1):
            try:
                out.append(self.registry.get_model_version(name, str(number)))
            except MltrailException:
                continue  # deleted
        return out

    # ------------------------------------------------------------------ GenAI
    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's live logged models (the REST API does not list deleted ones), paged."""
        try:
            pages = _pages(
                lambda t: self.logged_store.search_logged_models(
                    [experiment_id], max_results=100, page_token=t
                )
            )
            models = list(pages)
        except MltrailException as err:  # a server older than MLflow 3
            self._problem("logged models", experiment_id, err)
            return []
        models.sort(key=lambda m: (m.creation_timestamp or 0, m.model_id))
        return [LoggedModelRecord(m) for m in models]

    def model_artifact_repository(self, model: LoggedModel) -> ArtifactRepository | None:
        """A logged model's files, through the server's proxy when its location is ``mlflow-artifacts:``."""
        if not model.artifact_location:
            return None
        return get_artifact_repository(model.artifact_location, tracking_uri=self.identity)

    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces, oldest first, fetched with their spans a page at a time."""
        token = None
        while True:
            try:
                infos, token = self.trace_store.search_traces(
                    [experiment_id], None, _TRACE_PAGE, ["timestamp_ms ASC"], token
                )
            except MltrailException as err:  # a server older than MLflow 3
                self._problem("traces", experiment_id, err)
                return
            full = {t.info.trace_id: t for t in self._with_spans([i.trace_id for i in infos])}
            for info in infos:
                found = full.get(info.trace_id)
                spans = found.data.spans if found is not None else self._artifact_spans(info)
                # the search's info carries the assessments; batchGet's may not
                yield Trace(info, TraceData(list(spans)))
            if not token:
                return

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces the experiment has (requested since ``since_ms``): the search alone, no spans."""
        count, token = 0, None
        while True:
            try:
                infos, token = self.trace_store.search_traces([experiment_id], None, _PAGE_COUNT, None, token)
            except MltrailException:
                return count  # reported when the traces themselves are read
            count += sum(1 for i in infos if since_ms is None or i.request_time >= since_ms)
            if not token:
                return count

    def _with_spans(self, trace_ids: list[str]) -> list[Trace]:
        try:
            return self.trace_store.batch_get_traces(trace_ids)
        except MltrailException:
            return []  # an MLflow server that keeps spans in artifacts: read them there

    def _artifact_spans(self, info: Any) -> list:
        location = info.tags.get(TraceTagKey.ARTIFACT_LOCATION)
        if not location:
            return []
        try:
            return artifact_spans(get_artifact_repository(location, tracking_uri=self.identity))
        except SPAN_READ_ERRORS as err:
            self.problems.append(Skipped("trace spans", info.trace_id, f"cannot read {location}: {err}"))
            return []

    def _problem(self, kind: str, experiment_id: str, err: MltrailException) -> None:
        self.problems.append(
            Skipped(kind, f"of experiment {experiment_id}", f"cannot be listed: {err.message}")
        )

    def unsupported(self) -> list[Skipped]:
        """What could not be read (spans, or traces and logged models on a server without them)."""
        return list(self.problems)

    def close(self) -> None:
        """Close the HTTP sessions."""
        for store in (self.tracking, self.registry, self.trace_store, self.logged_store):
            http = getattr(store, "http", None)
            if http is not None:
                http.close()
