"""Bulk loading of runs and experiments: one query per child table for a whole page.

``load_runs`` reads the run rows, then latest metrics, params, tags and dataset
inputs with ``WHERE run_uuid IN (...)`` (in chunks), never one query per run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from mltrail.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mltrail.store.sql._codec import chunks, decode_value
from mltrail.store.sql.schema import (
    datasets,
    experiment_tags,
    experiments,
    input_tags,
    inputs,
    latest_metrics,
    params,
    runs,
    tags,
)

_IDS = sa.bindparam("ids", expanding=True)
_R = runs.c
_RUNS = sa.select(
    _R.run_uuid,
    _R.name,
    _R.user_id,
    _R.status,
    _R.start_time,
    _R.end_time,
    _R.artifact_uri,
    _R.lifecycle_stage,
    _R.experiment_id,
).where(_R.run_uuid.in_(_IDS))
_LATEST = (
    sa.select(
        latest_metrics.c.run_uuid,
        latest_metrics.c.key,
        latest_metrics.c.value,
        latest_metrics.c.timestamp,
        latest_metrics.c.step,
        latest_metrics.c.is_nan,
    )
    .where(latest_metrics.c.run_uuid.in_(_IDS))
    .order_by(latest_metrics.c.key)
)
_PARAMS = (
    sa.select(params.c.run_uuid, params.c.key, params.c.value)
    .where(params.c.run_uuid.in_(_IDS))
    .order_by(params.c.key)
)
_TAGS = (
    sa.select(tags.c.run_uuid, tags.c.key, tags.c.value).where(tags.c.run_uuid.in_(_IDS)).order_by(tags.c.key)
)
_INPUTS = (
    sa.select(
        inputs.c.destination_id,
        inputs.c.input_uuid,
        datasets.c.name,
        datasets.c.digest,
        datasets.c.dataset_source_type,
        datasets.c.dataset_source,
        datasets.c.dataset_schema,
        datasets.c.dataset_profile,
    )
    .join(datasets, datasets.c.dataset_uuid == inputs.c.source_id)
    .where(
        inputs.c.source_type == "DATASET",
        inputs.c.destination_type == "RUN",
        inputs.c.destination_id.in_(_IDS),
    )
    .order_by(datasets.c.name, datasets.c.digest)
)
_INPUT_TAGS = sa.select(input_tags.c.input_uuid, input_tags.c.name, input_tags.c.value).where(
    input_tags.c.input_uuid.in_(_IDS)
)
_E = experiments.c
_EXPERIMENTS = sa.select(
    _E.experiment_id, _E.name, _E.artifact_location, _E.lifecycle_stage, _E.creation_time, _E.last_update_time
).where(_E.experiment_id.in_(_IDS))
_EXPERIMENT_TAGS = (
    sa.select(experiment_tags.c.experiment_id, experiment_tags.c.key, experiment_tags.c.value)
    .where(experiment_tags.c.experiment_id.in_(_IDS))
    .order_by(experiment_tags.c.key)
)


def _rows(conn: sa.Connection, stmt: sa.Select, ids: Sequence[object]):
    for part in chunks(ids):
        yield from conn.execute(stmt, {"ids": list(part)}).all()


def load_runs(conn: sa.Connection, run_ids: Sequence[str]) -> list[Run]:
    """The runs with these ids, in the order given (unknown ids are skipped)."""
    if not run_ids:
        return []
    found: dict[str, Run] = {}
    for r in _rows(conn, _RUNS, run_ids):
        info = RunInfo(
            run_id=r.run_uuid,
            experiment_id=str(r.experiment_id),
            run_name=r.name or "",
            user_id=r.user_id or "",
            status=r.status,
            start_time=r.start_time,
            end_time=r.end_time,
            artifact_uri=r.artifact_uri or "",
            lifecycle_stage=r.lifecycle_stage,
        )
        found[r.run_uuid] = Run(info=info, data=RunData(), inputs=RunInputs())
    ids = list(found)
    for run_id, key, value, timestamp, step, is_nan in _rows(conn, _LATEST, ids):
        found[run_id].data.metric_list.append(
            Metric(key, decode_value(value, is_nan), timestamp, step, run_id=run_id)
        )
    for run_id, key, value in _rows(conn, _PARAMS, ids):
        found[run_id].data.param_list.append(Param(key, value))
    for run_id, key, value in _rows(conn, _TAGS, ids):
        found[run_id].data.tag_list.append(RunTag(key, value if value is not None else ""))
    _load_inputs(conn, found, ids)
    return [found[i] for i in run_ids if i in found]


def _load_inputs(conn: sa.Connection, found: dict[str, Run], ids: list[str]) -> None:
    by_input: dict[str, DatasetInput] = {}
    for row in _rows(conn, _INPUTS, ids):
        ds = Dataset(
            name=row.name,
            digest=row.digest,
            source_type=row.dataset_source_type,
            source=row.dataset_source,
            schema=row.dataset_schema,
            profile=row.dataset_profile,
        )
        item = DatasetInput(dataset=ds, tags=[])
        by_input[row.input_uuid] = item
        found[row.destination_id].inputs.dataset_inputs.append(item)
    if by_input:
        for input_uuid, name, value in _rows(conn, _INPUT_TAGS, list(by_input)):
            by_input[input_uuid].tags.append(InputTag(name, value))


def load_experiments(conn: sa.Connection, experiment_ids: Sequence[int]) -> list[Experiment]:
    """The experiments with these (integer) ids and their tags, in the order given."""
    if not experiment_ids:
        return []
    found: dict[int, Experiment] = {}
    for r in _rows(conn, _EXPERIMENTS, experiment_ids):
        found[int(r.experiment_id)] = Experiment(
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location or "",
            lifecycle_stage=r.lifecycle_stage,
            tags={},
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
        )
    for exp_id, key, value in _rows(conn, _EXPERIMENT_TAGS, list(found)):
        found[int(exp_id)].tags[key] = value if value is not None else ""
    return [found[int(i)] for i in experiment_ids if int(i) in found]
