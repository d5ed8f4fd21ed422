"""The compiled search statements, run on real SQLite, PostgreSQL and MariaDB databases.

Rows are inserted with SQLAlchemy Core straight into the schema's tables, and
each test asserts exactly which ids a search returns and in what order.
Each backend gets its own schema (PostgreSQL) or database (MariaDB) inside the
session's fresh database, so other test modules sharing it see nothing of ours.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mltrail.entities import ViewType
from mltrail.exceptions import MltrailException
from mltrail.store.sql import schema as s
from mltrail.store.sql.search_sql import (
    experiments_query,
    model_versions_query,
    registered_models_query,
    runs_query,
)
from support.sql_backends import SQL_BACKENDS, tables_in_own_schema

DBL_MAX = sys.float_info.max
NAN = object()  # marker: a NaN metric, stored as value=0, is_nan=1


def _metric(run: str, key: str, value: object) -> dict:
    is_nan = value is NAN
    return {
        "run_uuid": run,
        "key": key,
        "value": 0.0 if is_nan else value,
        "timestamp": 1,
        "step": 0,
        "is_nan": is_nan,
    }


def _populate(conn: sa.Connection) -> None:
    ins = conn.execute

    # Every row of one insert spells out the same columns: executemany takes them from the first row.
    def experiment(id_, name, created, updated, stage="active"):
        return {
            "experiment_id": id_,
            "name": name,
            "creation_time": created,
            "last_update_time": updated,
            "lifecycle_stage": stage,
        }

    ins(
        sa.insert(s.experiments),
        [
            experiment(1, "alpha-exp", 100, 500),
            experiment(2, "beta-exp", 200, 300),
            experiment(3, "gamma", 200, 400, "deleted"),
            experiment(4, "xylo", 300, 100),
        ],
    )
    ins(
        sa.insert(s.experiment_tags),
        [
            {"experiment_id": 1, "key": "group", "value": "x"},
            {"experiment_id": 1, "key": "team", "value": "ml"},
            {"experiment_id": 2, "key": "group", "value": "X"},
            {"experiment_id": 4, "key": "group", "value": "y"},
        ],
    )

    def run(uuid_, exp, name, status, user, start, end=None, stage="active", art="file:///tmp/a"):
        return {
            "run_uuid": uuid_,
            "experiment_id": exp,
            "name": name,
            "status": status,
            "user_id": user,
            "start_time": start,
            "end_time": end,
            "lifecycle_stage": stage,
            "artifact_uri": art,
        }

    ins(
        sa.insert(s.runs),
        [
            run("r1", 1, "alpha", "FINISHED", "ana", 1000, 2000, art="s3://bucket/1"),
            run("r2", 1, "beta", "FAILED", "bob", 2000),
            run("r3", 1, "gamma", "RUNNING", "Ana", 3000),
            run("r4", 1, None, "FINISHED", "ana", 3000, 3500),
            run("r5", 1, "delta", "FINISHED", "ana", 5000, 6000, stage="deleted"),
            run("r6", 2, "alpha", "FINISHED", "ana", 1500, 1600),
            run("r7", 3, "other", "FINISHED", "ana", 1700, 1800),
        ],
    )
    ins(
        sa.insert(s.latest_metrics),
        [
            _metric("r1", "acc", 0.9),
            _metric("r1", "loss", 0.1),
            _metric("r1", "f1 score", 0.5),
            _metric("r2", "acc", NAN),
            _metric("r2", "loss", 0.5),
            _metric("r3", "acc", 0.5),
            _metric("r3", "loss", DBL_MAX),  # +inf, as the store keeps it
            _metric("r4", "acc", 0.7),
            _metric("r5", "acc", 0.99),
            _metric("r6", "acc", 0.8),
            _metric("r7", "acc", 0.95),
        ],
    )
    ins(
        sa.insert(s.params),
        [
            {"run_uuid": "r1", "key": "model", "value": "GPT-4"},
            {"run_uuid": "r1", "key": "lr", "value": "0.01"},
            {"run_uuid": "r1", "key": "learning rate", "value": "0.01"},
            {"run_uuid": "r1", "key": "opt", "value": "adam"},
            {"run_uuid": "r2", "key": "model", "value": "gpt-3"},
            {"run_uuid": "r2", "key": "lr", "value": "0.1"},
            {"run_uuid": "r2", "key": "opt", "value": "sgd"},
            {"run_uuid": "r3", "key": "model", "value": "GPT%3"},
            {"run_uuid": "r3", "key": "opt", "value": "rmsprop"},
            {"run_uuid": "r4", "key": "path", "value": "a\\b"},
            {"run_uuid": "r5", "key": "model", "value": "GPT-4"},
            {"run_uuid": "r6", "key": "model", "value": "GPT-4"},
        ],
    )
    ins(
        sa.insert(s.tags),
        [
            {"run_uuid": "r1", "key": "mlflow.user", "value": "ana"},
            {"run_uuid": "r1", "key": "task", "value": "Classification"},
            {"run_uuid": "r1", "key": "env", "value": "prod"},
            {"run_uuid": "r1", "key": "team", "value": "x"},
            {"run_uuid": "r2", "key": "task", "value": "classification"},
            {"run_uuid": "r2", "key": "team", "value": "y"},
            {"run_uuid": "r3", "key": "task", "value": "regression"},
            {"run_uuid": "r3", "key": "env", "value": "Prod"},
            {"run_uuid": "r3", "key": "team", "value": "x"},
            {"run_uuid": "r4", "key": "team", "value": "y"},
            {"run_uuid": "r6", "key": "task", "value": "Classification"},
        ],
    )
    ins(
        sa.insert(s.datasets),
        [
            {
                "dataset_uuid": "d1",
                "experiment_id": 1,
                "name": "custom",
                "digest": "s8ds293b",
                "dataset_source_type": "local",
                "dataset_source": "{}",
            },
            {
                "dataset_uuid": "d2",
                "experiment_id": 1,
                "name": "also custom",
                "digest": "jks834s2",
                "dataset_source_type": "local",
                "dataset_source": "{}",
            },
        ],
    )
    ins(
        sa.insert(s.inputs),
        [
            {
                "input_uuid": "i1",
                "source_type": "DATASET",
                "source_id": "d1",
                "destination_type": "RUN",
                "destination_id": "r1",
            },
            {
                "input_uuid": "i2",
                "source_type": "DATASET",
                "source_id": "d2",
                "destination_type": "RUN",
                "destination_id": "r2",
            },
        ],
    )
    ins(
        sa.insert(s.input_tags),
        [
            {"input_uuid": "i1", "name": "mlflow.data.context", "value": "train"},
            {"input_uuid": "i2", "name": "mlflow.data.context", "value": "test"},
        ],
    )
    ins(
        sa.insert(s.registered_models),
        [
            {"name": "alpha", "creation_time": 10, "last_updated_time": 40},
            {"name": "beta", "creation_time": 20, "last_updated_time": 30},
            {"name": "gamma", "creation_time": 30, "last_updated_time": 20},
            {"name": "my-prompt", "creation_time": 40, "last_updated_time": 50},
        ],
    )
    ins(
        sa.insert(s.registered_model_tags),
        [
            {"name": "alpha", "key": "team", "value": "a"},
            {"name": "gamma", "key": "team", "value": "b"},
            {"name": "my-prompt", "key": "mlflow.prompt.is_prompt", "value": "true"},
            {"name": "my-prompt", "key": "team", "value": "b"},
        ],
    )

    def version(name, v, run_id, source, ct, lut, stage="None"):
        return {
            "name": name,
            "version": v,
            "run_id": run_id,
            "source": source,
            "creation_time": ct,
            "last_updated_time": lut,
            "current_stage": stage,
        }

    ins(
        sa.insert(s.model_versions),
        [
            version("alpha", 1, "r1", "s3://a/1", 1, 5),
            version("alpha", 2, "r2", "runs:/r2/model", 2, 4),
            version("alpha", 3, "r3", "runs:/r3/model", 3, 6, stage="Deleted_Internal"),
            version("beta", 1, "r1", "models:/x", 3, 3),
            version("gamma", 1, None, "file:///m", 4, None),
            version("my-prompt", 1, None, "file:///p", 5, 7),
        ],
    )
    ins(
        sa.insert(s.model_version_tags),
        [
            {"name": "beta", "version": 1, "key": "hint", "value": "prod"},
            {"name": "my-prompt", "version": 1, "key": "mlflow.prompt.is_prompt", "value": "true"},
        ],
    )


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def db(request, tmp_path_factory) -> Iterator[sa.Engine]:
    """An engine on a populated database of one backend, shared by this module's tests."""
    with tables_in_own_schema(request, tmp_path_factory, "search") as engine:
        with engine.begin() as conn:
            _populate(conn)
        yield engine


