"""Logged models (MLflow 3) on SQL: create, get, finalize, tags, params, delete, search.

A logged model's files live at ``<experiment artifact location>/models/<model_id>/artifacts``
(MLflow's layout), so the official client uploads them through the artifact
proxy like any run artifact. Its metrics are the run metrics logged with its
``model_id`` (``logged_model_metrics``, written by the tracking store).

Example::

    store = SqlLoggedModelStore("sqlite:///mltrail.db")
    model = store.create_logged_model("1", name="llm_model", source_run_id=run_id)
    store.finalize_logged_model(model.model_id, "READY")
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from mltrail.entities import LifecycleStage, PagedList
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.search import nodes as n
from mltrail.search.limits import check_id_count, check_order_by_count
from mltrail.search.parser import parse_filter
from mltrail.store.logged_models import (
    LOGGED_MODELS,
    LoggedModelStore,
    check_datasets,
    check_max_results,
    validate_logged_model_name,
)
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.registry import validate_tag
from mltrail.store.sql._codec import chunks, now_ms
from mltrail.store.sql._metrics import read_model_metrics
from mltrail.store.sql._names import random_run_name
from mltrail.store.sql._run_models import RUN_OUTPUT, link_models
from mltrail.store.sql._workspace import by_experiment_scope, experiment_scope
from mltrail.store.sql.database import database_for
from mltrail.store.sql.schema import (
    experiments,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    runs,
)
from mltrail.store.sql.search_ops import compare, eq, joined, nulls_last

_LM = logged_models.c
_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": _LM.name,
    "model_id": _LM.model_id,
    "model_type": _LM.model_type,
    "source_run_id": _LM.source_run_id,
    "status": _LM.status,
    "artifact_location": _LM.artifact_location,
    "status_message": _LM.status_message,
    "creation_timestamp_ms": _LM.creation_timestamp_ms,
    "last_updated_timestamp_ms": _LM.last_updated_timestamp_ms,
}
_LMM = logged_model_metrics.c


def _not_found(model_id: str) -> MltrailException:
    return MltrailException(
        f"Logged model with ID '{model_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _visible() -> list[ColumnElement[bool]]:
    """Logged models of the bound workspace's experiments only (``[]``: no workspace bound)."""
    return by_experiment_scope(_LM.experiment_id)


def _status_values(c: n.Comparison) -> Any:
    """A status comparison's value(s) as stored (``LOGGED_MODEL_READY``); ``status = 'READY'`` reads naturally."""
    if c.op not in (n.EQ, n.NE, n.IN, n.NOT_IN):
        raise invalid(f"Invalid filter: status supports =, !=, IN and NOT IN, not {c.op}")
    if isinstance(c.value, tuple):
        return tuple(LoggedModelStatus.normalize(v).to_proto() for v in c.value)
    return LoggedModelStatus.normalize(c.value).to_proto()


def _on_datasets(datasets: Sequence[dict[str, Any]]) -> list[ColumnElement[bool]]:
    """MLflow's ``datasets``: a metric row matches when it is on any of them (digest only if given)."""
    if not datasets:
        return []
    terms = []
    for d in datasets:
        term = eq(_LMM.dataset_name, d["dataset_name"])
        if d.get("dataset_digest"):
            term = sa.and_(term, eq(_LMM.dataset_digest, d["dataset_digest"]))
        terms.append(term)
    return [sa.or_(*terms)]


def _metric_leaf(c: n.Comparison, datasets: Sequence[dict[str, Any]]) -> ColumnElement[bool]:
    """``metrics.<name> <op> v``: the model has a metric row of that name (on ``datasets``) matching.

    As in MLflow any of the model's rows counts (every step, run and dataset), not only the latest.
    """
    same = [_LMM.model_id == _LM.model_id, eq(_LMM.metric_name, c.key), *_on_datasets(datasets)]
    if c.op == n.IS_NULL:
        return ~sa.exists().where(*same)
    if c.op == n.IS_NOT_NULL:
        return sa.exists().where(*same)
    return sa.exists().where(*same, compare(_LMM.metric_value, c.op, c.value, numeric=True))


