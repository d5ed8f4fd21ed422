"""A run's links to logged models, in MLflow's ``inputs`` table.

MLflow 3 stores the models a run produced (``log_outputs``) as
``RUN_OUTPUT -> MODEL_OUTPUT`` rows with the step, and the models it used
(``log_inputs(models=...)``) as ``RUN_INPUT -> MODEL_INPUT`` rows, source the run and
destination the model. mltrail writes and reads the same rows, so a database
shared with (or imported from) MLflow means the same thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from mltrail.entities.run_io import LoggedModelInput, LoggedModelOutput
from mltrail.store.sql.schema import inputs

RUN_OUTPUT, MODEL_OUTPUT = "RUN_OUTPUT", "MODEL_OUTPUT"
RUN_INPUT, MODEL_INPUT = "RUN_INPUT", "MODEL_INPUT"

_I = inputs.c
_LINKS = (
    sa.select(_I.source_id, _I.source_type, _I.destination_id, _I.step)
    .where(
        # Literals, not bound parameters: the ids are the only parameters (see _load._rows).
        sa.or_(
            _I.source_type == sa.literal_column(f"'{RUN_INPUT}'"),
            _I.source_type == sa.literal_column(f"'{RUN_OUTPUT}'"),
        ),
        _I.source_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .order_by(_I.source_id, _I.step, _I.destination_id)
)


def link_models(conn: sa.Connection, run_id: str, kind: str, models: Iterable[tuple[str, int]]) -> None:
    """Record ``(model_id, step)`` pairs as the run's inputs (``RUN_INPUT``) or outputs (``RUN_OUTPUT``).

    A model already linked the same way keeps its first record (MLflow would fail on
    the duplicate key); the same model twice in one call is written once.
    """
    destination = MODEL_INPUT if kind == RUN_INPUT else MODEL_OUTPUT
    wanted = dict(reversed(list(models)))  # first occurrence wins
    if not wanted:
        return
    existing = {
        r[0]
        for r in conn.execute(
            sa.select(_I.destination_id).where(
                _I.source_type == kind,
                _I.source_id == run_id,
                _I.destination_type == destination,
                _I.destination_id.in_(list(wanted)),
            )
        )
    }
    rows = [
        {
            "input_uuid": uuid.uuid4().hex,
            "source_type": kind,
            "source_id": run_id,
            "destination_type": destination,
            "destination_id": model_id,
            "step": step,
        }
        for model_id, step in wanted.items()
        if model_id not in existing
    ]
    if rows:
        conn.execute(sa.insert(inputs), rows)


def links_statement() -> sa.Select:
    """The query :func:`mltrail.store.sql._load.load_runs` runs for the runs' model links."""
    return _LINKS


def attach_links(found: dict, rows: Sequence[tuple]) -> None:
    """Put ``(run_id, source_type, model_id, step)`` rows on the loaded runs."""
    for run_id, kind, model_id, step in rows:
        run = found.get(run_id)
        if run is None:
            continue
        if kind == RUN_INPUT:
            run.inputs.model_inputs.append(LoggedModelInput(model_id))
        else:
            run.outputs.model_outputs.append(LoggedModelOutput(model_id, int(step or 0)))


def erase_links(conn: sa.Connection, run_ids: Sequence[str]) -> None:
    """Drop the model links of runs being deleted for good."""
    conn.execute(
        sa.delete(inputs).where(_I.source_type.in_([RUN_INPUT, RUN_OUTPUT]), _I.source_id.in_(list(run_ids)))
    )
