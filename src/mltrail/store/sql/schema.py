"""The SQL schema, declared once with SQLAlchemy Core.

Table and column names follow MLflow's own schema where one exists, so that
people who know it find their way around. Built for speed:

* ``latest_metrics`` keeps each run's newest value per key, so search and
  ``get_run`` never scan metric histories;
* ``metrics`` is indexed by ``(run_uuid, key, step, timestamp, id, value, is_nan)``,
  so a history read (ordered by step, timestamp, insertion) comes from the index
  alone, already sorted;
* ``latest_metrics``, ``params`` and ``tags`` carry covering ``(key, value, run_uuid)``
  indexes, so selective search filters never touch the tables (measured: a
  two-clause filter over 100k runs on SQLite went from 61 ms to 0.5 ms);
* ``runs`` is indexed by ``(experiment_id, lifecycle_stage, start_time)`` for the
  default search order.

Column widths hold MLflow 3.17's limits (:mod:`mltrail.store.validation`) on every
backend: values that may exceed a few thousand characters (experiment, registry and
logged-model tags, registry descriptions, logged-model params) are ``TEXT`` (``MEDIUMTEXT``
on MySQL, whose ``TEXT`` holds 65,535 bytes: only ~16k characters of utf8mb4). Run tags
and params stay ``VARCHAR(8000)`` because their ``(key, value)`` indexes need a
bounded type; tag and param *keys* are ``VARCHAR`` everywhere (they are primary keys).

Non-finite metric values: SQLite turns NaN into NULL and MySQL rejects NaN and
infinities, so NaN is stored as ``value=0, is_nan=1`` and ±inf as ±DBL_MAX (the
store maps them back when reading).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

metadata = sa.MetaData()


class MediumText(sa.Text):
    """``TEXT``, compiled as ``MEDIUMTEXT`` on MySQL.

    Declared here instead of using ``sqlalchemy.dialects.mysql.MEDIUMTEXT``: importing that
    loads the MySQL dialect and the modules of its eight drivers (20 modules, 0.8 MB of RSS)
    whatever the backend, SQLite included.
    """


@compiles(MediumText, "mysql")
def _medium_text_on_mysql(_type: MediumText, _compiler: Any, **_kw: Any) -> str:
    return "MEDIUMTEXT"


@compiles(sa.schema.CreateIndex, "mysql")
def _index_prefixes_on_mysql(create: sa.schema.CreateIndex, compiler: Any, **kw: Any) -> str:
    """An index's ``info["mysql_length"]`` as MySQL's prefix lengths (``mysql_length=`` on the
    ``Index`` itself would load the MySQL dialect on every backend when this module is imported;
    here it is loaded already)."""
    lengths = create.element.info.get("mysql_length")
    if lengths:
        create.element.dialect_options["mysql"]["length"] = lengths
    return compiler.visit_create_index(create, **kw)


# Column sizes: MLflow's limits (key 250, param value 6000, run tag value 8000) with room.
KEY = sa.String(250)
NAME = sa.String(256)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")
# Up to 16 MB on MySQL: room for 100,000-character tag values in utf8mb4 (migration 0005).
WIDE_TEXT = MediumText()
# An experiment's artifact location (MLflow's 2,048-character limit), and locations derived
# from it (``<location>/<run id>/artifacts``, ``<location>/models/<model id>/artifacts``).
LOCATION = sa.String(2048)
DERIVED_LOCATION = sa.String(2200)
DOUBLE = sa.Double()
# A workspace name (MLflow's limit: 63 characters).
WORKSPACE = sa.String(63)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", LOCATION),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
    sa.Column("creation_time", BIGINT),
    sa.Column("last_update_time", BIGINT),
    # Migration 0017: the workspace (MLflow's ``--enable-workspaces``); a name is unique per workspace.
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
    sa.Index("idx_experiments_name", "name"),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", WIDE_TEXT),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column("name", NAME),
    sa.Column("source_type", sa.String(20)),
    sa.Column("source_name", sa.String(500)),
    sa.Column("entry_point_name", sa.String(50)),
    sa.Column("user_id", NAME),
    sa.Column("status", sa.String(9), nullable=False),
    sa.Column("start_time", BIGINT),
    sa.Column("end_time", BIGINT),
    sa.Column("deleted_time", BIGINT),
    sa.Column("source_version", sa.String(50)),
    sa.Column("lifecycle_stage", sa.String(20), nullable=False, server_default="active"),
    sa.Column("artifact_uri", DERIVED_LOCATION),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Index("idx_runs_experiment_stage_start", "experiment_id", "lifecycle_stage", "start_time"),
)

# Full metric history: one row per logged value.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("run_uuid", sa.String(32), nullable=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("value", DOUBLE, nullable=False),
    sa.Column("timestamp", BIGINT, nullable=False),
    sa.Column("step", BIGINT, nullable=False, server_default="0"),
    sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("idx_metrics_run_key_step", "run_uuid", "key", "step", "timestamp", "id", "value", "is_nan"),
)

# The newest value of each (run, key): what search, order_by and get_run read.
latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", DOUBLE, nullable=False),
    sa.Column("timestamp", BIGINT, nullable=False),
    sa.Column("step", BIGINT, nullable=False),
    sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("idx_latest_metrics_key_value", "key", "value", "is_nan", "run_uuid"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.String(8000), nullable=False),
    # On MySQL the index holds the value's first 200 characters (see _index_prefixes_on_mysql).
    sa.Index("idx_params_key_value", "key", "value", "run_uuid", info={"mysql_length": {"value": 200}}),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.String(8000)),
    sa.Index("idx_tags_key_value", "key", "value", "run_uuid", info={"mysql_length": {"value": 200}}),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_uuid", sa.String(36), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(36), nullable=False),
    sa.Column("dataset_source_type", sa.String(36), nullable=False),
    sa.Column("dataset_source", LONG_TEXT, nullable=False),
    sa.Column("dataset_schema", LONG_TEXT),
    sa.Column("dataset_profile", LONG_TEXT),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name_digest"),
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("input_uuid", sa.String(36), primary_key=True),
    sa.Column("source_type", sa.String(36), nullable=False),
    sa.Column("source_id", sa.String(36), nullable=False),
    sa.Column("destination_type", sa.String(36), nullable=False),
    sa.Column("destination_id", sa.String(36), nullable=False),
    sa.Column("step", BIGINT, nullable=False, server_default="0"),  # a model output's step (0011)
    sa.UniqueConstraint(
        "source_type", "source_id", "destination_type", "destination_id", name="uq_inputs_source_destination"
    ),
    sa.Index("idx_inputs_destination", "destination_type", "destination_id"),
)

input_tags = sa.Table(
    "input_tags",
    metadata,
    sa.Column("input_uuid", sa.String(36), sa.ForeignKey("inputs.input_uuid"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
)

# ---------------------------------------------------------------- model registry

# Migration 0018: a model's name is unique per workspace (MLflow 3.17), so the workspace
# leads every key that hangs on a name: versions, tags and aliases carry their model's.
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", NAME, nullable=False),
    sa.Column("creation_time", BIGINT),
    sa.Column("last_updated_time", BIGINT),
    sa.Column("description", WIDE_TEXT),
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.PrimaryKeyConstraint("workspace", "name", name="registered_model_pk"),
)


def _model_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace", "name"],
        ["registered_models.workspace", "registered_models.name"],
        onupdate="CASCADE",
        name=f"fk_{table}_model",
    )


registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Column("name", NAME, nullable=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("value", WIDE_TEXT),
    sa.PrimaryKeyConstraint("workspace", "name", "key", name="registered_model_tag_pk"),
    _model_key("registered_model_tags"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Column("name", NAME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("creation_time", BIGINT),
    sa.Column("last_updated_time", BIGINT),
    sa.Column("description", WIDE_TEXT),
    sa.Column("user_id", NAME),
    sa.Column("current_stage", sa.String(20)),
    sa.Column("source", sa.String(500)),
    sa.Column("run_id", sa.String(32)),
    sa.Column("run_link", sa.String(500)),
    sa.Column("status", sa.String(20)),
    sa.Column("status_message", sa.String(500)),
    sa.Column("storage_location", sa.String(500)),
    sa.Column("model_id", sa.String(64)),
    sa.PrimaryKeyConstraint("workspace", "name", "version", name="model_version_pk"),
    _model_key("model_versions"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Column("name", NAME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("value", WIDE_TEXT),
    sa.PrimaryKeyConstraint("workspace", "name", "version", "key", name="model_version_tag_pk"),
    sa.ForeignKeyConstraint(
        ["workspace", "name", "version"],
        ["model_versions.workspace", "model_versions.name", "model_versions.version"],
        onupdate="CASCADE",
        name="fk_model_version_tags_version",
    ),
)

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Column("name", NAME, nullable=False),
    sa.Column("alias", NAME, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("workspace", "name", "alias", name="registered_model_alias_pk"),
    _model_key("registered_model_aliases"),
)

# ---------------------------------------------------------------- logged models (MLflow 3)
# Added by migration 0002. A logged model is a model stored outside any run's
# artifacts (``<experiment location>/models/<model_id>/artifacts``), linked to
# the run that produced it by ``source_run_id``.

logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", DERIVED_LOCATION, nullable=False),
    sa.Column("creation_timestamp_ms", BIGINT, nullable=False),
    sa.Column("last_updated_timestamp_ms", BIGINT, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
    sa.Column("model_type", sa.String(500)),
    sa.Column("source_run_id", sa.String(32)),
    sa.Column("status_message", sa.String(1000)),
    sa.Index("idx_logged_models_experiment_name", "experiment_id", "name"),
    sa.Index("idx_logged_models_source_run", "source_run_id"),
)

logged_model_tags = sa.Table(
    "logged_model_tags",
    metadata,
    sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id"), primary_key=True),
    sa.Column("tag_key", KEY, primary_key=True),
    sa.Column("tag_value", WIDE_TEXT),
)

logged_model_params = sa.Table(
    "logged_model_params",
    metadata,
    sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id"), primary_key=True),
    sa.Column("param_key", KEY, primary_key=True),
    sa.Column("param_value", WIDE_TEXT, nullable=False),
)

# Added by migration 0006: metric values logged with a ``model_id`` (MLflow's
# ``logged_model_metrics``), written with the run's metric in one transaction.
# Every row of a model is kept (``LoggedModel.metrics`` lists them all); the primary
# key starts with (model, name), so a model's metrics and the search's correlated
# look-ups read one index range. NaN is stored as NULL (SQLite makes NULL of NaN
# anyway and MLflow would store 0), ±inf as ±DBL_MAX.
logged_model_metrics = sa.Table(
    "logged_model_metrics",
    metadata,
    sa.Column("model_id", sa.String(64), nullable=False),
    sa.Column("metric_name", KEY, nullable=False),
    sa.Column("metric_timestamp_ms", BIGINT, nullable=False),
    sa.Column("metric_step", BIGINT, nullable=False),
    sa.Column("metric_value", DOUBLE),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("dataset_uuid", sa.String(36)),
    sa.Column("dataset_name", sa.String(500)),
    sa.Column("dataset_digest", sa.String(36)),
    sa.PrimaryKeyConstraint(
        "model_id",
        "metric_name",
        "metric_timestamp_ms",
        "metric_step",
        "run_id",
        name="logged_model_metrics_pk",
    ),
    sa.ForeignKeyConstraint(
        ["model_id"], ["logged_models.model_id"], ondelete="CASCADE", name="fk_logged_model_metrics_model_id"
    ),
    sa.ForeignKeyConstraint(
        ["experiment_id"], ["experiments.experiment_id"], name="fk_logged_model_metrics_experiment_id"
    ),
    sa.ForeignKeyConstraint(
        ["run_id"], ["runs.run_uuid"], ondelete="CASCADE", name="fk_logged_model_metrics_run_id"
    ),
)

# ---------------------------------------------------------------- traces (MLflow 3)
# Added by migration 0003. Names follow MLflow's (``request_id`` is the trace id).
# Spans are kept whole as MLflow's span JSON in ``content``; the other span
# columns are copies for filtering and ordering.

trace_info = sa.Table(
    "trace_info",
    metadata,
    sa.Column("request_id", sa.String(50), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("timestamp_ms", BIGINT, nullable=False),
    sa.Column("execution_time_ms", BIGINT),
    sa.Column("status", sa.String(50), nullable=False),
    sa.Column("client_request_id", sa.String(50)),
    sa.Column("request_preview", sa.String(1000)),
    sa.Column("response_preview", sa.String(1000)),
    # Added by migration 0008: copies of the session, user, token and cost metadata (store/sql/trace_columns.py).
    sa.Column("session_id", sa.String(255)),
    sa.Column("user_id", sa.String(255)),
    sa.Column("input_tokens", sa.BigInteger),
    sa.Column("output_tokens", sa.BigInteger),
    sa.Column("total_tokens", sa.BigInteger),
    sa.Column("input_cost", sa.Double),
    sa.Column("output_cost", sa.Double),
    sa.Column("total_cost", sa.Double),
    # Added by migration 0015: the ``mlflow.traceName`` tag's first 255 characters, for the sort by name.
    sa.Column("trace_name", sa.String(255)),
    sa.Index("idx_trace_info_experiment_timestamp", "experiment_id", "timestamp_ms"),
    sa.Index("idx_trace_info_experiment_session", "experiment_id", "session_id", "timestamp_ms"),
    # (experiment, sort value, request_id): keyset pages of search_traces in every sort (migration 0015).
    sa.Index("idx_trace_info_experiment_user", "experiment_id", "user_id", "request_id"),
    sa.Index("idx_trace_info_experiment_tokens", "experiment_id", "total_tokens", "request_id"),
    sa.Index("idx_trace_info_experiment_cost", "experiment_id", "total_cost", "request_id"),
    sa.Index("idx_trace_info_sort_latency", "experiment_id", "execution_time_ms", "request_id"),
    sa.Index("idx_trace_info_sort_status", "experiment_id", "status", "request_id"),
    sa.Index("idx_trace_info_sort_name", "experiment_id", "trace_name", "request_id"),
    sa.Index("idx_trace_info_sort_input_tokens", "experiment_id", "input_tokens", "request_id"),
    sa.Index("idx_trace_info_sort_output_tokens", "experiment_id", "output_tokens", "request_id"),
    sa.Index("idx_trace_info_sort_id", "experiment_id", "request_id"),
)

trace_tags = sa.Table(
    "trace_tags",
    metadata,
    sa.Column("request_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.String(8000)),
)

trace_request_metadata = sa.Table(
    "trace_request_metadata",
    metadata,
    sa.Column("request_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.String(8000)),
    sa.Index("idx_trace_request_metadata_key_value", "key", "request_id"),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), primary_key=True),
    sa.Column("span_id", sa.String(50), primary_key=True),
    sa.Column("parent_span_id", sa.String(50)),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(1000)),
    sa.Column("type", sa.String(500)),
    sa.Column("status", sa.String(50), nullable=False),
    sa.Column("start_time_unix_nano", BIGINT, nullable=False),
    sa.Column("end_time_unix_nano", BIGINT),
    sa.Column("content", LONG_TEXT, nullable=False),
)

# ---------------------------------------------------------------- assessments (MLflow 3)
# Added by migration 0004. One row per assessment of a trace; ``content`` is the
# assessment's JSON (MLflow's ``Assessment`` message), the other columns are copies
# for lookups and ordering.

assessments = sa.Table(
    "assessments",
    metadata,
    sa.Column("assessment_id", sa.String(50), primary_key=True),
    sa.Column("trace_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("assessment_type", sa.String(20), nullable=False),
    sa.Column("created_timestamp", BIGINT, nullable=False),
    sa.Column("last_updated_timestamp", BIGINT, nullable=False),
    sa.Column("overrides", sa.String(50)),
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("content", LONG_TEXT, nullable=False),
    sa.Index("idx_assessments_trace_id_created", "trace_id", "created_timestamp"),
)

# ------------------------------------------------------- evaluation datasets (MLflow 3)
# Added by migration 0007 (store: mltrail.store.sql.datasets). Names follow MLflow's
# ``evaluation_datasets`` tables; experiments are linked by their own table (MLflow keeps
# a generic ``entity_associations``). JSON values are stored as text. ``content_hash`` is
# mltrail's: the hash of a record's inputs, outputs and expectations, from which the
# dataset's digest is computed.

evaluation_datasets = sa.Table(
    "evaluation_datasets",
    metadata,
    sa.Column("dataset_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("schema", LONG_TEXT),
    sa.Column("profile", LONG_TEXT),
    sa.Column("digest", sa.String(64)),
    sa.Column("created_time", BIGINT, nullable=False),
    sa.Column("last_update_time", BIGINT, nullable=False),
    sa.Column("created_by", sa.String(255)),
    sa.Column("last_updated_by", sa.String(255)),
    # Migration 0018: the workspace it belongs to (MLflow 3.17), ``default`` without workspaces.
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Index("index_evaluation_datasets_name", "name"),
    sa.Index("idx_evaluation_datasets_workspace", "workspace"),
    sa.Index("index_evaluation_datasets_created_time", "created_time"),
)

evaluation_dataset_tags = sa.Table(
    "evaluation_dataset_tags",
    metadata,
    sa.Column("dataset_id", sa.String(36), sa.ForeignKey("evaluation_datasets.dataset_id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(5000)),
)

evaluation_dataset_experiments = sa.Table(
    "evaluation_dataset_experiments",
    metadata,
    sa.Column("dataset_id", sa.String(36), sa.ForeignKey("evaluation_datasets.dataset_id"), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), primary_key=True),
    sa.Column("created_time", BIGINT, nullable=False),
    sa.Index("index_evaluation_dataset_experiments_experiment", "experiment_id", "dataset_id"),
)

evaluation_dataset_records = sa.Table(
    "evaluation_dataset_records",
    metadata,
    sa.Column("dataset_record_id", sa.String(36), primary_key=True),
    sa.Column("dataset_id", sa.String(36), sa.ForeignKey("evaluation_datasets.dataset_id"), nullable=False),
    sa.Column("inputs", LONG_TEXT, nullable=False),
    sa.Column("outputs", LONG_TEXT),
    sa.Column("expectations", LONG_TEXT),
    sa.Column("tags", LONG_TEXT),
    sa.Column("source", LONG_TEXT),
    sa.Column("source_id", sa.String(255)),
    sa.Column("source_type", sa.String(255)),
    sa.Column("created_time", BIGINT, nullable=False),
    sa.Column("last_update_time", BIGINT, nullable=False),
    sa.Column("created_by", sa.String(255)),
    sa.Column("last_updated_by", sa.String(255)),
    sa.Column("input_hash", sa.String(64), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("dataset_id", "input_hash", name="unique_dataset_input"),
    sa.Index("index_evaluation_dataset_records_page", "dataset_id", "created_time", "dataset_record_id"),
)

# ------------------------------------------------------------- registered scorers (MLflow 3)
# Added by migration 0009 (store: mltrail.store.sql.scorers). ``scorers`` / ``scorer_versions``
# / ``online_scoring_configs`` follow MLflow's tables; ``scorer_judged_traces`` is mltrail's
# ledger of the traces each scorer version has taken (its primary key is the claim that lets
# several online-scoring workers share one database and judge each trace once).

scorers = sa.Table(
    "scorers",
    metadata,
    sa.Column("scorer_id", sa.String(36), primary_key=True),
    sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
    sa.Column("scorer_name", sa.String(256), nullable=False),
    sa.UniqueConstraint("experiment_id", "scorer_name", name="unique_experiment_scorer_name"),
)

scorer_versions = sa.Table(
    "scorer_versions",
    metadata,
    sa.Column("scorer_id", sa.String(36), sa.ForeignKey("scorers.scorer_id"), primary_key=True),
    sa.Column("scorer_version", sa.Integer, primary_key=True),
    sa.Column("serialized_scorer", LONG_TEXT, nullable=False),
    sa.Column("creation_time", BIGINT, nullable=False),
    sa.Column("created_by", sa.String(255)),
)

online_scoring_configs = sa.Table(
    "online_scoring_configs",
    metadata,
    sa.Column("online_scoring_config_id", sa.String(36), primary_key=True),
    sa.Column("scorer_id", sa.String(36), sa.ForeignKey("scorers.scorer_id"), nullable=False, unique=True),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("sample_rate", sa.Float, nullable=False),
    sa.Column("filter_string", sa.Text),
    sa.Column("started_time", BIGINT, nullable=False),
    sa.Column("updated_by", sa.String(255)),
    sa.Index("idx_online_scoring_configs_rate", "sample_rate"),
)

scorer_judged_traces = sa.Table(
    "scorer_judged_traces",
    metadata,
    sa.Column("request_id", sa.String(50), primary_key=True),
    sa.Column("scorer_id", sa.String(36), primary_key=True),
    sa.Column("scorer_version", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("claimed_time", BIGINT, nullable=False),
    sa.Column("worker", sa.String(100)),
    sa.Index("idx_scorer_judged_traces_scorer", "scorer_id", "scorer_version", "request_id"),
)

# ------------------------------------------------------------------- registry webhooks (MLflow 3)
# Added by migration 0010 (store: mltrail.store.sql.webhooks). ``webhooks`` / ``webhook_events``
# follow MLflow's tables (soft delete through ``deleted_timestamp``; the secret is sealed by the
# server when it has a key); ``webhook_deliveries`` is mltrail's delivery log.
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("webhook_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.String(1000)),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("secret", sa.String(1000)),
    sa.Column("creation_timestamp", BIGINT, nullable=False),
    sa.Column("last_updated_timestamp", BIGINT, nullable=False),
    sa.Column("deleted_timestamp", BIGINT),
    # Migration 0018: the workspace it belongs to (MLflow 3.17), ``default`` without workspaces.
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Index("idx_webhooks_created", "creation_timestamp"),
    sa.Index("idx_webhooks_workspace", "workspace"),
)
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(36),
        sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("entity", sa.String(50), primary_key=True),
    sa.Column("action", sa.String(50), primary_key=True),
    sa.Index("idx_webhook_events_entity_action", "entity", "action"),
)
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(36), primary_key=True),
    sa.Column("webhook_id", sa.String(36), nullable=False),
    sa.Column("event", sa.String(101), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("response_status", sa.Integer),
    sa.Column("error_message", sa.String(1000)),
    sa.Column("created_timestamp", BIGINT, nullable=False),
    sa.Column("last_attempt_timestamp", BIGINT),
    sa.Column("completed_timestamp", BIGINT),
    # Migration 0016: what a PENDING delivery needs to be resumed by any server on this database
    # (the exact body and signed timestamp, when it is due) and the lease of the server sending it.
    sa.Column("payload", WIDE_TEXT),
    sa.Column("request_timestamp", BIGINT),
    sa.Column("next_attempt_timestamp", BIGINT),
    sa.Column("claimed_until", BIGINT),
    sa.Index("idx_webhook_deliveries_webhook", "webhook_id", "created_timestamp"),
    sa.Index("idx_webhook_deliveries_pending", "status", "next_attempt_timestamp"),
)

# ------------------------------------------------------------------------- AI gateway (MLflow 3)
# Added by migration 0013 (store: mltrail.store.sql.gateway). Secrets are sealed with the
# server's key before they get here; ``gateway_usage`` is mltrail's per-endpoint, per-day counters.
# Mappings, tags, bindings and usage belong to their endpoint's workspace (migration 0019).
_GW_ID = 64
_GW_NAME = 255


def _gw_audit() -> list[sa.Column]:
    return [
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("last_updated_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(_GW_NAME)),
        sa.Column("last_updated_by", sa.String(_GW_NAME)),
    ]


def _gw_workspace(table: str, name: str) -> list[sa.SchemaItem]:
    """Migration 0019: the workspace a secret / model definition / endpoint belongs to (MLflow
    3.17), ``default`` without workspaces; its name is unique per workspace."""
    return [
        sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
        sa.UniqueConstraint("workspace", name, name=f"uq_{table}_workspace_name"),
    ]


gateway_secrets = sa.Table(
    "gateway_secrets",
    metadata,
    sa.Column("secret_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("secret_name", sa.String(_GW_NAME), nullable=False),
    sa.Column("encrypted_value", sa.Text, nullable=False),
    sa.Column("masked_value", sa.Text, nullable=False),
    sa.Column("provider", sa.String(_GW_NAME)),
    sa.Column("auth_config", sa.Text),
    *_gw_audit(),
    *_gw_workspace("gateway_secrets", "secret_name"),
)
gateway_model_definitions = sa.Table(
    "gateway_model_definitions",
    metadata,
    sa.Column("model_definition_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("name", sa.String(_GW_NAME), nullable=False),
    sa.Column("secret_id", sa.String(_GW_ID)),
    sa.Column("provider", sa.String(_GW_NAME), nullable=False),
    sa.Column("model_name", sa.String(_GW_NAME), nullable=False),
    *_gw_audit(),
    *_gw_workspace("gateway_model_definitions", "name"),
    sa.Index("idx_gateway_model_definitions_secret", "secret_id"),
)
gateway_endpoints = sa.Table(
    "gateway_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("name", sa.String(_GW_NAME), nullable=False),
    sa.Column("routing_strategy", sa.String(64)),
    sa.Column("fallback_config", sa.Text),
    sa.Column("experiment_id", sa.String(32)),
    sa.Column("usage_tracking", sa.Boolean, nullable=False),
    *_gw_audit(),
    *_gw_workspace("gateway_endpoints", "name"),
)
gateway_endpoint_model_mappings = sa.Table(
    "gateway_endpoint_model_mappings",
    metadata,
    sa.Column("mapping_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("endpoint_id", sa.String(_GW_ID), nullable=False),
    sa.Column("model_definition_id", sa.String(_GW_ID), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("linkage_type", sa.String(32), nullable=False),
    sa.Column("fallback_order", sa.Integer),
    sa.Column("created_at", BIGINT, nullable=False),
    sa.Column("created_by", sa.String(_GW_NAME)),
    sa.UniqueConstraint("endpoint_id", "model_definition_id", "linkage_type", name="uq_gateway_mapping"),
    sa.Index("idx_gateway_mappings_model", "model_definition_id"),
)
gateway_endpoint_tags = sa.Table(
    "gateway_endpoint_tags",
    metadata,
    sa.Column("endpoint_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("key", sa.String(_GW_NAME), primary_key=True),
    sa.Column("value", sa.String(5000)),
)
gateway_endpoint_bindings = sa.Table(
    "gateway_endpoint_bindings",
    metadata,
    sa.Column("endpoint_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("resource_type", sa.String(64), primary_key=True),
    sa.Column("resource_id", sa.String(_GW_NAME), primary_key=True),
    *_gw_audit(),
)
gateway_usage = sa.Table(
    "gateway_usage",
    metadata,
    sa.Column("endpoint_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("requests", BIGINT, nullable=False),
    sa.Column("errors", BIGINT, nullable=False),
    sa.Column("input_tokens", BIGINT, nullable=False),
    sa.Column("output_tokens", BIGINT, nullable=False),
)

# Added by migration 0020 (stores: mltrail.store.sql.gateway_budgets, gateway_guardrails).
# MLflow 3.17's ``budget_policies``, ``guardrails`` and ``guardrail_configs``, prefixed like
# the other gateway tables; each row belongs to a workspace (``default`` without workspaces).
gateway_budget_policies = sa.Table(
    "gateway_budget_policies",
    metadata,
    sa.Column("budget_policy_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("budget_unit", sa.String(32), nullable=False),
    sa.Column("budget_amount", DOUBLE, nullable=False),
    sa.Column("duration_unit", sa.String(32), nullable=False),
    sa.Column("duration_value", sa.Integer, nullable=False),
    sa.Column("target_scope", sa.String(32), nullable=False),
    sa.Column("target_value", sa.String(_GW_NAME)),
    sa.Column("budget_action", sa.String(32), nullable=False),
    *_gw_audit(),
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Index("idx_gateway_budget_policies_workspace", "workspace"),
)
gateway_guardrails = sa.Table(
    "gateway_guardrails",
    metadata,
    sa.Column("guardrail_id", sa.String(_GW_ID), primary_key=True),
    sa.Column("name", sa.String(_GW_NAME), nullable=False),
    sa.Column("scorer_id", sa.String(36), nullable=False),
    sa.Column("scorer_version", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("action_endpoint_id", sa.String(_GW_ID)),
    *_gw_audit(),
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Index("idx_gateway_guardrails_workspace", "workspace"),
    sa.Index("idx_gateway_guardrails_scorer", "scorer_id", "scorer_version"),
)
gateway_guardrail_configs = sa.Table(
    "gateway_guardrail_configs",
    metadata,
    # No foreign key to ``gateway_endpoints``: a deleted endpoint's rows are never read again
    # (every read starts from an existing endpoint) and the endpoint table stays free to be rebuilt.
    sa.Column("endpoint_id", sa.String(_GW_ID), primary_key=True),
    sa.Column(
        "guardrail_id",
        sa.String(_GW_ID),
        sa.ForeignKey("gateway_guardrails.guardrail_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("execution_order", sa.Integer),
    sa.Column("created_by", sa.String(_GW_NAME)),
    sa.Column("created_at", BIGINT, nullable=False),
    sa.Column("workspace", WORKSPACE, nullable=False, server_default="default"),
    sa.Index("idx_gateway_guardrail_configs_guardrail", "guardrail_id"),
)


# ------------------------------------------------ human review and workspaces (MLflow 3.14 / 3.17)
# Added by migration 0014 (store: mltrail.store.sql.review, mltrail.store.sql.workspaces).
# A label schema's input widget is JSON (``{"categorical": {"options": [...]}}``, MLflow's
# ``LabelSchemaInput`` as JSON); a queue's name is unique per experiment without case
# (``name_key`` is the lower-cased name).
label_schemas = sa.Table(
    "label_schemas",
    metadata,
    sa.Column("schema_id", sa.String(36), primary_key=True),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("schema_type", sa.String(20), nullable=False),
    sa.Column("input_json", sa.Text, nullable=False),
    sa.Column("instruction", sa.String(1000)),
    sa.Column("enable_comment", sa.Boolean, nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(250)),
    sa.Column("created_time", BIGINT, nullable=False),
    sa.Column("last_update_time", BIGINT, nullable=False),
    sa.UniqueConstraint("experiment_id", "name", name="uq_label_schemas_experiment_name"),
)
review_queues = sa.Table(
    "review_queues",
    metadata,
    sa.Column("queue_id", sa.String(36), primary_key=True),
    sa.Column("experiment_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("name_key", sa.String(250), nullable=False),
    sa.Column("queue_type", sa.String(20), nullable=False),
    sa.Column("created_by", sa.String(250)),
    sa.Column("creation_time_ms", BIGINT, nullable=False),
    sa.Column("last_update_time_ms", BIGINT, nullable=False),
    sa.UniqueConstraint("experiment_id", "name_key", name="uq_review_queues_experiment_name"),
)
review_queue_users = sa.Table(
    "review_queue_users",
    metadata,
    sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
    sa.Column("user_id", sa.String(250), primary_key=True),
)
review_queue_label_schemas = sa.Table(
    "review_queue_label_schemas",
    metadata,
    sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
    sa.Column("schema_id", sa.String(36), primary_key=True),
)
review_queue_items = sa.Table(
    "review_queue_items",
    metadata,
    sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
    sa.Column("item_id", sa.String(50), primary_key=True),
    sa.Column("item_type", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("completed_by", sa.String(250)),
    sa.Column("completed_time_ms", BIGINT),
    sa.Column("creation_time_ms", BIGINT, nullable=False),
    sa.Column("last_update_time_ms", BIGINT, nullable=False),
    sa.Index("idx_review_queue_items_item", "item_id"),
)
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("description", sa.String(1000)),
    sa.Column("default_artifact_root", sa.String(2048)),
    sa.Column("creation_time", BIGINT, nullable=False),
)

# What ``mltrail import`` / ``export`` brought from each source (mltrail.migration.state); migration 0012.
import_state = sa.Table(
    "mltrail_import_state",
    metadata,
    sa.Column("source", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("dest_id", sa.String(500), nullable=False),
    sa.Column("marker", sa.String(1000), nullable=False),
    sa.Column("updated_ms", BIGINT, nullable=False),
)
