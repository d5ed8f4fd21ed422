"""The GenAI part of an import: an experiment's logged models and traces (spans, assessments).

A mixin of :class:`.importer.Importer` (it uses its source, destination, import
state, counts and run map). Logged models come after the experiment's runs (a
model points to the run that made it), traces after the logged models (a trace
points to its run and model). Both keep their ids where the destination lets
them, are recorded in the import state with a marker, and are counted in the
source and in the destination like every other kind.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import TYPE_CHECKING

from mltrail.entities.trace import Trace, TraceInfo
from mltrail.entities.tracking import Metric
from mltrail.exceptions import MltrailException
from mltrail.migration.source import LoggedModelRecord, trace_marker
from mltrail.migration.writer import copy_tree, count_files

if TYPE_CHECKING:
    from mltrail.migration.importer import Importer

GENAI_KINDS = ("logged models", "model metric values", "traces", "spans", "assessments")
# Trace metadata naming other entities: rewritten when the import gave those another id.
_RUN_KEY = "mlflow.sourceRun"
_MODEL_KEY = "mlflow.modelId"


class GenaiImport:
    """Logged models and traces of one experiment (mixed into the importer)."""

    def _dest_run(self: Importer, run_id: str | None) -> str | None:
        if not run_id:
            return None
        mapped = self.run_map.get(run_id)
        if mapped is not None:
            return mapped[1]
        known = self.state.dest_id("run", run_id) or run_id
        return known if self.dest.run_exists(known) else None

    # ---------------------------------------------------------- logged models
    def _logged_models(self: Importer, exp_id: str, dest_exp: str) -> None:
        records = self.logged.pop(exp_id, None)
        for rec in self.source.logged_models(exp_id) if records is None else records:
            self._logged_model(rec, dest_exp)

    def _logged_model(self: Importer, rec: LoggedModelRecord, dest_exp: str) -> None:
        c = self.c["logged models"]
        m = rec.model
        c.source += 1
        known = self.state.get("logged_model", m.model_id)
        try:
            changed = True
            if known is not None and self.dest.logged_model_holder(known[0]) is not None:
                model_id = known[0]
                changed = known[1] != rec.marker()
                if changed:
                    self.dest.update_logged_model(rec, model_id)
            else:
                holder = self.dest.logged_model_holder(m.model_id)
                run_id = self._dest_run(m.source_run_id)
                if m.source_run_id and run_id is None:
                    self._skip(
                        "lineage", f"logged model {m.model_id}", f"run {m.source_run_id} is not imported"
                    )
                model_id = self.dest.create_logged_model(rec, dest_exp, run_id, keep_id=holder is None)
                c.brought += 1
                if model_id != m.model_id:
                    self._skip("logged model id", m.model_id, f"imported as {model_id}")
            self._model_files(rec, model_id)
            self._model_metrics(rec, model_id, write=changed)
            self.dest.finish_logged_model(rec, model_id)
        except MltrailException as err:
            self._skip("logged model", m.model_id, err.message)
            self.progress.entity("logged model")
            return
        self.state.record("logged_model", m.model_id, model_id, rec.marker())
        self.model_map[m.model_id] = model_id
        c.destination += 1
        self.progress.entity("logged model")

    def _model_metrics(self: Importer, rec: LoggedModelRecord, model_id: str, write: bool) -> None:
        """The model's metric values, per run that logged them (mapped to the imported run).

        Values whose run is not in the destination, or that the destination cannot take, are listed
        and not counted; the rest are counted as distinct (key, timestamp, step, run), as the
        destination's table keeps them. ``write=False``: unchanged since the last import, only counted."""
        c = self.c["model metric values"]
        by_run: dict[str, list[Metric]] = defaultdict(list)
        for m in rec.model.metrics or []:
            by_run[m.run_id or ""].append(m)
        ident = f"logged model {rec.model.model_id}"
        counted = 0
        for run, points in by_run.items():
            dest_run = self._dest_run(run)
            distinct = len({(m.key, m.timestamp, m.step) for m in points})
            if dest_run is None:
                self._skip("model metric values", ident, f"{distinct} from run {run or '?'}, not imported")
                continue
            try:
                if write:
                    c.brought += self.dest.model_metrics(model_id, dest_run, points)
            except MltrailException as err:
                self._skip("model metric values", ident, f"{distinct} from run {run}: {err.message}")
                continue
            counted += distinct
        if counted:
            c.source += counted
            c.destination += min(self.dest.model_metric_count(model_id), counted)

    def _model_files(self: Importer, rec: LoggedModelRecord, model_id: str) -> None:
        try:
            src = self.source.model_artifact_repository(rec.model)
            if src is None:
                return
            dst = self.dest.model_artifacts(model_id)
            files, nbytes = copy_tree(src, dst, self.progress.nbytes)
            src_files, _ = count_files(src)
        except (MltrailException, OSError) as err:
            self._skip(
                "logged model files", rec.model.model_id, f"cannot read {rec.model.artifact_location}: {err}"
            )
            return
        self.c["artifact files"].brought += files
        self.c["artifact files"].source += src_files
        self.c["artifact files"].destination += min(count_files(dst)[0], src_files)
        self.report.bytes_copied += nbytes

    # ----------------------------------------------------------------- traces
    def _traces(self: Importer, exp_id: str, dest_exp: str) -> None:
        for trace in self.source.traces(exp_id):
            if self.since_ms is not None and trace.info.request_time < self.since_ms:
                continue
            self._trace(trace, dest_exp)

    def _trace(self: Importer, trace: Trace, dest_exp: str) -> None:
        c = self.c
        info = trace.info
        c["traces"].source += 1
        c["spans"].source += len(trace.data.spans)
        c["assessments"].source += len(info.assessments)
        marker = trace_marker(trace)
        known = self.state.get("trace", info.trace_id)
        try:
            holder = self.dest.trace_holder(known[0] if known else info.trace_id)
            if known is not None and holder is not None and known[1] == marker:
                trace_id = known[0]
            else:
                if known is None and holder is not None and holder != dest_exp:
                    raise MltrailException(f"the id is taken by a trace of experiment {holder}")
                new = self.dest.write_trace(self._rewritten(trace, dest_exp), exists=holder is not None)
                trace_id = info.trace_id
                c["traces"].brought += holder is None
                c["spans"].brought += len(trace.data.spans) if holder is None else 0
                c["assessments"].brought += new
                self.state.record("trace", info.trace_id, trace_id, marker)
            spans, judged = self.dest.trace_counts(trace_id)
        except MltrailException as err:
            self._skip("trace", info.trace_id, err.message)
            self.progress.entity("trace")
            return
        c["traces"].destination += 1
        c["spans"].destination += min(spans, len(trace.data.spans))
        c["assessments"].destination += min(judged, len(info.assessments))
        self.progress.entity("trace")

    def _rewritten(self: Importer, trace: Trace, dest_exp: str) -> Trace:
        """The trace as the destination takes it: its experiment, and run and model ids mapped."""
        info = trace.info
        meta = dict(info.trace_metadata)
        run = meta.get(_RUN_KEY)
        if run:
            mapped = self._dest_run(run)
            if mapped is None:
                meta.pop(_RUN_KEY)
                self._skip("lineage", f"trace {info.trace_id}", f"run {run} is not imported")
            else:
                meta[_RUN_KEY] = mapped
        model = meta.get(_MODEL_KEY)
        if model and model in self.model_map:
            meta[_MODEL_KEY] = self.model_map[model]
        new_info: TraceInfo = dataclasses.replace(info, experiment_id=dest_exp, trace_metadata=meta)
        return Trace(new_info, trace.data)
