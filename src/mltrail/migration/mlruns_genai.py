"""Read the traces and logged models of an MLflow ``mlruns`` folder (MLflow's FileStore).

Traces: ``<exp>/traces/<trace id>/`` with ``trace_info.yaml`` (MLflow 3's TraceInfo V3
dict; MLflow 2 wrote its V2 dict there, ``request_id``, ``timestamp_ms``,
``execution_time_ms``, ``status``), ``request_metadata/<key>``, ``tags/<key>``,
``assessments/<assessment id>.yaml`` (MLflow's Assessment dict) and the spans in
``artifacts/traces.json`` (the folder named by the ``mlflow.artifactLocation`` tag).

Logged models (MLflow 3): ``<exp>/models/<model id>/`` with ``meta.yaml`` (status as
MLflow's number, ``lifecycle_stage: deleted`` for one in the trash), ``tags/<key>``,
``params/<key>``, ``metrics/<key>`` (lines ``timestamp value step run_id`` and, for a
metric on a dataset, ``dataset_name dataset_digest``) and the files in ``artifacts/``.

Each trace's info is read once (to sort by request time and count); its spans and
assessments only when it is yielded, so a large folder is streamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.assessment import Assessment
from mltrail.entities.logged_model import LoggedModel, LoggedModelStatus
from mltrail.entities.trace import Span, Trace, TraceData, TraceInfo, TraceState, TraceTagKey
from mltrail.entities.tracking import Metric
from mltrail.exceptions import MltrailException
from mltrail.migration.mlruns_files import key_files, located, read_meta, read_yaml
from mltrail.migration.source import SPAN_READ_ERRORS, LoggedModelRecord, Skipped, artifact_spans

# MLflow 2's TraceStatus names that differ from MLflow 3's TraceState.
_V2_STATES = {"TRACE_STATUS_UNSPECIFIED": TraceState.STATE_UNSPECIFIED}


def _model_metrics(model_id: str, folder: Path) -> list[Metric]:
    """Every line of the model's ``metrics/<key>`` files (a line of another shape is not a value)."""
    out = []
    for key, text in key_files(folder).items():
        for line in text.splitlines():
            parts = line.split()
            if len(parts) not in (4, 6):
                continue
            dataset = (parts[4], parts[5]) if len(parts) == 6 else (None, None)
            try:
                value = float(parts[1])
                out.append(Metric(key, value, int(parts[0]), int(parts[2]), *dataset, parts[3], model_id))
            except ValueError:
                continue
    return out


def _trace_info_dict(raw: dict[str, Any]) -> dict[str, Any]:
    """``trace_info.yaml`` in the shape :meth:`TraceInfo.from_proto_json` reads (MLflow 2's V2 too)."""
    d = dict(raw)
    if "execution_time_ms" in d and "execution_duration_ms" not in d:
        d["execution_duration_ms"] = d.pop("execution_time_ms")
    status = d.get("status")
    if not d.get("state") and status is not None:
        d["state"] = _V2_STATES.get(str(status), str(status))
    d.pop("assessments", None)  # the assessments folder is the truth, as for MLflow's reader
    return d


