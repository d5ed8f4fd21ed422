"""``mltrail import``: bring an MLflow store into a mltrail database, resumable and idempotent.

Order: experiments, then each experiment's runs (params, tags, dataset inputs,
the full metric history, artifacts streamed), logged models (with their files)
and traces (spans, assessments; :mod:`.genai_import`), then registered models and their
versions (stage, tags, aliases; the version's run id mapped to the imported
run). After each run, its marker is recorded in the destination's import state
(:mod:`.state`), so a rerun brings only new or changed entities and an
interrupted import resumes where it stopped. At the end every kind is counted
in the source and in the destination.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mltrail.entities.model_registry import ModelVersion, ModelVersionTag, RegisteredModel
from mltrail.exceptions import MltrailException
from mltrail.migration.genai_import import GENAI_KINDS, GenaiImport
from mltrail.migration.source import (
    ExperimentRecord,
    LoggedModelRecord,
    RunRecord,
    Skipped,
    Source,
    is_deleted_version,
)
from mltrail.migration.state import ImportState
from mltrail.migration.writer import SqlDestination, copy_tree, count_files

KINDS = ("experiments", "runs", "metric points", "params", "tags", "dataset inputs", "artifact files",
         "registered models", "model versions", "aliases", *GENAI_KINDS)  # fmt: skip


def _plain(uri: str) -> str:
    """A local ``file://`` URI as a path, so sources written either way compare equal."""
    return uri[len("file://") :] if uri.startswith("file://") else uri


@dataclass
class KindCount:
    """One line of the final table: how many in the source, brought now, and found in the destination."""

    source: int = 0
    brought: int = 0
    destination: int = 0

    @property
    def ok(self) -> bool:
        """Whether the destination holds everything the source has."""
        return self.destination >= self.source


@dataclass
class ImportReport:
    """What an import did: counts per kind, bytes copied, and everything it did not bring."""

    counts: dict[str, KindCount] = field(default_factory=lambda: {k: KindCount() for k in KINDS})
    bytes_copied: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Whether every kind's destination count matches the source."""
        return all(c.ok for c in self.counts.values())


@dataclass
class Progress:
    """Callbacks for a progress display (each defaults to doing nothing)."""

    total: Callable[[int], None] = lambda n: None
    entity: Callable[[str], None] = lambda kind: None
    nbytes: Callable[[int], None] = lambda n: None