def _ids(engine: sa.Engine, stmt: sa.Select) -> list:
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [row[0] if len(row) == 1 else tuple(row) for row in rows]


def _runs(
    db,
    filter_string=None,
    order_by=None,
    experiment_ids=("1",),
    view=ViewType.ACTIVE_ONLY,
    offset=0,
    limit=100,
):
    return _ids(db, runs_query(list(experiment_ids), filter_string, view, order_by, offset, limit))


# ------------------------------------------------------------------ run filters

# (filter, expected run ids in order) over experiment 1, active runs only.
# Default order: start_time DESC, then run_uuid: r3 and r4 share start_time 3000.
RUN_FILTERS = [
    ("", ["r3", "r4", "r2", "r1"]),
    ("metrics.acc > 0.6", ["r4", "r1"]),
    ("metrics.acc != 0.5", ["r4", "r1"]),  # the NaN of r2 matches no comparison
    ("metrics.acc <= 0.5", ["r3"]),
    ("metrics.acc = 0", []),  # NaN is stored as 0 but must not match
    ("metrics.acc > 0.6 AND metrics.acc < 0.8", ["r4"]),
    ("metrics.loss > 1e300", ["r3"]),  # +inf
    ("metrics.loss = 'inf'", ["r3"]),
    ("metrics.loss < 'inf'", ["r2", "r1"]),
    ("metrics.acc IN (0.5, 0.9)", ["r3", "r1"]),
    ("metrics.loss IS NULL", ["r4"]),
    ("metrics.loss IS NOT NULL", ["r3", "r2", "r1"]),
    ("metrics.`f1 score` >= 0.5", ["r1"]),
    ('metrics."f1 score" >= 0.5', ["r1"]),
    ("metrics.ACC > 0", []),  # keys are case-sensitive, on MySQL too
    ("params.model = 'GPT-4'", ["r1"]),
    ("params.model = 'gpt-4'", []),
    ("params.model != 'GPT-4'", ["r3", "r2"]),  # r4 has no model param
    ("params.model LIKE 'GPT%'", ["r3", "r1"]),
    ("params.model LIKE 'gpt%'", ["r2"]),
    ("params.model ILIKE 'gpt%'", ["r3", "r2", "r1"]),
    ("params.model NOT LIKE 'GPT%'", ["r2"]),
    ("params.model NOT ILIKE 'GPT-%'", ["r3"]),
    ("params.model LIKE 'GPT_4'", ["r1"]),
    ("params.model LIKE 'GPT\\%%'", ["r3"]),  # escaped percent
    ("params.model IN ('GPT-4', 'gpt-3')", ["r2", "r1"]),
    ("params.model IN ('gpt-4')", []),
    ("params.model NOT IN ('GPT-4')", ["r3", "r2"]),
    ("params.model IS NULL", ["r4"]),
    ("params.path = 'a\\b'", ["r4"]),  # a backslash not before a quote is kept, as in MLflow
    ("params.path LIKE 'a\\\\b'", ["r4"]),  # in LIKE, a backslash escapes the next character
    ("params.path LIKE 'a\\b'", []),
    ("params.`learning rate` = '0.01'", ["r1"]),
    ("params.lr = 0.01", ["r1"]),
    ('params.lr = "0.1"', ["r2"]),
    ("tags.task = 'Classification'", ["r1"]),
    ("tags.task ILIKE 'classif%'", ["r2", "r1"]),
    ("tags.`mlflow.user` = 'ana'", ["r1"]),
    ("tags.mlflow.user = 'ana'", ["r1"]),
    ('tags."mlflow.user" = "ana"', ["r1"]),
    ("tags.env LIKE 'Prod'", ["r3"]),
    ("tags.env LIKE 'prod'", ["r1"]),
    ("tags.env IS NOT NULL", ["r3", "r1"]),
    ("attributes.status = 'FINISHED'", ["r4", "r1"]),
    ("status != 'FINISHED'", ["r3", "r2"]),
    ("attributes.run_name = 'alpha'", ["r1"]),
    ("attributes.run_name ILIKE 'GAMMA'", ["r3"]),
    ("run_name LIKE 'Gamma'", []),
    ("attributes.`Run name` IN ('alpha', 'beta')", ["r2", "r1"]),
    ("attributes.run_name IS NULL", ["r4"]),
    ("attributes.user_id = 'ana'", ["r4", "r1"]),
    ("attributes.run_id = 'r2'", ["r2"]),
    ("run_id IN ('r1', 'r3')", ["r3", "r1"]),
    ("run_id IN ('R1')", []),
    ("run_id NOT IN ('r1')", ["r3", "r4", "r2"]),
    ("attributes.start_time >= 2000", ["r3", "r4", "r2"]),
    ("attributes.created < 2000", ["r1"]),
    ("attributes.end_time IS NULL", ["r3", "r2"]),
    ("attributes.end_time > 1000", ["r4", "r1"]),
    ("attributes.artifact_uri LIKE 's3://%'", ["r1"]),
    ("datasets.name = 'custom'", ["r1"]),
    ("datasets.name LIKE 'custom'", ["r1"]),
    ("datasets.name ILIKE '%CUSTOM'", ["r2", "r1"]),
    ("datasets.digest IN ('s8ds293b', 'jks834s2')", ["r2", "r1"]),
    ("datasets.context = 'train'", ["r1"]),
    ("datasets.context NOT IN ('train')", ["r2"]),
    ("datasets.name IS NULL", ["r3", "r4"]),
    # OR, parentheses and precedence (AND binds tighter than OR)
    ("params.model = 'GPT-4' OR tags.task = 'regression'", ["r3", "r1"]),
    ("metrics.acc > 0.6 OR metrics.loss > 0.4 AND params.model = 'gpt-3'", ["r4", "r2", "r1"]),
    ("(metrics.acc > 0.6 OR metrics.loss > 0.4) AND params.model = 'gpt-3'", ["r2"]),
    (
        "(status = 'FINISHED' OR status = 'FAILED') AND (tags.task ILIKE 'class%' OR run_name IS NULL)",
        ["r4", "r2", "r1"],
    ),
    ("params.model = 'GPT-4' or params.model = 'gpt-3' or run_id = 'r4'", ["r4", "r2", "r1"]),
]


