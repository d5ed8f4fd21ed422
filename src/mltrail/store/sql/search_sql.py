"""Compile parsed search filters and ``order_by`` clauses to SQLAlchemy Core.

Every search is one ``SELECT`` of ids, filtered and ordered in the database and
cut to a page with ``OFFSET``/``LIMIT``; nothing is filtered in Python.

Shape of the run search, chosen to stay fast at 100k runs on all three
databases: run attributes are plain ``WHERE`` terms on ``runs``; each metric,
param, tag or dataset clause is ``runs.run_uuid [NOT] IN (SELECT run_uuid FROM
<table> WHERE key = ... AND <value test>)``, an uncorrelated subquery that the
planners turn into a semi-join driven by the ``(key, ...)`` indexes, and that
composes freely under ``AND``/``OR``. ``order_by`` on a metric, param or tag is a
``LEFT JOIN`` on the ``(run_uuid, key)`` primary key, so missing keys sort last.

Example::

    stmt = runs_query(["1"], "metrics.acc > 0.9", ViewType.ACTIVE_ONLY, ["metrics.acc DESC"], 0, 100)
    run_ids = [row[0] for row in conn.execute(stmt)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from mltrail.entities.enums import LifecycleStage
from mltrail.entities.prompt import IS_PROMPT_TAG_KEY
from mltrail.exceptions import invalid
from mltrail.search import grammar as g
from mltrail.search import nodes as n
from mltrail.search.limits import check_id_count, check_order_by_count
from mltrail.search.parser import parse_filter, parse_order_by
from mltrail.store.sql import schema as s
from mltrail.store.sql.engine import driver_statement
from mltrail.store.sql.search_ops import compare, eq, joined, nulls_last

# The tag holding a dataset input's context ("train", "eval", ...), as in MLflow.
DATASET_CONTEXT_TAG = "mlflow.data.context"
# Model versions in this stage are deleted and never searched, as in MLflow.
STAGE_DELETED_INTERNAL = "Deleted_Internal"
# Prompts live in the registry as models carrying this tag; MLflow 3 leaves them out
# of model searches unless the filter asks for them.
IS_PROMPT_TAG = IS_PROMPT_TAG_KEY

_RUN_ATTRIBUTES: dict[str, sa.Column[Any]] = {
    "run_id": s.runs.c.run_uuid,
    "run_name": s.runs.c.name,
    "status": s.runs.c.status,
    "user_id": s.runs.c.user_id,
    "artifact_uri": s.runs.c.artifact_uri,
    "start_time": s.runs.c.start_time,
    "end_time": s.runs.c.end_time,
    "experiment_id": s.runs.c.experiment_id,
}
_NEVER_NULL = {"run_id", "experiment_id", "version_number"}


def _where(node: n.Node | None, leaf: Callable[[n.Comparison], ColumnElement[bool]]) -> ColumnElement[bool]:
    """The ``WHERE`` term of a filter tree; ``leaf`` compiles one comparison."""
    if node is None:
        return sa.true()
    if isinstance(node, n.Comparison):
        return leaf(node)
    parts = [_where(item, leaf) for item in node.items]
    return joined(sa.and_ if isinstance(node, n.And) else sa.or_, parts)



def _keyed(
    owner: ColumnElement[Any], table: sa.Table, owner_col: str, c: n.Comparison, numeric: bool = False
) -> ColumnElement[bool]:
    """``owner [NOT] IN (SELECT owner_col FROM table WHERE key = c.key AND value test)``."""
    ids = table.c[owner_col]
    cond = [eq(table.c.key, c.key)]
    if c.op in n.NULL_OPS:
        # A key is NULL for an owner that never logged it.
        sub = sa.select(ids).where(*cond)
        return owner.not_in(sub) if c.op == n.IS_NULL else owner.in_(sub)
    if numeric:
        cond.append(table.c.is_nan == sa.false())  # NaN matches no numeric comparison
    cond.append(compare(table.c.value, c.op, c.value, numeric))
    return owner.in_(sa.select(ids).where(*cond))


def _dataset_clause(c: n.Comparison) -> ColumnElement[bool]:
    """Runs with at least one dataset input whose name/digest/context passes the test."""
    i, d, t = s.inputs, s.datasets, s.input_tags
    base = i.join(d, d.c.dataset_uuid == i.c.source_id)
    if c.key == "context":
        base = base.join(t, sa.and_(t.c.input_uuid == i.c.input_uuid, t.c.name == DATASET_CONTEXT_TAG))
        col = t.c.value
    else:
        col = d.c[c.key]
    sub = (
        sa.select(i.c.destination_id)
        .select_from(base)
        .where(i.c.destination_type == "RUN", i.c.source_type == "DATASET")
    )
    if c.op == n.IS_NULL:
        return s.runs.c.run_uuid.not_in(sub)
    if c.op == n.IS_NOT_NULL:
        return s.runs.c.run_uuid.in_(sub)
    return s.runs.c.run_uuid.in_(sub.where(compare(col, c.op, c.value, numeric=False)))


def _run_leaf(c: n.Comparison) -> ColumnElement[bool]:
    run_uuid = s.runs.c.run_uuid
    if c.entity_type == n.ATTRIBUTE:
        return compare(_RUN_ATTRIBUTES[c.key], c.op, c.value, c.key in g.RUNS.numeric_attributes)
    if c.entity_type == n.METRIC:
        return _keyed(run_uuid, s.latest_metrics, "run_uuid", c, numeric=True)
    if c.entity_type == n.PARAM:
        return _keyed(run_uuid, s.params, "run_uuid", c)
    if c.entity_type == n.TAG:
        return _keyed(run_uuid, s.tags, "run_uuid", c)
    return _dataset_clause(c)


def _order_list(order_by: Sequence[str] | str | None) -> tuple[str, ...]:
    """``order_by`` as a tuple of clauses; a lone string is one clause, not a list of letters."""
    if order_by is None:
        return ()
    if isinstance(order_by, str):
        return (order_by,)
    return tuple(str(clause) for clause in order_by)


def _parse_orders(order_by: Sequence[str] | None, grammar: g.Grammar) -> list[tuple[str, str, bool]]:
    order_by = _order_list(order_by)
    check_order_by_count(order_by)
    parsed: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str]] = set()
    for clause in order_by or []:
        entity, key, ascending = parse_order_by(clause, grammar)
        if (entity, key) in seen:
            raise invalid(f"Invalid order_by {list(order_by or [])!r}: '{clause}' repeats a field")
        seen.add((entity, key))
        parsed.append((entity, key, ascending))
    return parsed


def _page(stmt: sa.Select[Any], offset: int, limit: int) -> sa.Select[Any]:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, limit)):
        raise invalid(f"Invalid page: offset {offset!r} and limit {limit!r} must be non-negative integers")
    return stmt.offset(offset).limit(limit) if offset else stmt.limit(limit)


def _stages(view_type: int) -> tuple[str, ...]:
    if view_type not in (1, 2, 3):
        raise invalid(f"Invalid view type {view_type!r}: use ACTIVE_ONLY (1), DELETED_ONLY (2) or ALL (3)")
    return LifecycleStage.matching_view_type(view_type)


@functools.lru_cache(maxsize=256)
def _run_where(filter_string: str | None) -> ColumnElement[bool] | None:
    """The ``WHERE`` term of a run filter, built once per distinct filter string.

    Building the expression costs milliseconds (three dialect variants per
    comparison); UIs repeat the same few filters, and expressions are immutable,
    so reusing them across statements is safe. Errors are not cached.
    """
    tree = parse_filter(filter_string, g.RUNS)
    return None if tree is None else _where(tree, _run_leaf)


@functools.lru_cache(maxsize=256)
def _run_order(order_by: tuple[str, ...]) -> tuple[sa.FromClause, tuple[ColumnElement[Any], ...]]:
    """The joined ``FROM`` and the ``ORDER BY`` terms for one ``order_by`` list."""
    runs = s.runs
    from_: sa.FromClause = runs
    orders: list[ColumnElement[Any]] = []
    entity_tables = {n.METRIC: s.latest_metrics, n.PARAM: s.params, n.TAG: s.tags}
    parsed = _parse_orders(order_by, g.RUNS)
    for idx, (entity, key, ascending) in enumerate(parsed):
        if entity == n.ATTRIBUTE:
            col = _RUN_ATTRIBUTES[key]
            orders.extend(
                [col.asc() if ascending else col.desc()] if key in _NEVER_NULL else nulls_last(col, ascending)
            )
            continue
        alias = entity_tables[entity].alias(f"order_{idx}")
        from_ = from_.outerjoin(alias, sa.and_(alias.c.run_uuid == runs.c.run_uuid, eq(alias.c.key, key)))
        if entity == n.METRIC:
            # MLflow's order: real values, then NaN, then runs without the metric.
            orders.append(sa.case((alias.c.is_nan == sa.true(), 1), (alias.c.value.is_(None), 2), else_=0))
            orders.append(alias.c.value.asc() if ascending else alias.c.value.desc())
        else:
            orders.extend(nulls_last(alias.c.value, ascending))
    if (n.ATTRIBUTE, "start_time") not in {(e, k) for e, k, _ in parsed}:
        orders.append(runs.c.start_time.desc())
    orders.append(runs.c.run_uuid.asc())
    return from_, tuple(orders)


def runs_query(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    run_view_type: int,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    """``SELECT runs.run_uuid`` of one page of a run search, in MLflow's order.

    Ordered by ``order_by`` (metrics, params, tags, attributes; missing values
    last), then ``start_time DESC``, then ``run_uuid`` as a stable tie-break.
    """
    return _page(runs_select(experiment_ids, filter_string, run_view_type, order_by), offset, limit)


def runs_select(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    run_view_type: int,
    order_by: Sequence[str] | None,
) -> sa.Select[Any]:
    """:func:`runs_query` without its page bounds: every run of the search, in order.

    :func:`runs_paged_sql` compiles it once with the bounds as parameters.
    """
    check_id_count(list(experiment_ids), "experiment_ids")
    try:
        exp_ids = [int(e) for e in experiment_ids]
        if any(not -(2**63) <= e < 2**63 for e in exp_ids):
            raise ValueError("out of the 64-bit range")
    except (TypeError, ValueError):
        raise invalid(f"Invalid experiment ids {list(experiment_ids)!r}: expected integer ids") from None
    runs = s.runs
    where = [runs.c.experiment_id.in_(exp_ids), runs.c.lifecycle_stage.in_(_stages(run_view_type))]
    if filter_string is not None and not isinstance(filter_string, str):
        parse_filter(filter_string)  # raises INVALID_PARAMETER_VALUE (and keeps lists out of the cache)
    clause = _run_where(filter_string)
    if clause is not None:
        where.append(clause)
    from_, orders = _run_order(_order_list(order_by))
    return sa.select(runs.c.run_uuid).select_from(from_).where(*where).order_by(*orders)


# Stand-ins for the page bounds while a search compiles: found again by identity among the
# compiled parameters, whatever the driver's parameter style, and never equal to a value.
_LIMIT_SLOT = object()
_OFFSET_SLOT = object()


class PagedSql:
    """A run search as driver SQL with its page bounds as parameters.

    Compiling costs about a millisecond, several times running the search: every
    page and page size of one search share this, binding new bounds per call.
    """

    __slots__ = ("_limit_at", "_offset_at", "params", "sql")

    def __init__(self, sql: str, params: tuple | dict[str, Any]) -> None:
        self.sql = sql
        self.params = params
        items = params.items() if isinstance(params, dict) else enumerate(params)
        places = {id(value): at for at, value in items if value is _LIMIT_SLOT or value is _OFFSET_SLOT}
        self._limit_at = places[id(_LIMIT_SLOT)]
        self._offset_at = places[id(_OFFSET_SLOT)]

    def bind(self, limit: int, offset: int) -> tuple[str, tuple | dict[str, Any]]:
        """The SQL and its parameters for ``limit`` rows from ``offset``: ``sql, params = it.bind(101, 0)``."""
        params: Any = dict(self.params) if isinstance(self.params, dict) else list(self.params)
        params[self._limit_at] = limit
        params[self._offset_at] = offset
        return self.sql, params if isinstance(params, dict) else tuple(params)


def runs_paged_sql(
    dialect: sa.Dialect,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    run_view_type: int,
    order_by: Sequence[str] | None,
) -> PagedSql:
    """:func:`runs_select` compiled for ``dialect``, ``LIMIT`` and ``OFFSET`` left to :meth:`PagedSql.bind`."""
    stmt = runs_select(experiment_ids, filter_string, run_view_type, order_by)
    stmt = stmt.limit(sa.bindparam("search_limit", _LIMIT_SLOT, type_=sa.Integer))
    stmt = stmt.offset(sa.bindparam("search_offset", _OFFSET_SLOT, type_=sa.Integer))
    return PagedSql(*driver_statement(dialect, stmt))


# ------------------------------------------------------------------ experiments

_EXPERIMENT_ATTRIBUTES: dict[str, sa.Column[Any]] = {
    "name": s.experiments.c.name,
    "creation_time": s.experiments.c.creation_time,
    "last_update_time": s.experiments.c.last_update_time,
    "experiment_id": s.experiments.c.experiment_id,
}


def _experiment_id_clause(c: n.Comparison) -> ColumnElement[bool]:
    """``experiment_id`` is a string on the wire and an integer column here."""
    col = s.experiments.c.experiment_id
    if c.op in (n.EQ, n.NE) or c.op in n.LIST_OPS:
        values = c.value if c.op in n.LIST_OPS else (c.value,)
        # A string that is not an integer names no experiment.
        ids = [int(v) for v in values if str(v).strip().isdigit() and int(v) < 2**63]
        if c.op == n.EQ:
            return col == ids[0] if ids else sa.false()
        if c.op == n.NE:
            return col != ids[0] if ids else col.is_not(None)
        return col.in_(ids) if c.op == n.IN else col.not_in(ids)
    if c.op in n.NULL_OPS:
        return compare(col, c.op, None, numeric=True)
    return compare(sa.cast(col, sa.String(32)), c.op, c.value, numeric=False)


def _experiment_leaf(c: n.Comparison) -> ColumnElement[bool]:
    if c.entity_type == n.TAG:
        return _keyed(s.experiments.c.experiment_id, s.experiment_tags, "experiment_id", c)
    if c.key == "experiment_id":
        return _experiment_id_clause(c)
    col = _EXPERIMENT_ATTRIBUTES[c.key]
    return compare(col, c.op, c.value, c.key in g.EXPERIMENTS.numeric_attributes)


def experiments_query(
    filter_string: str | None,
    view_type: int,
    order_by: Sequence[str] | None,
    offset: int,
    limit: int,
) -> sa.Select[Any]:
    """``SELECT experiments.experiment_id`` of one page of an experiment search.

    Default order as in MLflow: ``creation_time DESC, experiment_id ASC``; when
    ``order_by`` is given without ``experiment_id``, ``experiment_id DESC``
    breaks ties (MLflow's SQL store does the same).
    """
    exps = s.experiments
    tree = parse_filter(filter_string, g.EXPERIMENTS)
    parsed = _parse_orders(order_by or ["creation_time DESC", "experiment_id ASC"], g.EXPERIMENTS)
    orders: list[ColumnElement[Any]] = []
    for _, key, ascending in parsed:
        col = _EXPERIMENT_ATTRIBUTES[key]
        orders.extend(
            [col.asc() if ascending else col.desc()] if key == "experiment_id" else nulls_last(col, ascending)
        )
    if not any(key == "experiment_id" for _, key, _ in parsed):
        orders.append(exps.c.experiment_id.desc())
    stmt = (
        sa.select(exps.c.experiment_id)
        .where(exps.c.lifecycle_stage.in_(_stages(view_type)), _where(tree, _experiment_leaf))
        .order_by(*orders)
    )
    return _page(stmt, offset, limit)


# --------------------------------------------------------------------- registry

_MODEL_ATTRIBUTES: dict[str, sa.Column[Any]] = {
    "name": s.registered_models.c.name,
    "creation_timestamp": s.registered_models.c.creation_time,
    "last_updated_timestamp": s.registered_models.c.last_updated_time,
    "timestamp": s.registered_models.c.last_updated_time,
}


def _queries_prompts(tree: n.Node | None) -> bool:
    """MLflow's rule: a filter asks for prompts with ``is_prompt = 'true'`` or ``!= 'false'``."""
    for c in n.comparisons(tree):
        if c.entity_type == n.TAG and c.key == IS_PROMPT_TAG and isinstance(c.value, str):
            value = c.value.lower()
            return (c.op == n.EQ and value == "true") or (c.op == n.NE and value == "false")
    return False


def _prompt_aware(
    leaf: Callable[[n.Comparison], ColumnElement[bool]], prompts: bool
) -> Callable[[n.Comparison], ColumnElement[bool]]:
    """When searching models, a test of the prompt tag is dropped (models lack it), as in MLflow."""
    if prompts:
        return leaf
    return lambda c: sa.true() if c.entity_type == n.TAG and c.key == IS_PROMPT_TAG else leaf(c)


def _not_a_prompt(owner: sa.Table, tag_table: sa.Table) -> ColumnElement[bool]:
    """The owner row (a model or version) is not a prompt's: its model has no ``is_prompt``
    tag saying ``true`` in its workspace (names are unique per workspace only)."""
    t = tag_table.c
    return ~sa.exists().where(
        t.workspace == owner.c.workspace,
        t.name == owner.c.name,
        eq(t.key, IS_PROMPT_TAG),
        eq(t.value, "true"),
    )


def _tag_test(same: list[ColumnElement[bool]], value: ColumnElement[Any], c: n.Comparison) -> ColumnElement[bool]:
    """A correlated ``[NOT] EXISTS`` on a registry tag table (keyed by workspace and name)."""
    if c.op == n.IS_NULL:
        return ~sa.exists().where(*same)
    if c.op == n.IS_NOT_NULL:
        return sa.exists().where(*same)
    return sa.exists().where(*same, compare(value, c.op, c.value, numeric=False))


def _model_leaf(c: n.Comparison) -> ColumnElement[bool]:
    if c.entity_type == n.TAG:
        rm, t = s.registered_models, s.registered_model_tags
        same = [t.c.workspace == rm.c.workspace, t.c.name == rm.c.name, eq(t.c.key, c.key)]
        return _tag_test(same, t.c.value, c)
    col = _MODEL_ATTRIBUTES[c.key]
    return compare(col, c.op, c.value, c.key in g.REGISTERED_MODELS.numeric_attributes)


def registered_models_query(
    filter_string: str | None, order_by: Sequence[str] | None, offset: int, limit: int
) -> sa.Select[Any]:
    """``SELECT registered_models.name`` of one page; ties broken by ``name ASC``.

    Prompts are left out unless the filter asks for them (MLflow 3).
    """
    models = s.registered_models
    tree = parse_filter(filter_string, g.REGISTERED_MODELS)
    orders: list[ColumnElement[Any]] = []
    seen_columns: set[str] = set()
    for _, key, ascending in _parse_orders(order_by, g.REGISTERED_MODELS):
        col = _MODEL_ATTRIBUTES[key]
        if col.name in seen_columns:  # "timestamp" and "last_updated_timestamp" are one column
            raise invalid(f"Invalid order_by {list(order_by or [])!r}: '{key}' repeats a field")
        seen_columns.add(col.name)
        orders.extend(
            [col.asc() if ascending else col.desc()] if key == "name" else nulls_last(col, ascending)
        )
    if "name" not in seen_columns:
        orders.append(models.c.name.asc())
    prompts = _queries_prompts(tree)
    where = [_where(tree, _prompt_aware(_model_leaf, prompts))]
    if not prompts:
        where.append(_not_a_prompt(models, s.registered_model_tags))
    stmt = sa.select(models.c.name).where(*where).order_by(*orders)
    return _page(stmt, offset, limit)


_VERSION_ATTRIBUTES: dict[str, sa.Column[Any]] = {
    "name": s.model_versions.c.name,
    "version_number": s.model_versions.c.version,
    "run_id": s.model_versions.c.run_id,
    "source_path": s.model_versions.c.source,
    "creation_timestamp": s.model_versions.c.creation_time,
    "last_updated_timestamp": s.model_versions.c.last_updated_time,
}


def _version_leaf(c: n.Comparison) -> ColumnElement[bool]:
    mv, t = s.model_versions, s.model_version_tags
    if c.entity_type == n.TAG:
        # Correlated EXISTS: the tag table's key is (workspace, name, version), which IN
        # (subquery) cannot match portably.
        same = [
            t.c.workspace == mv.c.workspace,
            t.c.name == mv.c.name,
            t.c.version == mv.c.version,
            eq(t.c.key, c.key),
        ]
        return _tag_test(same, t.c.value, c)
    col = _VERSION_ATTRIBUTES[c.key]
    return compare(col, c.op, c.value, c.key in g.MODEL_VERSIONS.numeric_attributes)


def model_versions_query(
    filter_string: str | None, order_by: Sequence[str] | None, offset: int, limit: int
) -> sa.Select[Any]:
    """``SELECT (model_versions.name, model_versions.version)`` of one page.

    Versions in MLflow's internal deleted stage are never returned, nor prompt
    versions unless the filter asks for them; ties are broken by
    ``name ASC, version DESC`` as in MLflow.
    """
    mv = s.model_versions
    tree = parse_filter(filter_string, g.MODEL_VERSIONS)
    parsed = _parse_orders(order_by, g.MODEL_VERSIONS)
    orders: list[ColumnElement[Any]] = []
    for _, key, ascending in parsed:
        col = _VERSION_ATTRIBUTES[key]
        orders.extend(
            [col.asc() if ascending else col.desc()]
            if key in ("name", "version_number")
            else nulls_last(col, ascending)
        )
    keys = {key for _, key, _ in parsed}
    if "name" not in keys:
        orders.append(mv.c.name.asc())
    if "version_number" not in keys:
        orders.append(mv.c.version.desc())
    live = sa.or_(mv.c.current_stage.is_(None), mv.c.current_stage != STAGE_DELETED_INTERNAL)
    prompts = _queries_prompts(tree)
    where = [live, _where(tree, _prompt_aware(_version_leaf, prompts))]
    if not prompts:
        where.append(_not_a_prompt(mv, s.model_version_tags))
    stmt = sa.select(mv.c.name, mv.c.version).where(*where).order_by(*orders)
    return _page(stmt, offset, limit)
