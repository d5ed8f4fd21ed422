"""Aggregate reads the web UI needs and MLflow's REST API does not offer.

Mixed into :class:`~mltrail.store.sql.tracking.SqlTrackingStore`: the SQL answers
to the UI reads the :class:`~mltrail.store.tracking.TrackingStore` interface
declares, so the UI asks the store (never the schema) for them. Each is a few
queries answered from an index: the run counts of every experiment for the
experiments list, how many points each metric of some runs holds (a number or
a chart), downsampled histories, the column keys of experiments and a cheap
fingerprint of a run for live pages.

Example::

    store = SqlTrackingStore("sqlite:///mltrail.db", "./mltrail-artifacts")
    store.experiment_run_summaries()        # {"0": {"runs": 3, "running": 1, "last_run_start": 1700000000000}}
    store.metric_point_counts(["a1b2..."])  # {"a1b2...": {"loss": 200, "accuracy": 1}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.store.sql import _history
from mltrail.store.sql._codec import chunks
from mltrail.store.sql.database import Database
from mltrail.store.sql.schema import datasets, input_tags, inputs, latest_metrics, metrics, params, runs, tags


class UiReadsMixin:
    """Read-only aggregates for the UI; the host class provides ``db`` (a :class:`Database`)."""

    db: Database

    def dataset_summaries(self, experiment_ids: Sequence[str]) -> list[dict[str, str]]:
        """The datasets logged as run inputs in some experiments, with their input context."""
        return dataset_summaries(self.db, experiment_ids)

    def experiment_run_summaries(self, experiment_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per experiment id: active runs, how many of them are RUNNING, and the newest run's start time.

        Experiments without active runs are left out. ``experiment_ids`` narrows the
        query; ``None`` covers every experiment (one pass over the runs index).
        """
        running = sa.func.sum(sa.case((runs.c.status == "RUNNING", 1), else_=0))
        stmt = (
            sa.select(runs.c.experiment_id, sa.func.count(), running, sa.func.max(runs.c.start_time))
            .where(runs.c.lifecycle_stage == "active")
            .group_by(runs.c.experiment_id)
        )
        if experiment_ids is not None:
            stmt = stmt.where(runs.c.experiment_id.in_([int(e) for e in experiment_ids]))
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return {
            str(exp): {"runs": int(n), "running": int(live or 0), "last_run_start": None if last is None else int(last)}
            for exp, n, live, last in rows
        }

    def metric_point_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run id, per metric key: how many values were logged (every run id is present)."""
        out: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self.db.read() as conn:
            for part in chunks(list(out)):
                stmt = (
                    sa.select(metrics.c.run_uuid, metrics.c.key, sa.func.count())
                    .where(metrics.c.run_uuid.in_(part))
                    .group_by(metrics.c.run_uuid, metrics.c.key)
                )
                for run_id, key, n in conn.execute(stmt):
                    out[run_id][key] = int(n)
        return out

    def metric_history_sampled(self, run_id: str, key: str, axis: str, max_points: int) -> dict[str, Any]:
        """One metric of a run downsampled for a chart, grouped in the database (see :mod:`._history`)."""
        return _history.sampled_history(self.db, run_id, key, axis, max_points)

    def metric_histories_sampled(
        self, run_ids: Sequence[str], key: str, axis: str, max_points: int
    ) -> dict[str, dict[str, Any]]:
        """One metric of many runs downsampled, in a few queries for all of them."""
        return _history.sampled_histories(self.db, list(run_ids), key, axis, max_points)

    def experiment_columns(self, experiment_ids: Sequence[str]) -> dict[str, list[str]]:
        """Every param, metric and tag key of the experiments' runs (deleted runs included), sorted."""
        ids = [int(e) for e in experiment_ids]
        live = sa.select(runs.c.run_uuid).where(runs.c.experiment_id.in_(ids))
        out: dict[str, list[str]] = {}
        with self.db.read() as conn:
            for name, table in (("params", params), ("metrics", latest_metrics), ("tags", tags)):
                stmt = sa.select(table.c.key).where(table.c.run_uuid.in_(live)).distinct().order_by(table.c.key)
                out[name] = [row[0] for row in conn.execute(stmt)]
        return out

    def run_change_probe(self, run_id: str) -> tuple | None:
        """One query over the run row and aggregates of its latest metrics, params and tags.

        Changes whenever anything the run page shows changes; ``None`` once the run is gone.
        """
        lm = (
            sa.select(
                sa.func.count(), sa.func.max(latest_metrics.c.timestamp), sa.func.sum(latest_metrics.c.step)
            )
            .where(latest_metrics.c.run_uuid == run_id)
            .subquery()
        )
        n_params = sa.select(sa.func.count()).where(params.c.run_uuid == run_id).scalar_subquery()
        n_tags = sa.select(sa.func.count()).where(tags.c.run_uuid == run_id).scalar_subquery()
        stmt = (
            sa.select(
                runs.c.status, runs.c.end_time, runs.c.lifecycle_stage, runs.c.name, *lm.c, n_params, n_tags
            )
            .select_from(runs.join(lm, sa.true()))
            .where(runs.c.run_uuid == run_id)
        )
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else tuple(row)


#: MLflow's ``MAX_DATASET_SUMMARIES_RESULTS``.
MAX_DATASET_SUMMARIES = 1000
_CONTEXT_TAG = "mlflow.data.context"


def dataset_summaries(db: Database, experiment_ids: Sequence[str]) -> list[dict[str, str]]:
    """Distinct ``(experiment, dataset name, digest, input context)`` of the run inputs of some experiments."""
    ids = [int(i) for i in experiment_ids]
    d, i, t = datasets.c, inputs.c, input_tags.c
    stmt = (
        sa.select(d.experiment_id, d.name, d.digest, t.value)
        .select_from(
            datasets.join(inputs, i.source_id == d.dataset_uuid).outerjoin(
                input_tags, sa.and_(t.input_uuid == i.input_uuid, t.name == _CONTEXT_TAG)
            )
        )
        .where(d.experiment_id.in_(ids), i.source_type == "DATASET")
        .distinct()
        .order_by(d.experiment_id, d.name, d.digest, t.value)
        .limit(MAX_DATASET_SUMMARIES)
    )
    with db.read() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for exp, name, digest, context in rows:
        row = {"experiment_id": str(exp), "name": name, "digest": digest}
        if context:
            row["context"] = context
        out.append(row)
    return out