@pytest.mark.parametrize(("filter_string", "expected"), RUN_FILTERS, ids=[f for f, _ in RUN_FILTERS])
def test_run_filter(db, filter_string, expected):
    assert _runs(db, filter_string) == expected


RUN_ORDERS = [
    (["metrics.acc DESC"], ["r1", "r4", "r3", "r2"]),  # NaN after real values
    (["metrics.acc"], ["r3", "r4", "r1", "r2"]),
    (["metrics.loss"], ["r1", "r2", "r3", "r4"]),  # missing key last
    (["metrics.loss DESC"], ["r3", "r2", "r1", "r4"]),
    (["params.opt"], ["r1", "r3", "r2", "r4"]),
    (["params.opt desc"], ["r2", "r3", "r1", "r4"]),
    (["attributes.start_time ASC"], ["r1", "r2", "r3", "r4"]),  # tie broken by run id
    (["start_time DESC"], ["r3", "r4", "r2", "r1"]),
    (["attributes.run_name"], ["r1", "r2", "r3", "r4"]),  # NULL name last
    (["attributes.run_name DESC"], ["r3", "r2", "r1", "r4"]),
    (["attributes.end_time DESC"], ["r4", "r1", "r3", "r2"]),
    (["tags.team"], ["r3", "r1", "r4", "r2"]),  # ties fall back to start_time DESC
    (["tags.team", "metrics.acc DESC"], ["r1", "r3", "r4", "r2"]),
    (["tags.team DESC", "attributes.start_time"], ["r2", "r4", "r1", "r3"]),
    (["run_id DESC"], ["r4", "r3", "r2", "r1"]),
]


