"""Workspaces as tenancy in the SQL stores, on SQLite, PostgreSQL and MariaDB (migration 0017).

A database written before 0017 keeps its rows, now in ``default``; with a workspace bound
(:func:`mltrail.store.workspace_scope.in_workspace`, what ``mltrail server
--enable-workspaces`` does per request) experiments, runs, registered models and their
versions of other workspaces are not found, searches list the bound workspace's only, an
experiment name is unique per workspace, and ``delete`` honours MLflow's three modes. With
no workspace bound the stores see everything, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mltrail.entities import RegisteredModelTag, RunTag, TraceInfo, ViewType
from mltrail.entities.webhook import WebhookEvent
from mltrail.exceptions import MltrailException
from mltrail.server.webhook_delivery import prepare
from mltrail.store.sql import schema as s
from mltrail.store.sql.engine import create_sql_engine
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade_db
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from mltrail.store.sql.webhooks import SqlWebhookStore
from mltrail.store.sql.workspaces import SqlWorkspaceStore
from mltrail.store.workspace_scope import in_workspace
from support.databases import MYSQL_ADMIN_URI, MYSQL_BASE_URI, PG_ADMIN_URI, PG_BASE_URI, fresh_database
from support.sql_backends import SQL_BACKENDS


@pytest.fixture(params=SQL_BACKENDS)
def fresh_db(request, tmp_path) -> Iterator[str]:
    """A brand-new empty database of the test's own on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ws.db'}"
        return
    if request.param == "postgres":
        databases = fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)
    else:
        databases = fresh_database(MYSQL_ADMIN_URI, "MariaDB", MYSQL_BASE_URI)
    yield next(databases)
    next(databases, None)


def _code(call) -> str:
    with pytest.raises(MltrailException) as caught:
        call()
    return caught.value.error_code


