"""Aggregate reads the web UI needs and MLflow's REST API does not offer.

Mixed into :class:`~mltrail.store.sql.tracking.SqlTrackingStore`, so the UI asks
the store (never the schema) for them. Each is one ``GROUP BY`` answered from an
index: the run counts of every experiment for the experiments list, and how many
points each metric of some runs holds, which decides between a number and a chart.

Example::

    store = SqlTrackingStore("sqlite:///mltrail.db", "./mltrail-artifacts")
    store.experiment_run_summaries()        # {"0": {"runs": 3, "running": 1, "last_run_start": 1700000000000}}
    store.metric_point_counts(["a1b2..."])  # {"a1b2...": {"loss": 200, "accuracy": 1}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mltrail.store.sql._codec import chunks
from mltrail.store.sql.schema import metrics, runs


class UiReadsMixin:
    """Read-only aggregates for the UI; the host class provides ``_read()``."""

    def _read(self) -> sa.Connection:  # pragma: no cover - provided by the store
        raise NotImplementedError

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
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return {
            str(exp): {"runs": int(n), "running": int(live or 0), "last_run_start": None if last is None else int(last)}
            for exp, n, live, last in rows
        }

    def metric_point_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per run id, per metric key: how many values were logged (every run id is present)."""
        out: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
        with self._read() as conn:
            for part in chunks(list(out)):
                stmt = (
                    sa.select(metrics.c.run_uuid, metrics.c.key, sa.func.count())
                    .where(metrics.c.run_uuid.in_(part))
                    .group_by(metrics.c.run_uuid, metrics.c.key)
                )
                for run_id, key, n in conn.execute(stmt):
                    out[run_id][key] = int(n)
        return out