@pytest.mark.parametrize(("order_by", "expected"), RUN_ORDERS, ids=[" ".join(o) for o, _ in RUN_ORDERS])
def test_run_order_by(db, order_by, expected):
    assert _runs(db, order_by=order_by) == expected


def test_run_filter_and_order_together(db):
    assert _runs(db, "metrics.acc >= 0.5", ["metrics.acc"]) == ["r3", "r4", "r1"]
    assert _runs(db, "tags.team = 'x' OR metrics.loss < 0.6", ["params.opt DESC"]) == ["r2", "r3", "r1"]


def test_a_lone_order_by_string_is_one_clause(db):
    assert _runs(db, order_by="metrics.acc DESC") == ["r1", "r4", "r3", "r2"]
    assert _ids(db, experiments_query(None, ViewType.ALL, "name DESC", 0, 10)) == [4, 3, 2, 1]


def test_run_paging(db):
    assert _runs(db, offset=0, limit=2) == ["r3", "r4"]
    assert _runs(db, offset=2, limit=2) == ["r2", "r1"]
    assert _runs(db, offset=4, limit=2) == []
    assert _runs(db, order_by=["metrics.acc DESC"], offset=1, limit=2) == ["r4", "r3"]


def test_run_view_types(db):
    assert _runs(db, view=ViewType.DELETED_ONLY) == ["r5"]
    assert _runs(db, view=ViewType.ALL) == ["r5", "r3", "r4", "r2", "r1"]
    assert _runs(db, "params.model = 'GPT-4'", view=ViewType.ALL) == ["r5", "r1"]