def test_upgrade_from_0016_puts_rows_in_default_and_names_become_per_workspace(fresh_db):
    from alembic import command
    from alembic.config import Config

    engine = create_sql_engine(fresh_db)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0016")
    with engine.begin() as conn:  # rows as an mltrail before 0017 wrote them (no workspace column)
        conn.execute(sa.text("INSERT INTO experiments (name, lifecycle_stage) VALUES ('old', 'active')"))
        old = conn.execute(sa.text("SELECT experiment_id FROM experiments WHERE name = 'old'")).scalar()
        # rows that refer to the experiment: SQLite's rebuild of the table must keep them valid
        conn.execute(sa.insert(s.experiment_tags).values(experiment_id=old, key="k", value="v"))
        conn.execute(
            sa.insert(s.runs).values(
                run_uuid="a" * 32, name="r", status="FINISHED", lifecycle_stage="active",
                artifact_uri="/tmp/a", experiment_id=old, user_id="u",
            )
        )  # fmt: skip
        conn.execute(sa.text("INSERT INTO registered_models (name) VALUES ('old-model')"))
        conn.execute(sa.text("INSERT INTO model_versions (name, version, source) VALUES ('old-model', 1, 's3://b/m')"))
        model_tags = sa.table("registered_model_tags", sa.column("name"), sa.column("key"), sa.column("value"))
        conn.execute(sa.insert(model_tags).values(name="old-model", key="t", value="v"))
    with engine.connect() as conn:  # 0017 kept model names global; 0018 gives children their model's workspace
        if engine.dialect.name == "sqlite":  # as migrate does: 0017 rebuilds a referenced table
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "0017")
        with conn.begin():
            conn.execute(sa.text("INSERT INTO registered_models (name, workspace) VALUES ('a-model', 'team-a')"))
            conn.execute(sa.text("INSERT INTO model_versions (name, version, source) VALUES ('a-model', 1, 's3://b/a')"))
    engine.dispose()

    upgrade_db(fresh_db)
    engine = create_sql_engine(fresh_db)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.select(s.experiments.c.workspace).where(s.experiments.c.name == "old")).scalar() == "default"
        models = dict(conn.execute(sa.select(s.registered_models.c.name, s.registered_models.c.workspace)).all())
        assert models == {"old-model": "default", "a-model": "team-a"}
        versions = dict(conn.execute(sa.select(s.model_versions.c.name, s.model_versions.c.workspace)).all())
        assert versions == {"old-model": "default", "a-model": "team-a"}
        assert conn.execute(sa.select(s.registered_model_tags.c.workspace)).scalar() == "default"
        assert conn.execute(sa.select(s.runs.c.experiment_id)).scalar() == old
        assert conn.execute(sa.select(s.experiment_tags.c.value)).scalar() == "v"
    with engine.begin() as conn:  # the same name in another workspace is fine, twice in one is not
        conn.execute(sa.insert(s.experiments).values(name="old", lifecycle_stage="active", workspace="team-a"))
        conn.execute(sa.insert(s.registered_models).values(name="old-model", workspace="team-a"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(s.experiments).values(name="old", lifecycle_stage="active", workspace="team-a"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(s.registered_models).values(name="a-model", workspace="team-a"))
    engine.dispose()


def test_stores_filter_by_the_bound_workspace(fresh_db, tmp_path):
    tracking = SqlTrackingStore(fresh_db, str(tmp_path / "artifacts"))
    registry = SqlRegistryStore(fresh_db)
    workspaces = SqlWorkspaceStore(fresh_db)
    workspaces.create("team-a")
    workspaces.create("team-b", default_artifact_root="s3://bucket-b/root")

    with in_workspace("team-a"):
        a = tracking.create_experiment("shared")
        run_a = tracking.create_run(a, "u", None, [], "r").info.run_id
        registry.create_registered_model("model-a")
        registry.create_model_version("model-a", "s3://b/m")
        assert _code(lambda: tracking.create_experiment("shared")) == "RESOURCE_ALREADY_EXISTS"
        assert _code(lambda: tracking.create_experiment("x", artifact_location="/tmp/x")) == "INVALID_PARAMETER_VALUE"
    with in_workspace("team-b"):
        b = tracking.create_experiment("shared")
        assert tracking.get_experiment(b).artifact_location == f"s3://bucket-b/root/{b}"
    assert a != b
    assert tracking.get_experiment(a).artifact_location.endswith(f"/workspaces/team-a/{a}")

    with in_workspace("team-b"):
        assert tracking.get_experiment_by_name("shared").experiment_id == b
        assert [e.name for e in tracking.search_experiments(ViewType.ALL)] == ["shared"]
        assert _code(lambda: tracking.get_experiment(a)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: tracking.get_run(run_a)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: tracking.delete_experiment(a)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: tracking.set_tag(run_a, RunTag("k", "v"))) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: tracking.create_run(a, "u", None, [], "r")) == "RESOURCE_DOES_NOT_EXIST"
        assert list(tracking.search_runs([a])) == []
        assert _code(lambda: registry.get_registered_model("model-a")) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: registry.get_model_version("model-a", "1")) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: registry.create_model_version("model-a", "s3://b/m")) == "RESOURCE_DOES_NOT_EXIST"
        assert list(registry.search_registered_models()) == []
        assert list(registry.search_model_versions()) == []
        # A registered model name is unique per workspace (migration 0018), as in MLflow.
        registry.create_registered_model("model-a", description="b's")
        registry.set_registered_model_tag("model-a", RegisteredModelTag("team", "b"))
        assert registry.create_model_version("model-a", "s3://b/other").version == "1"
        registry.set_registered_model_alias("model-a", "champion", "1")
        assert _code(lambda: registry.create_registered_model("model-a")) == "RESOURCE_ALREADY_EXISTS"
        assert [m.name for m in registry.search_registered_models("tags.team = 'b'")] == ["model-a"]
    with in_workspace("team-a"):
        assert tracking.get_run(run_a).info.experiment_id == a
        assert [m.name for m in registry.search_registered_models()] == ["model-a"]
        mine = registry.get_registered_model("model-a")
        assert (mine.description, mine.tags, mine.aliases) == (None, {}, {})
        assert registry.get_model_version("model-a", "1").source == "s3://b/m"
        assert list(registry.search_registered_models("tags.team = 'b'")) == []
        assert _code(lambda: registry.get_model_version_by_alias("model-a", "champion")) == "RESOURCE_DOES_NOT_EXIST"
        registry.rename_registered_model("model-a", "model-a2")  # team-b's model-a stays
        registry.delete_registered_model("model-a2")
    with in_workspace("team-b"):
        assert registry.get_model_version_by_alias("model-a", "champion").source == "s3://b/other"
        assert [e.name for e in tracking.search_experiments(ViewType.ALL)] == ["shared"]
    with in_workspace("default"):
        assert [e.name for e in tracking.search_experiments(ViewType.ALL)] == ["Default"]
    # Unbound: one space, as before workspaces.
    assert {e.experiment_id for e in tracking.search_experiments(ViewType.ALL)} == {"0", a, b}
    # ... but a model name is looked up in `default` (names are per workspace).
    assert _code(lambda: registry.get_registered_model("model-a")) == "RESOURCE_DOES_NOT_EXIST"


