"""What belongs to experiments without a foreign key to them, erased with them.

Review queues (with their users, label schemas and items), label schemas and the scorers'
judged-traces ledger name their experiment (or scorer) by id only, so the generic purge that
follows foreign keys (:func:`mltrail.store.sql.tracking._purge_dependents`) does not see them.
Both erasing an experiment (``gc``) and ``delete_workspace``'s ``CASCADE`` call this first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mltrail.store.sql import schema as s


def erase_experiment_bound(conn: sa.Connection, experiment_ids: Any) -> None:
    """Erase the rows bound to the experiments ``experiment_ids`` (a SELECT of ids), in ``conn``'s transaction."""
    queues = sa.select(s.review_queues.c.queue_id).where(s.review_queues.c.experiment_id.in_(experiment_ids))
    for table in (s.review_queue_users, s.review_queue_label_schemas, s.review_queue_items):
        conn.execute(sa.delete(table).where(table.c.queue_id.in_(queues)))
    conn.execute(sa.delete(s.review_queues).where(s.review_queues.c.experiment_id.in_(experiment_ids)))
    conn.execute(sa.delete(s.label_schemas).where(s.label_schemas.c.experiment_id.in_(experiment_ids)))
    scorers = sa.select(s.scorers.c.scorer_id).where(s.scorers.c.experiment_id.in_(experiment_ids))
    conn.execute(sa.delete(s.scorer_judged_traces).where(s.scorer_judged_traces.c.scorer_id.in_(scorers)))