def _leaf(c: n.Comparison, datasets: Sequence[dict[str, Any]]) -> ColumnElement[bool]:
    """One filter comparison as a SQL term on ``logged_models``."""
    if c.entity_type == n.METRIC:
        return _metric_leaf(c, datasets)
    if c.entity_type in (n.TAG, n.PARAM):
        table, key, value = (
            (logged_model_tags, "tag_key", "tag_value")
            if c.entity_type == n.TAG
            else (logged_model_params, "param_key", "param_value")
        )
        same = [table.c.model_id == _LM.model_id, eq(table.c[key], c.key)]
        if c.op == n.IS_NULL:
            return ~sa.exists().where(*same)
        if c.op == n.IS_NOT_NULL:
            return sa.exists().where(*same)
        return sa.exists().where(*same, compare(table.c[value], c.op, c.value, numeric=False))
    value = _status_values(c) if c.key == "status" else c.value
    return compare(_COLUMNS[c.key], c.op, value, c.key in LOGGED_MODELS.numeric_attributes)


def _where(node: n.Node | None, datasets: Sequence[dict[str, Any]]) -> ColumnElement[bool]:
    if node is None:
        return sa.true()
    if isinstance(node, n.Comparison):
        return _leaf(node, datasets)
    parts = [_where(item, datasets) for item in node.items]
    return joined(sa.and_ if isinstance(node, n.And) else sa.or_, parts)


def _has_metric_clause(node: n.Node | None) -> bool:
    if node is None:
        return False
    if isinstance(node, n.Comparison):
        return node.entity_type == n.METRIC
    return any(_has_metric_clause(item) for item in node.items)


def _filter(filter_string: str | None, datasets: Sequence[dict[str, Any]]) -> ColumnElement[bool]:
    """The filter; ``datasets`` without a metric clause keeps models with any metric on them (MLflow)."""
    node = parse_filter(filter_string, LOGGED_MODELS)
    where = _where(node, datasets)
    if datasets and not _has_metric_clause(node):
        where = sa.and_(where, sa.exists().where(_LMM.model_id == _LM.model_id, *_on_datasets(datasets)))
    return where


def _latest_metric(name: str, ob: dict[str, Any]) -> ColumnElement[Any]:
    """The model's newest value of metric ``name`` (newest timestamp, then step; MLflow's order),
    on the order-by entry's ``dataset_name``/``dataset_digest`` when given."""
    same = [_LMM.model_id == _LM.model_id, eq(_LMM.metric_name, name)]
    for key in ("dataset_name", "dataset_digest"):
        if ob.get(key):
            same.append(eq(logged_model_metrics.c[key], str(ob[key])))
    return (
        sa.select(_LMM.metric_value)
        .where(*same)
        .order_by(_LMM.metric_timestamp_ms.desc(), _LMM.metric_step.desc(), _LMM.run_id.asc())
        .limit(1)
        .scalar_subquery()
    )


def _orders(order_by: Sequence[dict[str, Any]] | None) -> list[ColumnElement[Any]]:
    """``ORDER BY`` terms for MLflow's ``[{"field_name": ..., "ascending": ...}]``; newest first, then id."""
    terms: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    check_order_by_count(order_by)
    for ob in order_by or []:
        if not isinstance(ob, dict) or not isinstance(ob.get("field_name"), str) or not ob["field_name"]:
            raise invalid(f"Invalid order_by {ob!r}: expected {{'field_name': <name>, 'ascending': <bool>}}")
        field = ob["field_name"]
        if field.startswith("metrics."):
            name = field.removeprefix("metrics.")
            if not name:
                raise invalid(f"Invalid order_by field '{field}': name a metric, e.g. 'metrics.accuracy'")
            # NULL (no such metric, or NaN) sorts last either way, as in MLflow.
            terms.extend(nulls_last(_latest_metric(name, ob), bool(ob.get("ascending", True))))
            continue
        key = LOGGED_MODELS.canonical_attribute(field.removeprefix("attributes."))
        if "." in key or key not in LOGGED_MODELS.order_attributes:
            raise invalid(
                f"Invalid order_by field '{field}': use one of "
                f"{sorted(LOGGED_MODELS.order_attributes | set(LOGGED_MODELS.attribute_aliases))}"
            )
        if key not in seen:
            seen.add(key)
            terms.extend(nulls_last(_COLUMNS[key], bool(ob.get("ascending", True))))
    if "creation_timestamp_ms" not in seen:
        terms.append(_LM.creation_timestamp_ms.desc())
    if "model_id" not in seen:
        terms.append(_LM.model_id.asc())
    return terms