def test_delete_modes(fresh_db, tmp_path):
    tracking = SqlTrackingStore(fresh_db, str(tmp_path / "artifacts"))
    registry = SqlRegistryStore(fresh_db)
    workspaces = SqlWorkspaceStore(fresh_db)
    hooks = SqlWebhookStore(fresh_db)

    def erase(conn, name):
        tracking.erase_workspace(conn, name)
        registry.erase_workspace(conn, name)

    for name in ("keep", "move", "gone"):
        workspaces.create(name)
        with in_workspace(name):
            exp = tracking.create_experiment(f"exp-{name}")
            tracking.create_run(exp, "u", None, [], "r")
            registry.create_registered_model(f"model-{name}")
            registry.create_model_version(f"model-{name}", "s3://b/m")
            tracking.create_dataset(f"ds-{name}", experiment_ids=[exp])
            hooks.create_webhook(f"hook-{name}", "https://example.com/h", [WebhookEvent("model_version", "created")])
    with in_workspace("default"):  # SET_DEFAULT would clash with them
        tracking.create_experiment("exp-move")
        registry.create_registered_model("model-move")

    assert _code(lambda: workspaces.delete("keep", "RESTRICT")) == "INVALID_STATE"
    assert _code(lambda: workspaces.delete("move", "SET_DEFAULT")) == "INVALID_STATE"
    assert workspaces.exists("keep") and workspaces.exists("move")

    with pytest.raises(MltrailException, match="registered_models: 'model-move'"):
        workspaces.delete("move", "SET_DEFAULT")
    with in_workspace("default"):
        tracking.rename_experiment(tracking.get_experiment_by_name("exp-move").experiment_id, "exp-moved-aside")
        registry.delete_registered_model("model-move")
    workspaces.delete("move", "SET_DEFAULT")
    with in_workspace("default"):
        assert tracking.get_experiment_by_name("exp-move") is not None
        assert registry.get_registered_model("model-move").latest_versions[0].version == "1"
        assert [d.name for d in tracking.search_datasets()] == ["ds-move"]
        assert [h.name for h in hooks.list_webhooks()] == ["hook-move"]

    workspaces.delete("gone", "CASCADE", erase)
    assert not workspaces.exists("gone")
    assert tracking.get_experiment_by_name("exp-gone") is None
    assert _code(lambda: registry.get_registered_model("model-gone")) == "RESOURCE_DOES_NOT_EXIST"
    assert sorted(d.name for d in tracking.search_datasets()) == ["ds-keep", "ds-move"]  # unbound: all
    assert sorted(h.name for h in hooks.list_webhooks()) == ["hook-keep", "hook-move"]
    with in_workspace("keep"):
        assert registry.get_registered_model("model-keep").name == "model-keep"