class MlrunsGenai:
    """Traces and logged models of one ``mlruns`` folder; ``exp_dir`` finds an experiment's folder."""

    def __init__(self, exp_dir: Callable[[str], Path]) -> None:
        self._exp_dir = exp_dir
        # experiment id -> its traces as (request time, trace id, folder, trace_info.yaml), oldest first
        self._listed: dict[str, list[tuple[int, str, Path, dict[str, Any]]]] = {}
        #: what could not be read (listed by the import)
        self.unreadable: list[Skipped] = []

    # ------------------------------------------------------------------ traces
    def _list(self, experiment_id: str) -> list[tuple[int, str, Path, dict[str, Any]]]:
        listed = self._listed.get(experiment_id)
        if listed is not None:
            return listed
        folder = self._exp_dir(experiment_id) / "traces"
        listed = []
        for d in sorted(folder.iterdir()) if folder.is_dir() else ():
            if not d.is_dir():
                continue
            raw = read_yaml(d / "trace_info.yaml")
            if not raw:
                self.unreadable.append(Skipped("trace", d.name, f"{d / 'trace_info.yaml'} cannot be read"))
                continue
            try:
                info = TraceInfo.from_proto_json(_trace_info_dict(raw))
            except (ValueError, TypeError) as err:
                self.unreadable.append(Skipped("trace", d.name, f"its trace_info.yaml is not valid: {err}"))
                continue
            listed.append((info.request_time, info.trace_id or d.name, d, raw))
        listed.sort(key=lambda t: (t[0], t[1]))
        self._listed[experiment_id] = listed
        return listed

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces the experiment's folder holds (requested since ``since_ms``)."""
        return sum(1 for t in self._list(experiment_id) if since_ms is None or t[0] >= since_ms)

    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces, oldest first, each read whole (spans, assessments) when yielded."""
        listed = self._list(experiment_id)
        self._listed.pop(experiment_id, None)  # read once per import
        for _, _, folder, raw in listed:
            info = TraceInfo.from_proto_json(_trace_info_dict(raw))
            info.experiment_id = experiment_id
            info.trace_metadata = key_files(folder / "request_metadata")
            info.tags = key_files(folder / "tags")
            info.assessments = self._assessments(info.trace_id, folder / "assessments")
            yield Trace(info, TraceData(self._spans(info, folder)))

    def _assessments(self, trace_id: str, folder: Path) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            raw = read_yaml(path)
            try:
                out.append(Assessment.from_proto_json(raw))
            except MltrailException as err:
                self.unreadable.append(Skipped("assessment", f"{trace_id}/{path.stem}", err.message))
        out.sort(key=lambda a: (str(a.get("create_time") or ""), str(a.get("assessment_id") or "")))
        return out

    def _spans(self, info: TraceInfo, folder: Path) -> list[Span]:
        """``traces.json`` where the trace's tag says, or in its own folder if the mlruns folder moved."""
        own = folder / "artifacts"
        location = located(info.tags.get(TraceTagKey.ARTIFACT_LOCATION), own)
        if not location and own.is_dir():
            location = str(own)
        if not location:
            reason = f"no {TraceTagKey.ARTIFACT_LOCATION} tag and no {own}"
            self.unreadable.append(Skipped("trace spans", info.trace_id, reason))
            return []
        try:
            return artifact_spans(get_artifact_repository(location))
        except SPAN_READ_ERRORS as err:
            self.unreadable.append(Skipped("trace spans", info.trace_id, f"cannot read {location}: {err}"))
            return []

    # ----------------------------------------------------------- logged models
    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's logged models (the trashed ones as deleted), oldest first."""
        folder = self._exp_dir(experiment_id) / "models"
        out = []
        for d in sorted(folder.iterdir()) if folder.is_dir() else ():
            if not d.is_dir():
                continue
            meta = read_meta(d)
            if not meta.get("model_id"):
                self.unreadable.append(Skipped("logged model", d.name, f"{d / 'meta.yaml'} cannot be read"))
                continue
            try:
                status = LoggedModelStatus.normalize(meta.get("status", LoggedModelStatus.PENDING))
            except MltrailException as err:
                self.unreadable.append(Skipped("logged model", d.name, err.message))
                continue
            model = LoggedModel(
                model_id=str(meta["model_id"]),
                experiment_id=experiment_id,
                name=str(meta.get("name") or d.name),
                artifact_location=str(meta.get("artifact_location") or ""),
                creation_timestamp=int(meta.get("creation_timestamp") or 0),
                last_updated_timestamp=int(meta.get("last_updated_timestamp") or 0),
                status=status,
                model_type=meta.get("model_type") or None,
                source_run_id=meta.get("source_run_id") or None,
                status_message=meta.get("status_message") or None,
                tags=key_files(d / "tags"),
                params=key_files(d / "params"),
                metrics=_model_metrics(str(meta["model_id"]), d / "metrics"),
            )
            out.append(LoggedModelRecord(model, deleted=meta.get("lifecycle_stage") == "deleted"))
        out.sort(key=lambda r: (r.model.creation_timestamp, r.model.model_id))
        return out

    def model_artifact_repository(self, model: LoggedModel) -> ArtifactRepository | None:
        """The model's files: its ``artifact_location``, or its own ``artifacts/`` if the folder moved."""
        own = self._exp_dir(model.experiment_id) / "models" / model.model_id / "artifacts"
        location = located(model.artifact_location or None, own)
        return get_artifact_repository(location) if location else None