class SqlLoggedModelStore(LoggedModelStore):
    """Logged models in the same database as the tracking store."""

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.engine = self.db.engine  # for tools and tests; the store itself goes through self.db
        self.dialect = self.db.dialect
        self.db.ensure_schema()

    def _load(self, conn: sa.Connection, ids: Sequence[str]) -> list[LoggedModel]:
        rows, tags, params = {}, {}, {}
        for part in chunks(list(ids)):
            for r in conn.execute(sa.select(logged_models).where(_LM.model_id.in_(part), *_visible())):
                rows[r.model_id] = r
            for r in conn.execute(sa.select(logged_model_tags).where(logged_model_tags.c.model_id.in_(part))):
                tags.setdefault(r.model_id, {})[r.tag_key] = r.tag_value
            for r in conn.execute(
                sa.select(logged_model_params).where(logged_model_params.c.model_id.in_(part))
            ):
                params.setdefault(r.model_id, {})[r.param_key] = r.param_value
        model_metrics = read_model_metrics(conn, ids)
        return [
            LoggedModel(
                model_id=r.model_id,
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                creation_timestamp=r.creation_timestamp_ms,
                last_updated_timestamp=r.last_updated_timestamp_ms,
                status=LoggedModelStatus.from_proto(r.status),
                model_type=r.model_type,
                source_run_id=r.source_run_id,
                status_message=r.status_message,
                tags=tags.get(r.model_id, {}),
                params=params.get(r.model_id, {}),
                metrics=model_metrics.get(r.model_id, []),
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        model_type: str | None = None,
        *,
        model_id: str | None = None,
        artifact_location: str | None = None,
        status: Any = None,
    ) -> LoggedModel:
        """A new logged model in the experiment (``RESOURCE_DOES_NOT_EXIST`` if unknown).

        ``model_id``, ``artifact_location`` and ``status`` are for mltrail's own
        ``log_model``, which has already written the files under the run's artifacts
        (its name is the artifact path, so MLflow's name rule is not applied to it).
        """
        if model_id is None:
            validate_logged_model_name(name)
        try:
            exp_id = int(experiment_id)
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment_id {experiment_id!r}") from None
        for k, v in (tags or {}).items():
            validate_tag(k, v)
        for k in params or {}:
            validate_tag(k, None)
        if not name:
            name = random_run_name()
        model_id = model_id or f"m-{uuid.uuid4().hex}"
        if not model_id.startswith("m-"):
            raise invalid(f"Invalid model_id {model_id!r}: logged model ids start with 'm-'")
        stored_status = (
            LoggedModelStatus.normalize(status) if status else LoggedModelStatus.PENDING
        ).to_proto()

        def create(conn: sa.Connection) -> None:
            exp = conn.execute(
                sa.select(experiments.c.artifact_location, experiments.c.lifecycle_stage).where(
                    experiments.c.experiment_id == exp_id, *experiment_scope()
                )
            ).first()
            if exp is None:
                raise MltrailException(
                    f"No Experiment with id={experiment_id} exists", error_code=RESOURCE_DOES_NOT_EXIST
                )
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise invalid(f"Experiment {experiment_id} is deleted: restore it before logging models")
            ts = now_ms()
            location = artifact_location or f"{exp.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
            conn.execute(
                sa.insert(logged_models).values(
                    model_id=model_id,
                    experiment_id=exp_id,
                    name=name,
                    artifact_location=location,
                    creation_timestamp_ms=ts,
                    last_updated_timestamp_ms=ts,
                    status=stored_status,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    model_type=model_type or None,
                    source_run_id=source_run_id or None,
                )
            )
            if tags:
                conn.execute(
                    sa.insert(logged_model_tags),
                    [{"model_id": model_id, "tag_key": k, "tag_value": v} for k, v in tags.items()],
                )
            if params:
                conn.execute(
                    sa.insert(logged_model_params),
                    [{"model_id": model_id, "param_key": k, "param_value": v} for k, v in params.items()],
                )

        self.db.write(create)
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self.db.read() as conn:
            if not allow_deleted:
                stage = conn.execute(
                    sa.select(_LM.lifecycle_stage).where(_LM.model_id == model_id, *_visible())
                ).scalar()
                if stage != LifecycleStage.ACTIVE:
                    raise _not_found(model_id)
            found = self._load(conn, [model_id])
        if not found:
            raise _not_found(model_id)
        return found[0]

    def _require(self, conn: sa.Connection, model_id: str) -> None:
        stage = conn.execute(
            sa.select(_LM.lifecycle_stage).where(_LM.model_id == model_id, *_visible())
        ).scalar()
        if stage != LifecycleStage.ACTIVE:
            raise _not_found(model_id)

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        stored_status = LoggedModelStatus.normalize(status).to_proto()

        def finalize(conn: sa.Connection) -> None:
            self._require(conn, model_id)
            conn.execute(
                sa.update(logged_models)
                .where(_LM.model_id == model_id)
                .values(status=stored_status, last_updated_timestamp_ms=now_ms())
            )

        self.db.write(finalize)
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            validate_tag(k, v)

        def set_tags(conn: sa.Connection) -> None:
            self._require(conn, model_id)
            t = logged_model_tags.c
            for k, v in tags.items():
                if not conn.execute(
                    sa.update(logged_model_tags)
                    .where(t.model_id == model_id, t.tag_key == k)
                    .values(tag_value=v)
                ).rowcount:
                    conn.execute(
                        sa.insert(logged_model_tags).values(model_id=model_id, tag_key=k, tag_value=v)
                    )

        self.db.write(set_tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        def delete(conn: sa.Connection) -> None:
            self._require(conn, model_id)
            t = logged_model_tags.c
            if not conn.execute(
                sa.delete(logged_model_tags).where(t.model_id == model_id, t.tag_key == key)
            ).rowcount:
                raise MltrailException(
                    f"No tag with key {key!r} found for model with ID {model_id!r}.",
                    error_code=RESOURCE_DOES_NOT_EXIST,
                )

        self.db.write(delete)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        for k in params:
            validate_tag(k, None)

        def log(conn: sa.Connection) -> None:
            self._require(conn, model_id)
            p = logged_model_params.c
            for k, v in params.items():
                if not conn.execute(
                    sa.update(logged_model_params)
                    .where(p.model_id == model_id, p.param_key == k)
                    .values(param_value=v)
                ).rowcount:
                    conn.execute(
                        sa.insert(logged_model_params).values(model_id=model_id, param_key=k, param_value=v)
                    )

        self.db.write(log)

    def delete_logged_model(self, model_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            self._require(conn, model_id)
            conn.execute(
                sa.update(logged_models)
                .where(_LM.model_id == model_id)
                .values(lifecycle_stage=LifecycleStage.DELETED, last_updated_timestamp_ms=now_ms())
            )

        self.db.write(delete)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[dict[str, Any]] | None = None,
        page_token: str | None = None,
        datasets: Sequence[dict[str, Any]] | None = None,
    ) -> PagedList:
        """A page of live logged models in the experiments, filtered and ordered.

        ``metrics.<name>`` clauses match a model having any metric row of that name
        that satisfies them; ``datasets`` (``[{"dataset_name": ..., "dataset_digest": ...}]``)
        narrows those rows to the datasets, or, without metric clauses, keeps only
        models with a metric on them. ``order_by`` ``metrics.<name>`` sorts by the
        newest value (per the entry's ``dataset_name``/``dataset_digest`` if given).
        """
        limit = check_max_results(max_results)
        datasets = check_datasets(datasets)
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        check_id_count(list(experiment_ids), "experiment_ids")
        try:
            exp_ids = [int(e) for e in experiment_ids]
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment_ids {list(experiment_ids)!r}") from None
        offset = decode_page_token(page_token)
        stmt = (
            sa.select(_LM.model_id)
            .where(
                _LM.experiment_id.in_(exp_ids),
                _LM.lifecycle_stage == LifecycleStage.ACTIVE,
                _filter(filter_string, datasets),
                *_visible(),
            )
            .order_by(*_orders(order_by))
            .offset(offset)
            .limit(limit + 1)
        )
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(stmt)]
            token = encode_page_token(offset + limit) if len(ids) > limit else None
            return PagedList(self._load(conn, ids[:limit]), token)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models as outputs of an active run at their steps (``run.outputs.model_outputs``).

        The run and every model must exist; a model already recorded as an output of
        the run keeps its first step.
        """

        def write(conn: sa.Connection) -> None:
            stage = conn.execute(sa.select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)).scalar()
            if stage is None:
                raise MltrailException(f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST)
            if stage != LifecycleStage.ACTIVE:
                raise invalid(f"The run {run_id} must be in the 'active' state. Current state is {stage}.")
            for m in models:
                self._require(conn, m.model_id)
            link_models(conn, run_id, RUN_OUTPUT, [(m.model_id, int(m.step or 0)) for m in models])

        if models:
            self.db.write(write)
        else:
            with self.db.read() as conn:  # nothing to record, but an unknown run is still an error
                if conn.execute(sa.select(runs.c.run_uuid).where(runs.c.run_uuid == run_id)).first() is None:
                    raise MltrailException(
                        f"Run with id={run_id} not found", error_code=RESOURCE_DOES_NOT_EXIST
                    )