def test_traces_and_logged_models_follow_their_experiments_workspace(fresh_db, tmp_path):
    tracking = SqlTrackingStore(fresh_db, str(tmp_path / "artifacts"))
    traces, logged = SqlTraceStore(fresh_db), SqlLoggedModelStore(fresh_db)
    SqlWorkspaceStore(fresh_db).create("team-a")
    with in_workspace("team-a"):
        exp = tracking.create_experiment("traced")
        trace_id = "tr-" + "a" * 32
        traces.start_trace(TraceInfo(trace_id=trace_id, experiment_id=exp, request_time=1, execution_duration=5, state="OK"))
        model_id = logged.create_logged_model(exp, name="lm").model_id
        assert traces.get_trace_info(trace_id).experiment_id == exp
        assert [i.trace_id for i in traces.search_traces([exp])[0]] == [trace_id]
    with in_workspace("default"):  # another workspace: MLflow's 404 by id, nothing in searches
        assert _code(lambda: traces.get_trace_info(trace_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert traces.batch_get_traces([trace_id]) == []
        assert traces.search_traces([exp])[0] == []
        assert _code(lambda: traces.set_trace_tag(trace_id, "k", "v")) == "RESOURCE_DOES_NOT_EXIST"
        assert traces.delete_traces(exp, trace_ids=[trace_id]) == 0
        info = TraceInfo(trace_id="tr-" + "b" * 32, experiment_id=exp, request_time=1, execution_duration=5, state="OK")
        assert _code(lambda: traces.start_trace(info)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: logged.get_logged_model(model_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: logged.delete_logged_model(model_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert list(logged.search_logged_models([exp])) == []
        assert _code(lambda: logged.create_logged_model(exp, name="x")) == "RESOURCE_DOES_NOT_EXIST"
    with in_workspace("team-a"):
        assert traces.get_trace_info(trace_id).experiment_id == exp
        assert logged.get_logged_model(model_id).name == "lm"


def test_webhooks_belong_to_a_workspace(fresh_db):
    hooks = SqlWebhookStore(fresh_db)
    SqlWorkspaceStore(fresh_db).create("team-a")
    event = WebhookEvent("model_version", "created")
    with in_workspace("team-a"):
        hook = hooks.create_webhook("hook-a", "https://example.com/a", [event])
        assert hook.workspace == "team-a"
        assert [h.name for h in hooks.list_webhooks_by_event(event)] == ["hook-a"]
    with in_workspace("default"):
        assert _code(lambda: hooks.get_webhook(hook.webhook_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: hooks.delete_webhook(hook.webhook_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert list(hooks.list_webhooks()) == []
        assert list(hooks.list_webhooks_by_event(event)) == []
    # MLflow's envelope names the webhook's workspace when workspaces are on.
    body = json.loads(prepare(hook, None, event, {"name": "m"}, with_workspace=True).body)
    assert body["workspace"] == "team-a"
    assert "workspace" not in json.loads(prepare(hook, None, event, {"name": "m"}).body)


def test_evaluation_datasets_belong_to_a_workspace(fresh_db, tmp_path):
    tracking = datasets = SqlTrackingStore(fresh_db, str(tmp_path / "artifacts"))
    SqlWorkspaceStore(fresh_db).create("team-a")
    with in_workspace("team-a"):
        exp = tracking.create_experiment("evals")
        ds = datasets.create_dataset("golden", experiment_ids=[exp])
        datasets.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "1"}, "expectations": {"a": "1"}}])
    with in_workspace("default"):
        assert _code(lambda: datasets.get_dataset(ds.dataset_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert _code(lambda: datasets.load_dataset_records(ds.dataset_id)) == "RESOURCE_DOES_NOT_EXIST"
        assert list(datasets.search_datasets()) == []
        assert _code(lambda: datasets.create_dataset("x", experiment_ids=[exp])) == "RESOURCE_DOES_NOT_EXIST"
        datasets.delete_dataset(ds.dataset_id)  # not this workspace's: nothing happens
    with in_workspace("team-a"):
        assert [d.name for d in datasets.search_datasets()] == ["golden"]
        assert len(datasets.load_dataset_records(ds.dataset_id)[0]) == 1
