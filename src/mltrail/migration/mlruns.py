"""Read an MLflow ``mlruns`` folder (MLflow's FileStore layout).

``<exp id>/meta.yaml`` and ``tags/``; deleted experiments under ``.trash/``;
``<exp id>/<run id>/meta.yaml`` with ``metrics/<key>`` (lines
``timestamp value step``), ``params/<key>``, ``tags/<key>``, ``inputs/`` and
``artifacts/``; datasets under ``<exp id>/datasets/``; the model registry under
``models/<name>/`` (``meta.yaml``, ``tags/``, ``aliases/``, ``version-<n>/``).
Keys with ``/`` are nested folders, as MLflow writes them. Traces and logged models
(``<exp id>/traces/``, ``<exp id>/models/``) are read by :mod:`.mlruns_genai`.

A folder moved or copied from another machine still names its old absolute paths:
files are then read from the entity's own folder (``artifacts/``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from mltrail.artifacts import get_artifact_repository
from mltrail.artifacts.base import ArtifactRepository
from mltrail.entities.logged_model import LoggedModel
from mltrail.entities.model_registry import ModelVersion, RegisteredModel
from mltrail.entities.trace import Trace
from mltrail.entities.tracking import Dataset, DatasetInput, InputTag, Metric
from mltrail.migration.mlruns_files import key_files, local_uri, located, read_meta
from mltrail.migration.mlruns_genai import MlrunsGenai
from mltrail.migration.source import ExperimentRecord, LoggedModelRecord, RunRecord, Skipped, Source

# MLflow's FileStore writes a run's status as the RunStatus enum number.
_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


class MlrunsSource(Source):
    """An ``mlruns`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.identity = f"file://{self.root}"
        if not any((d / "meta.yaml").is_file() for d in self._exp_dirs()):
            raise ValueError(f"{root} is not an MLflow mlruns folder (no <experiment>/meta.yaml)")
        self.genai = MlrunsGenai(self._exp_dir)
        # registered model name -> its folder under models/ (the name as MLflow keeps it in meta.yaml)
        self._model_folders: dict[str, Path] = {}

    def _exp_dirs(self) -> list[Path]:
        dirs = [d for d in self.root.iterdir() if d.is_dir() and d.name.isdigit()]
        trash = self.root / ".trash"
        if trash.is_dir():
            dirs += [d for d in trash.iterdir() if d.is_dir() and d.name.isdigit()]
        return sorted(dirs, key=lambda d: int(d.name))

    def _exp_dir(self, experiment_id: str) -> Path:
        live = self.root / experiment_id
        return live if live.is_dir() else self.root / ".trash" / experiment_id

    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment, the ones in ``.trash`` as deleted."""
        out = []
        for d in self._exp_dirs():
            meta = read_meta(d)
            if not meta:
                continue
            deleted = d.parent.name == ".trash"
            out.append(
                ExperimentRecord(
                    experiment_id=str(meta.get("experiment_id", d.name)),
                    name=str(meta.get("name", d.name)),
                    artifact_location=meta.get("artifact_location"),
                    lifecycle_stage="deleted" if deleted else str(meta.get("lifecycle_stage", "active")),
                    creation_time=meta.get("creation_time"),
                    last_update_time=meta.get("last_update_time"),
                    tags=key_files(d / "tags"),
                )
            )
        return out

    def runs(self, experiment_id: str) -> Iterator[RunRecord]:
        """The experiment's runs, oldest first."""
        exp_dir = self._exp_dir(experiment_id)
        records = []
        for d in exp_dir.iterdir():
            meta = read_meta(d) if d.is_dir() and len(d.name) == 32 else {}
            if not meta:
                continue
            status = meta.get("status", 3)
            metrics_dir = d / "metrics"
            points = sum(len(p.read_text().splitlines()) for p in metrics_dir.rglob("*") if p.is_file())
            records.append(
                RunRecord(
                    run_id=str(meta.get("run_id") or d.name),
                    experiment_id=experiment_id,
                    name=str(meta.get("run_name") or ""),
                    user_id=str(meta.get("user_id") or ""),
                    status=_STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
                    start_time=meta.get("start_time"),
                    end_time=meta.get("end_time"),
                    lifecycle_stage=str(meta.get("lifecycle_stage", "active")),
                    artifact_uri=local_uri(meta.get("artifact_uri")),
                    params=key_files(d / "params"),
                    tags=key_files(d / "tags"),
                    inputs=self._inputs(exp_dir, d),
                    metric_points=points,
                )
            )
        records.sort(key=lambda r: (r.start_time or 0, r.run_id))
        yield from records

    def _inputs(self, exp_dir: Path, run_dir: Path) -> list[DatasetInput]:
        folder = run_dir / "inputs"
        if not folder.is_dir():
            return []
        out = []
        for d in sorted(folder.iterdir()):
            meta = read_meta(d)
            if meta.get("source_type") not in ("DATASET", 1) or not meta.get("source_id"):
                continue
            ds = read_meta(exp_dir / "datasets" / str(meta["source_id"]))
            if not ds:
                continue
            tags = [InputTag(str(k), str(v)) for k, v in (meta.get("tags") or {}).items()]
            dataset = Dataset(
                name=str(ds.get("name", "")),
                digest=str(ds.get("digest", "")),
                source_type=str(ds.get("source_type", "")),
                source=str(ds.get("source", "")),
                schema=ds.get("schema"),
                profile=ds.get("profile"),
            )
            out.append(DatasetInput(dataset, tags))
        return out

    def metrics(self, run: RunRecord) -> list[Metric]:
        """Every line of every metric file, per key in file order."""
        folder = self._exp_dir(run.experiment_id) / run.run_id / "metrics"
        out = []
        for key, text in key_files(folder).items():
            for line in text.splitlines():
                parts = line.split()
                if len(parts) < 2:
                    continue
                value = float(parts[1])
                step = int(parts[2]) if len(parts) > 2 else 0
                out.append(Metric(key, math.nan if math.isnan(value) else value, int(parts[0]), step))
        return out

    # --------------------------------------------------------------- registry
    def _model_dirs(self) -> list[Path]:
        models = self.root / "models"
        return sorted(d for d in models.iterdir() if (d / "meta.yaml").is_file()) if models.is_dir() else []

    def registered_models(self) -> list[RegisteredModel]:
        """The models under ``models/`` with tags and aliases."""
        out = []
        self._model_folders = {}
        for d in self._model_dirs():
            meta = read_meta(d)
            self._model_folders[str(meta.get("name", d.name))] = d
            out.append(
                RegisteredModel(
                    name=str(meta.get("name", d.name)),
                    creation_timestamp=meta.get("creation_timestamp"),
                    last_updated_timestamp=meta.get("last_updated_timestamp"),
                    description=meta.get("description") or None,
                    tags=key_files(d / "tags"),
                    aliases={k: v.strip() for k, v in key_files(d / "aliases").items()},
                )
            )
        out.sort(key=lambda m: (m.creation_timestamp or 0, m.name))
        return out

    def model_versions(self, name: str) -> list[ModelVersion]:
        """The model's ``version-<n>`` folders by number."""
        if name not in self._model_folders:  # found once by registered_models(), not per model
            self.registered_models()
        folder = self._model_folders.get(name)
        if folder is None:
            return []
        out = []
        for d in folder.glob("version-*"):
            meta = read_meta(d)
            if not meta:
                continue
            out.append(
                ModelVersion(
                    name=name,
                    version=str(meta.get("version", d.name.split("-", 1)[1])),
                    creation_timestamp=meta.get("creation_timestamp"),
                    last_updated_timestamp=meta.get("last_updated_timestamp"),
                    description=meta.get("description") or None,
                    user_id=meta.get("user_id"),
                    current_stage=str(meta.get("current_stage") or "None"),
                    source=meta.get("source"),
                    run_id=meta.get("run_id") or None,
                    status=str(meta.get("status") or "READY"),
                    tags=key_files(d / "tags"),
                    run_link=meta.get("run_link") or None,
                    model_id=meta.get("model_id") or None,
                )
            )
        out.sort(key=lambda v: int(v.version))
        return out

    # ------------------------------------------------------------------ GenAI
    def logged_models(self, experiment_id: str) -> list[LoggedModelRecord]:
        """The experiment's logged models (``<exp>/models/``), deleted ones too, oldest first."""
        return self.genai.logged_models(experiment_id)

    def model_artifact_repository(self, model: LoggedModel) -> ArtifactRepository | None:
        """A logged model's files (its own ``artifacts/`` when the recorded path is gone)."""
        return self.genai.model_artifact_repository(model)

    def traces(self, experiment_id: str) -> Iterator[Trace]:
        """The experiment's traces (``<exp>/traces/``) with spans and assessments, oldest first."""
        return self.genai.traces(experiment_id)

    def trace_count(self, experiment_id: str, since_ms: int | None = None) -> int:
        """How many traces the experiment's folder holds (requested since ``since_ms``)."""
        return self.genai.trace_count(experiment_id, since_ms)

    def artifact_repository(self, run: RunRecord) -> ArtifactRepository | None:
        """The run's files: its ``artifact_uri``, or its own ``artifacts/`` when the recorded path is gone."""
        own = self._exp_dir(run.experiment_id) / run.run_id / "artifacts"
        location = located(run.artifact_uri, own)
        return get_artifact_repository(location) if location else None

    def unsupported(self) -> list[Skipped]:
        """Traces, assessments, spans and logged models whose files could not be read."""
        return list(self.genai.unreadable)