def test_runs_across_experiments(db):
    assert _runs(db, "params.model = 'GPT-4'", experiment_ids=["1", "2"]) == ["r6", "r1"]
    assert _runs(db, "metrics.acc > 0.85", experiment_ids=["2", "3", "1"], view=ViewType.ALL) == [
        "r5",
        "r7",
        "r1",
    ]
    assert _runs(db, experiment_ids=[]) == []
    assert _runs(db, experiment_ids=["404"]) == []


def test_same_shape_different_values_use_their_own_values(db):
    # The statement cache must not mix up the per-dialect bound values.
    for pattern, expected in [("GPT%", ["r3", "r1"]), ("gpt%", ["r2"]), ("GPT-_", ["r1"])]:
        assert _runs(db, f"params.model LIKE '{pattern}'") == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_string": "metrics.acc >"}, "expected a value at position 14"),
        ({"filter_string": ["metrics.acc > 1"]}, "expected a string"),
        ({"order_by": ["metrics.acc", "metrics.acc DESC"]}, "repeats a field"),
        ({"order_by": ["datasets.name"]}, "cannot be ordered"),
        ({"order_by": ["foo"]}, "unknown attribute 'foo'"),
        ({"experiment_ids": ["abc"]}, "Invalid experiment ids"),
        ({"view": 7}, "Invalid view type"),
        ({"offset": -1}, "Invalid page"),
        ({"limit": "10"}, "Invalid page"),
    ],
)
def test_run_search_errors(db, kwargs, message):
    with pytest.raises(MltrailException, match=message) as err:
        _runs(db, **kwargs)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------------ experiments