class Importer(GenaiImport):
    """One import of ``source`` into ``dest``; :meth:`run` does it and returns the report."""

    def __init__(
        self,
        source: Source,
        dest: SqlDestination,
        experiments: Sequence[str] = (),
        since_ms: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.dest = dest
        self.wanted = set(experiments)
        self.since_ms = since_ms
        self.progress = progress or Progress()
        self.state = ImportState(dest.engine, source.identity)
        self.report = ImportReport()
        self.c = self.report.counts
        # source run id -> (source artifact uri, destination run id) for the runs seen this time
        self.run_map: dict[str, tuple[str | None, str]] = {}
        # source logged model id -> destination id, for the traces and model versions that name one
        self.model_map: dict[str, str] = {}
        # an experiment's logged models, read once for the progress total
        self.logged: dict[str, list[LoggedModelRecord]] = {}

    def _skip(self, kind: str, ident: str, reason: str) -> None:
        self.report.skipped.append(Skipped(kind, ident, reason))

    def run(self) -> ImportReport:
        """Import everything selected; return counts, verification and the list of what was not brought."""
        exps = [e for e in self.source.experiments() if self._selected(e)]
        if self.wanted and not exps:
            raise MltrailException(f"No experiment named or numbered {sorted(self.wanted)} in the source")
        runs = {
            e.experiment_id: [r for r in self.source.runs(e.experiment_id) if self._recent(r)] for e in exps
        }
        models = self.source.registered_models()
        self.logged = {e.experiment_id: self.source.logged_models(e.experiment_id) for e in exps}
        genai = sum(len(m) for m in self.logged.values())
        genai += sum(self.source.trace_count(e.experiment_id, self.since_ms) for e in exps)
        self.progress.total(len(exps) + sum(len(r) for r in runs.values()) + len(models) + genai)
        for exp in exps:
            self._experiment(exp, runs[exp.experiment_id])
        for model in models:
            self._model(model)
        self.report.skipped.extend(self.source.unsupported())
        return self.report

    def _selected(self, exp: ExperimentRecord) -> bool:
        return not self.wanted or exp.name in self.wanted or exp.experiment_id in self.wanted

    def _recent(self, run: RunRecord) -> bool:
        if self.since_ms is None:
            return True
        last = max(run.start_time or 0, run.end_time or 0)
        return run.end_time is None or last >= self.since_ms

    # ------------------------------------------------------------ experiments
    def _experiment(self, exp: ExperimentRecord, runs: list[RunRecord]) -> None:
        self.c["experiments"].source += 1
        known = self.state.dest_id("experiment", exp.experiment_id)
        try:
            if known is None or self._experiment_missing(known):
                dest_id = self.dest.experiment(exp)
                self.c["experiments"].brought += 1
                if dest_id != exp.experiment_id:
                    self._skip("experiment id", f"{exp.experiment_id} ({exp.name})", f"imported as {dest_id}")
            else:
                dest_id = self.dest.experiment(exp) if runs else known
        except MltrailException as err:
            self._skip("experiment", f"{exp.experiment_id} ({exp.name})", err.message)
            return
        self.state.record("experiment", exp.experiment_id, dest_id, exp.lifecycle_stage)
        for run in runs:
            self._run(run, dest_id)
        self._logged_models(exp.experiment_id, dest_id)
        self._traces(exp.experiment_id, dest_id)
        self.dest.finish_experiment(dest_id, exp)
        self.c["experiments"].destination += 1
        self.progress.entity("experiment")

    def _experiment_missing(self, dest_id: str) -> bool:
        try:
            self.dest.tracking.get_experiment(dest_id)
        except MltrailException:
            return True
        return False

    # ------------------------------------------------------------------- runs
    def _run(self, rec: RunRecord, dest_exp: str) -> None:
        c = self.c
        c["runs"].source += 1
        c["params"].source += len(rec.params)
        c["tags"].source += len(rec.tags)
        c["dataset inputs"].source += len(rec.inputs)
        known = self.state.get("run", rec.run_id)
        try:
            if known is not None and known[1] == rec.marker() and self.dest.run_exists(known[0]):
                run_id = known[0]
                if rec.metric_points < 0:  # unchanged since the last import: as many as then
                    rec.metric_points = self.dest.metric_count(run_id)
            else:
                run_id = self._write_run(rec, dest_exp, known[0] if known else None)
                self.state.record("run", rec.run_id, run_id, rec.marker())
        except MltrailException as err:
            self._skip("run", rec.run_id, err.message)
            self.progress.entity("run")
            return
        c["metric points"].source += max(rec.metric_points, 0)
        self.run_map[rec.run_id] = (self.source.artifact_uri(rec), run_id)
        self._verify_run(rec, run_id)
        self.progress.entity("run")

    def _write_run(self, rec: RunRecord, dest_exp: str, known: str | None) -> str:
        run_id = known or rec.run_id
        holder = self.dest.run_exists(run_id)
        if holder is None:
            run_id = self.dest.create_run(rec, dest_exp, run_id)
            self.c["runs"].brought += 1
        elif known is None and holder != dest_exp:  # the id is taken by another experiment's run
            run_id = self.dest.create_run(rec, dest_exp, None)
            self.c["runs"].brought += 1
        metrics = self.source.metrics(rec)
        self.c["params"].brought += len(rec.params)
        self.c["tags"].brought += len(rec.tags)
        self.c["dataset inputs"].brought += len(rec.inputs)
        self.c["metric points"].brought += self.dest.write_run(rec, run_id, metrics)
        self._artifacts(rec, run_id)
        return run_id

    def _artifacts(self, rec: RunRecord, run_id: str) -> None:
        uri = self.source.artifact_uri(rec)
        try:
            src = self.source.artifact_repository(rec)
            if src is None:
                return
            files, nbytes = copy_tree(src, self.dest.run_artifacts(run_id), self.progress.nbytes)
        except (MltrailException, OSError) as err:
            self._skip("artifacts", rec.run_id, f"cannot read {uri}: {err}")
            return
        self.c["artifact files"].brought += files
        self.report.bytes_copied += nbytes

    def _verify_run(self, rec: RunRecord, run_id: str) -> None:
        c = self.c
        run = self.dest.tracking.get_run(run_id)
        c["runs"].destination += 1
        c["metric points"].destination += min(self.dest.metric_count(run_id), rec.metric_points)
        params = run.data.params
        c["params"].destination += sum(1 for k, v in rec.params.items() if params.get(k) == v)
        tags = run.data.tags
        c["tags"].destination += sum(1 for k, v in rec.tags.items() if tags.get(k) == v)
        digests = {(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs}
        c["dataset inputs"].destination += sum(
            1 for d in rec.inputs if (d.dataset.name, d.dataset.digest) in digests
        )
        self._count_artifacts(rec, run_id)

    def _count_artifacts(self, rec: RunRecord, run_id: str) -> None:
        try:
            src = self.source.artifact_repository(rec)
            if src is None:
                return
            src_files, _ = count_files(src)
        except (MltrailException, OSError):
            return
        dst_files, _ = count_files(self.dest.run_artifacts(run_id))
        self.c["artifact files"].source += src_files
        self.c["artifact files"].destination += min(dst_files, src_files)

    # --------------------------------------------------------------- registry
    def _model(self, model: RegisteredModel) -> None:
        versions = self.source.model_versions(model.name)
        if self.wanted and not any(v.run_id in self.run_map for v in versions):
            self.progress.entity("model")
            return  # --experiment: only the models with a version from an imported run
        self.c["registered models"].source += 1
        try:
            self.dest.registered_model(model)
        except MltrailException as err:
            self._skip("registered model", model.name, err.message)
            return
        if self.state.dest_id("registered_model", model.name) is None:
            self.c["registered models"].brought += 1
            self.state.record("registered_model", model.name, model.name, str(len(versions)))
        self.c["registered models"].destination += 1
        numbers: dict[str, str] = {}
        for mv in versions:
            number = self._version(mv)
            if number is not None:
                numbers[mv.version] = number
        for alias, version in model.aliases.items():
            self.c["aliases"].source += 1
            if version not in numbers:
                self._skip("alias", f"{model.name}@{alias}", f"version {version} was not imported")
                continue
            if self.dest.alias(model.name, alias, numbers[version]):
                self.c["aliases"].brought += 1
            self.c["aliases"].destination += 1
        self.progress.entity("model")

    def _version(self, mv: ModelVersion) -> str | None:
        ident = f"{mv.name}/{mv.version}"
        if is_deleted_version(mv):
            self._skip("model version", ident, "deleted in the source")
            return None
        self.c["model versions"].source += 1
        marker = f"{mv.current_stage}|{len(mv.tags)}|{mv.description or ''}"
        known = self.state.get("model_version", ident)
        try:
            if known is None:
                number = self._create_version(mv)
                self.c["model versions"].brought += 1
            else:
                number = known[0]
                if known[1] != marker:
                    self._update_version(mv, number)
        except MltrailException as err:
            self._skip("model version", ident, err.message)
            return None
        self.state.record("model_version", ident, number, marker)
        self.c["model versions"].destination += 1
        return number

    def _create_version(self, mv: ModelVersion) -> str:
        run_id = source = None
        if mv.run_id:
            mapped = self.run_map.get(mv.run_id)
            if mapped is not None:
                run_id = mapped[1]
            elif self.dest.run_exists(self.state.dest_id("run", mv.run_id) or mv.run_id):
                run_id = self.state.dest_id("run", mv.run_id) or mv.run_id
            else:
                self._skip("lineage", f"{mv.name}/{mv.version}", f"run {mv.run_id} is not in the destination")
        source = mv.source or ""
        if run_id and mv.run_id in self.run_map:
            src_uri = _plain(self.run_map[mv.run_id][0] or "").rstrip("/")
            if src_uri and _plain(source).startswith(src_uri + "/"):
                dest_uri = self.dest.tracking.get_run(run_id).info.artifact_uri.rstrip("/")
                source = dest_uri + _plain(source)[len(src_uri) :]
        if run_id and mv.run_id and source.startswith(f"runs:/{mv.run_id}/"):  # the run got another id
            source = f"runs:/{run_id}/" + source[len(f"runs:/{mv.run_id}/") :]
        model = source[len("models:/") :].split("/", 1)[0] if source.startswith("models:/") else ""
        if model in self.model_map:  # a logged model's URI (MLflow 3), which may have another id now
            source = "models:/" + self.model_map[model] + source[len("models:/") + len(model) :]
        model_id = self._version_model(mv, model)
        number = self.dest.model_version(mv, run_id, source or f"runs:/{run_id}/model", model_id)
        if number != mv.version:
            self._skip("version number", f"{mv.name}/{mv.version}", f"imported as version {number}")
        return number

    def _version_model(self, mv: ModelVersion, source_model: str) -> str | None:
        """The imported logged model a version stands for: its ``model_id``, else its ``models:/<id>`` source.

        MLflow's database keeps no ``model_id`` column for versions (its server answers without
        one); a version registered from a logged model names it in its source instead.
        """
        wanted = mv.model_id or source_model
        if not wanted:
            return None
        if wanted in self.model_map:
            return self.model_map[wanted]
        known = self.state.dest_id("logged_model", wanted)
        if known is not None and self.dest.logged_model_holder(known) is not None:
            return known
        if mv.model_id:
            self._skip("lineage", f"{mv.name}/{mv.version}", f"logged model {mv.model_id} is not imported")
        return None

    def _update_version(self, mv: ModelVersion, number: str) -> None:
        reg = self.dest.registry
        current = reg.get_model_version(mv.name, number)
        if mv.current_stage not in ("None", current.current_stage):
            reg.transition_model_version_stage(mv.name, number, mv.current_stage, False)
        if mv.description and mv.description != current.description:
            reg.update_model_version(mv.name, number, mv.description)
        for key, value in mv.tags.items():
            reg.set_model_version_tag(mv.name, number, ModelVersionTag(key, value))