EXPERIMENT_CASES = [
    (None, None, ViewType.ACTIVE_ONLY, [4, 2, 1]),
    (None, None, ViewType.ALL, [4, 2, 3, 1]),  # creation_time DESC, experiment_id ASC
    (None, None, ViewType.DELETED_ONLY, [3]),
    ("attributes.name = 'alpha-exp'", None, ViewType.ACTIVE_ONLY, [1]),
    ("name = 'alpha-exp'", None, ViewType.ACTIVE_ONLY, [1]),
    ("name = 'ALPHA-EXP'", None, ViewType.ACTIVE_ONLY, []),
    ("attributes.name LIKE 'x%'", None, ViewType.ACTIVE_ONLY, [4]),
    ("tags.group != 'x'", None, ViewType.ACTIVE_ONLY, [4, 2]),
    ("tags.group ILIKE '%x%'", None, ViewType.ACTIVE_ONLY, [2, 1]),
    ("attributes.name LIKE 'x%' AND tags.group = 'y'", None, ViewType.ACTIVE_ONLY, [4]),
    ("creation_time >= 200", None, ViewType.ACTIVE_ONLY, [4, 2]),
    ("attributes.last_update_time < 400", None, ViewType.ALL, [4, 2]),
    ("name LIKE '%exp' OR tags.group = 'y'", None, ViewType.ACTIVE_ONLY, [4, 2, 1]),
    ("tags.team IS NULL", None, ViewType.ACTIVE_ONLY, [4, 2]),
    ("experiment_id = '2'", None, ViewType.ACTIVE_ONLY, [2]),
    ("attributes.experiment_id IN ('1', '4', 'x')", None, ViewType.ACTIVE_ONLY, [4, 1]),
    ("experiment_id NOT IN ('1')", None, ViewType.ACTIVE_ONLY, [4, 2]),
    ("experiment_id != 'x'", None, ViewType.ACTIVE_ONLY, [4, 2, 1]),
    ("experiment_id = 'x'", None, ViewType.ACTIVE_ONLY, []),
    ("experiment_id LIKE '1%'", None, ViewType.ACTIVE_ONLY, [1]),
    (None, ["name DESC"], ViewType.ACTIVE_ONLY, [4, 2, 1]),
    (None, ["last_update_time"], ViewType.ACTIVE_ONLY, [4, 2, 1]),
    (None, ["attributes.last_update_time DESC"], ViewType.ACTIVE_ONLY, [1, 2, 4]),
    (None, ["creation_time ASC"], ViewType.ALL, [1, 3, 2, 4]),  # ties: experiment_id DESC
    (None, ["creation_time", "experiment_id"], ViewType.ALL, [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("filter_string", "order_by", "view", "expected"), EXPERIMENT_CASES)
def test_experiment_search(db, filter_string, order_by, view, expected):
    assert _ids(db, experiments_query(filter_string, view, order_by, 0, 100)) == expected


def test_experiment_paging_and_errors(db):
    assert _ids(db, experiments_query(None, ViewType.ALL, None, 1, 2)) == [2, 3]
    with pytest.raises(MltrailException, match="unknown attribute 'run_id'"):
        experiments_query("run_id = 'x'", ViewType.ALL, None, 0, 10)
    with pytest.raises(MltrailException, match="cannot be searched by 'metrics'"):
        experiments_query("metrics.acc > 1", ViewType.ALL, None, 0, 10)


# --------------------------------------------------------------------- registry

MODEL_CASES = [
    (None, None, ["alpha", "beta", "gamma"]),
    ("name = 'alpha'", None, ["alpha"]),
    ("name = 'Alpha'", None, []),
    ("name ILIKE 'ALPHA'", None, ["alpha"]),
    ("name LIKE '%a'", None, ["alpha", "beta", "gamma"]),
    ("tags.team = 'b'", None, ["gamma"]),
    ("tags.team != 'a'", None, ["gamma"]),
    ("name = 'beta' OR tags.team = 'a'", None, ["alpha", "beta"]),
    (None, ["timestamp DESC"], ["alpha", "beta", "gamma"]),
    (None, ["last_updated_timestamp"], ["gamma", "beta", "alpha"]),
    (None, ["creation_timestamp DESC"], ["gamma", "beta", "alpha"]),
    (None, ["name DESC"], ["gamma", "beta", "alpha"]),
    # prompts are registry models too, left out unless asked for (MLflow 3)
    ("tags.`mlflow.prompt.is_prompt` = 'true'", None, ["my-prompt"]),
    ("tags.`mlflow.prompt.is_prompt` != 'false' AND tags.team = 'b'", None, ["my-prompt"]),
    ("tags.`mlflow.prompt.is_prompt` = 'false'", None, ["alpha", "beta", "gamma"]),
]


@pytest.mark.parametrize(("filter_string", "order_by", "expected"), MODEL_CASES)
def test_registered_model_search(db, filter_string, order_by, expected):
    assert _ids(db, registered_models_query(filter_string, order_by, 0, 100)) == expected


VERSION_CASES = [
    (None, None, [("alpha", 2), ("alpha", 1), ("beta", 1), ("gamma", 1)]),
    ("name = 'alpha'", None, [("alpha", 2), ("alpha", 1)]),
    ("run_id = 'r1'", None, [("alpha", 1), ("beta", 1)]),
    ("run_id IN ('r1', 'r2')", None, [("alpha", 2), ("alpha", 1), ("beta", 1)]),
    ("run_id IN ('r3')", None, []),  # that version is deleted
    ("version_number > 1", None, [("alpha", 2)]),
    ("source_path LIKE 'runs:/%'", None, [("alpha", 2)]),
    ("tags.hint = 'prod'", None, [("beta", 1)]),
    ("tags.hint IS NULL", None, [("alpha", 2), ("alpha", 1), ("gamma", 1)]),
    ("run_id IS NULL", None, [("gamma", 1)]),
    ("name = 'gamma' OR tags.hint = 'prod'", None, [("beta", 1), ("gamma", 1)]),
    (None, ["version_number ASC"], [("alpha", 1), ("beta", 1), ("gamma", 1), ("alpha", 2)]),
    (None, ["last_updated_timestamp DESC"], [("alpha", 1), ("alpha", 2), ("beta", 1), ("gamma", 1)]),
    (None, ["name DESC"], [("gamma", 1), ("beta", 1), ("alpha", 2), ("alpha", 1)]),
    ("tags.`mlflow.prompt.is_prompt` = 'true'", None, [("my-prompt", 1)]),
]


@pytest.mark.parametrize(("filter_string", "order_by", "expected"), VERSION_CASES)
def test_model_version_search(db, filter_string, order_by, expected):
    assert _ids(db, model_versions_query(filter_string, order_by, 0, 100)) == expected


def test_registry_paging_and_errors(db):
    assert _ids(db, registered_models_query(None, None, 1, 1)) == ["beta"]
    assert _ids(db, model_versions_query(None, None, 2, 5)) == [("beta", 1), ("gamma", 1)]
    with pytest.raises(MltrailException, match="repeats a field"):
        registered_models_query(None, ["timestamp", "last_updated_timestamp DESC"], 0, 10)
    with pytest.raises(MltrailException, match="unknown attribute 'version_number'"):
        registered_models_query("version_number = 1", None, 0, 10)
