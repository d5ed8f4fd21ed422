"""MLflow 3.17's length limits, end to end on SQLite, PostgreSQL and MariaDB, and over HTTP.

Each limit is accepted at exactly its size and read back unchanged, and refused one
character over it with ``INVALID_PARAMETER_VALUE`` and nothing written: model
version and registered model tags (100,000, the home of a prompt's template),
experiment tags (20,000), run tags (8,000). Values mix ASCII, accented letters,
CJK and emoji, so MySQL's byte-sized ``TEXT`` limits would show. Migration 0005
widens the columns of a database created at 0004 without losing its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import mltrail
from mltrail.cli.main import cli
from mltrail.entities import ExperimentTag, ModelVersionTag, RegisteredModelTag, RunTag
from mltrail.exceptions import MltrailException
from mltrail.store import validation as v
from mltrail.store.sql import schema as s
from mltrail.store.sql.engine import create_sql_engine
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.live_server import start_server, stop_server
from support.sql_backends import SQL_BACKENDS

_PATTERN = "Answer {{question}} politely, café 日本語 🙂. "


def _text(n: int) -> str:
    """``n`` characters (code points), several of them multi-byte in UTF-8."""
    return (_PATTERN * (n // len(_PATTERN) + 1))[:n]


def _refused(call, *fragments: str) -> str:
    with pytest.raises(MltrailException) as info:
        call()
    assert info.value.error_code == "INVALID_PARAMETER_VALUE", info.value.message
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value.message


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- limits on every SQL backend


def test_limits_equal_mlflow_3_17():
    assert v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH == 100_000
    assert v.MAX_MODEL_REGISTRY_TAG_KEY_LENGTH == 250
    assert v.MAX_EXPERIMENT_TAG_VAL_LENGTH == 20_000
    assert v.MAX_TAG_VAL_LENGTH == 8000
    assert v.MAX_PARAM_VAL_LENGTH == 6000
    assert v.MAX_EXPERIMENT_NAME_LENGTH == 500
    assert v.MAX_ARTIFACT_LOCATION_LENGTH == 2048


def test_model_version_and_registered_model_tags_of_100k(db_uri):
    registry = SqlRegistryStore(db_uri)
    name = _name("long-tags")
    limit = v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    registry.create_registered_model(name)
    registry.create_model_version(name, "s3://bucket/model")
    registry.set_model_version_tag(name, "1", ModelVersionTag("long", _text(limit)))
    registry.set_registered_model_tag(name, RegisteredModelTag("long", _text(limit)))
    assert registry.get_model_version(name, "1").tags["long"] == _text(limit)
    assert registry.get_registered_model(name).tags["long"] == _text(limit)

    over = _text(limit + 1)
    _refused(
        lambda: registry.set_model_version_tag(name, "1", ModelVersionTag("long", over)),
        "'long'",
        f"length {limit + 1}",
        f"maximum length of {limit}",
    )
    _refused(lambda: registry.set_model_version_tag(name, "1", ModelVersionTag("other", over)), str(limit))
    _refused(lambda: registry.set_registered_model_tag(name, RegisteredModelTag("other", over)), str(limit))
    _refused(lambda: registry.create_model_version(name, "s3://bucket/m2", tags=[ModelVersionTag("t", over)]))
    _refused(lambda: registry.create_registered_model(_name("never"), [RegisteredModelTag("t", over)]))
    assert registry.get_model_version(name, "1").tags == {"long": _text(limit)}
    assert registry.get_registered_model(name).tags == {"long": _text(limit)}
    assert [mv.version for mv in registry.search_model_versions(f"name = '{name}'")] == ["1"]
    assert [m.name for m in registry.search_registered_models("name LIKE 'never-%'")] == []


def test_registry_descriptions_longer_than_5000(db_uri):
    # MLflow's description columns are VARCHAR(5000); mltrail's hold more, on every backend.
    registry = SqlRegistryStore(db_uri)
    name = _name("described")
    registry.create_registered_model(name, description=_text(20_000))
    registry.create_model_version(name, "s3://bucket/model", description=_text(50_000))
    assert registry.get_registered_model(name).description == _text(20_000)
    assert registry.get_model_version(name, "1").description == _text(50_000)


def test_prompt_template_of_60k_round_trips(db_uri):
    mltrail.set_tracking_uri(db_uri)
    try:
        name = _name("long-prompt")
        template = _text(60_000)
        pv = mltrail.genai.register_prompt(name, template, commit_message="a long system prompt")
        assert pv.version == 1
        loaded = mltrail.genai.load_prompt(f"prompts:/{name}/1", cache_ttl_seconds=0)
        assert loaded.template == template
        assert loaded.variables == {"question"}

        too_long = _text(v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH + 1)
        other = _name("too-long-prompt")
        _refused(lambda: mltrail.genai.register_prompt(other, too_long), "Prompt text", "100000")
        _refused(lambda: mltrail.genai.register_prompt(name, too_long), "Prompt text")
        assert mltrail.genai.load_prompt(other, allow_missing=True, cache_ttl_seconds=0) is None
        assert mltrail.genai.load_prompt(name, version=2, allow_missing=True, cache_ttl_seconds=0) is None
        registry = SqlRegistryStore(db_uri)
        assert registry.get_model_version(name, "1").tags["mlflow.prompt.text"] == template
        for missing in (
            lambda: registry.get_registered_model(other),
            lambda: registry.get_model_version(name, "2"),
        ):
            with pytest.raises(MltrailException) as info:
                missing()
            assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    finally:
        mltrail.set_tracking_uri(None)


def test_experiment_tag_of_20k(store):
    limit = v.MAX_EXPERIMENT_TAG_VAL_LENGTH
    exp = store.create_experiment(_name("exp"), tags=[ExperimentTag("mlflow.note.content", _text(limit))])
    store.set_experiment_tag(exp, ExperimentTag("long", _text(limit)))
    tags = store.get_experiment(exp).tags
    assert tags["long"] == _text(limit) and tags["mlflow.note.content"] == _text(limit)

    over = _text(limit + 1)
    _refused(
        lambda: store.set_experiment_tag(exp, ExperimentTag("long", over)),
        "'long'",
        f"length {limit + 1}",
        f"maximum length of {limit}",
    )
    _refused(lambda: store.set_experiment_tag(exp, ExperimentTag("other", over)), str(limit))
    never = _name("never")
    _refused(lambda: store.create_experiment(never, tags=[ExperimentTag("t", over)]), str(limit))
    assert store.get_experiment(exp).tags == tags
    assert store.get_experiment_by_name(never) is None


def test_run_tag_of_8k(store):
    limit = v.MAX_TAG_VAL_LENGTH
    run_id = store.create_run("0", "u", None, [], None).info.run_id
    store.set_tag(run_id, RunTag("long", _text(limit)))
    store.set_tag(run_id, RunTag("mlflow.note.content", _text(limit)))
    tags = store.get_run(run_id).data.tags
    assert tags["long"] == _text(limit) and tags["mlflow.note.content"] == _text(limit)

    over = _text(limit + 1)
    _refused(lambda: store.set_tag(run_id, RunTag("long", over)), "'long'", f"length {limit + 1}", str(limit))
    # A batch is checked whole before anything is written.
    _refused(lambda: store.log_batch(run_id, tags=[RunTag("fine", "x"), RunTag("other", over)]), str(limit))
    _refused(lambda: store.create_run("0", "u", None, [RunTag("t", over)], "never"), str(limit))
    assert store.get_run(run_id).data.tags == tags
    assert [r.info.run_id for r in store.search_runs(["0"])] == [run_id]


def test_experiment_name_and_artifact_location_at_mlflow_limits(store):
    name = _text(v.MAX_EXPERIMENT_NAME_LENGTH)
    location = "s3://bucket/" + "a" * (v.MAX_ARTIFACT_LOCATION_LENGTH - len("s3://bucket/"))
    exp = store.create_experiment(name, artifact_location=location)
    got = store.get_experiment(exp)
    assert got.name == name and got.artifact_location == location
    run = store.create_run(exp, "u", None, [], None)
    assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"
    _refused(lambda: store.create_experiment(name + "x"), "length 501", "maximum length of 500")
    _refused(lambda: store.create_experiment(_name("e"), artifact_location=location + "a"), "2048")


def test_logged_model_tags_and_params_hold_long_values(db_uri, store):
    models = SqlLoggedModelStore(db_uri)
    limit = v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    name = _text(500).replace(".", "!")  # MLflow's logged-model names have no / : . % " '
    model = models.create_logged_model("0", name=name, params={"config": _text(30_000)})
    models.set_logged_model_tags(model.model_id, {"long": _text(limit)})
    got = models.get_logged_model(model.model_id)
    assert got.name == name
    assert got.tags["long"] == _text(limit) and got.params["config"] == _text(30_000)
    _refused(lambda: models.set_logged_model_tags(model.model_id, {"other": _text(limit + 1)}), str(limit))
    assert models.get_logged_model(model.model_id).tags == {"long": _text(limit)}


# ---------------------------------------------------------------- migration 0005 on a 0004 database


@pytest.fixture(params=SQL_BACKENDS)
def fresh_db(request, tmp_path) -> Iterator[str]:
    """The URI of a brand-new empty database of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'at-0004.db'}"
        return
    base_uri = request.getfixturevalue(f"{request.param}_uri")
    prefix = base_uri.rsplit("/", 1)[0] + "/"
    admin = sa.create_engine(
        prefix + ("postgres" if request.param == "postgres" else ""), isolation_level="AUTOCOMMIT"
    )
    name = f"mltrail_long_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield prefix + name
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if request.param == "postgres" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def _migrate_to_0004(uri: str) -> sa.Engine:
    """A database built by the migration chain up to 0004, as an mltrail before 0005 left it."""
    from alembic import command
    from alembic.config import Config

    engine = create_sql_engine(uri)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    assert current_revision(engine) == "0004"
    return engine


def _seed_0004(engine: sa.Engine) -> dict[str, str]:
    """Rows in every table 0005 changes, at the old sizes (written directly: the stores would upgrade)."""
    values = {k: _text(n) for k, n in (("exp_tag", 5000), ("desc", 5000), ("tag", 5000), ("param", 8000))}
    with engine.begin() as conn:
        exp = conn.execute(
            sa.insert(s.experiments).values(
                name="old-exp",
                artifact_location="s3://bucket/old",
                lifecycle_stage="active",
                creation_time=1,
                last_update_time=1,
            )
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(s.experiment_tags).values(experiment_id=exp, key="note", value=values["exp_tag"])
        )
        conn.execute(
            sa.insert(s.runs).values(
                run_uuid="a" * 32,
                name="old-run",
                status="FINISHED",
                lifecycle_stage="active",
                artifact_uri="s3://bucket/old/" + "a" * 32 + "/artifacts",
                experiment_id=exp,
                user_id="u",
            )
        )
        conn.execute(sa.insert(s.tags).values(run_uuid="a" * 32, key="t", value=values["tag"]))
        conn.execute(sa.insert(_before_0018(s.registered_models)).values(name="old-model", description=values["desc"]))
        conn.execute(
            sa.insert(_before_0018(s.registered_model_tags)).values(name="old-model", key="t", value=values["tag"])
        )
        conn.execute(
            sa.insert(_before_0018(s.model_versions)).values(
                name="old-model",
                version=1,
                description=values["desc"],
                source="s3://bucket/m",
                current_stage="None",
                status="READY",
            )
        )
        conn.execute(
            sa.insert(_before_0018(s.model_version_tags)).values(
                name="old-model", version=1, key="mlflow.prompt.text", value=values["tag"]
            )
        )
        conn.execute(
            sa.insert(s.logged_models).values(
                model_id="m-" + "b" * 32,
                experiment_id=exp,
                name="old-logged",
                artifact_location="s3://bucket/lm",
                creation_timestamp_ms=1,
                last_updated_timestamp_ms=1,
                status="READY",
            )
        )
        conn.execute(
            sa.insert(s.logged_model_tags).values(
                model_id="m-" + "b" * 32, tag_key="t", tag_value=values["tag"]
            )
        )
        conn.execute(
            sa.insert(s.logged_model_params).values(
                model_id="m-" + "b" * 32, param_key="p", param_value=values["param"]
            )
        )
    return values


def _before_0018(table: sa.Table) -> sa.TableClause:
    """The registry table as it was before migration 0018 added its ``workspace`` column."""
    return sa.table(table.name, *(sa.column(c.name) for c in table.columns if c.name != "workspace"))


def test_upgrade_from_0004_keeps_rows_and_accepts_long_values(fresh_db, tmp_path):
    engine = _migrate_to_0004(fresh_db)
    values = _seed_0004(engine)
    if engine.dialect.name != "sqlite":
        # The 0004 columns really are too narrow here (SQLite never enforces VARCHAR lengths).
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(
                sa.insert(_before_0018(s.model_version_tags)).values(
                    name="old-model", version=1, key="wide", value=_text(5001)
                )
            )
    engine.dispose()

    result = CliRunner().invoke(cli, ["db", "upgrade", fresh_db])
    assert result.exit_code == 0, result.output
    head = head_revision()
    assert head >= "0005" and f"revision {head}" in result.output
    assert current_revision(create_sql_engine(fresh_db)) == head

    tracking = SqlTrackingStore(fresh_db, str(tmp_path / "artifacts"))
    registry = SqlRegistryStore(fresh_db)
    models = SqlLoggedModelStore(fresh_db)
    exp = tracking.get_experiment_by_name("old-exp")
    assert exp.tags == {"note": values["exp_tag"]} and exp.artifact_location == "s3://bucket/old"
    assert tracking.get_run("a" * 32).data.tags["t"] == values["tag"]
    model = registry.get_registered_model("old-model")
    assert model.description == values["desc"] and model.tags == {"t": values["tag"]}
    version = registry.get_model_version("old-model", "1")
    assert version.description == values["desc"] and version.tags == {"mlflow.prompt.text": values["tag"]}
    logged = models.get_logged_model("m-" + "b" * 32)
    assert logged.tags == {"t": values["tag"]} and logged.params == {"p": values["param"]}

    # The values MLflow 3.17 takes now fit.
    limit = v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH
    registry.set_model_version_tag("old-model", "1", ModelVersionTag("mlflow.prompt.text", _text(limit)))
    registry.set_registered_model_tag("old-model", RegisteredModelTag("t", _text(limit)))
    registry.update_registered_model("old-model", _text(30_000))
    tracking.set_experiment_tag(
        exp.experiment_id, ExperimentTag("note", _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH))
    )
    renamed = _text(v.MAX_EXPERIMENT_NAME_LENGTH)
    tracking.rename_experiment(exp.experiment_id, renamed)
    models.set_logged_model_tags("m-" + "b" * 32, {"t": _text(limit)})
    assert registry.get_model_version("old-model", "1").tags["mlflow.prompt.text"] == _text(limit)
    assert registry.get_registered_model("old-model").tags["t"] == _text(limit)
    assert registry.get_registered_model("old-model").description == _text(30_000)
    got = tracking.get_experiment(exp.experiment_id)
    assert got.name == renamed and got.tags["note"] == _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH)
    assert models.get_logged_model("m-" + "b" * 32).tags["t"] == _text(limit)
    # Unique experiment names still hold after the column changed.
    with pytest.raises(MltrailException) as info:
        tracking.create_experiment(renamed)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


# ---------------------------------------------------------------- over HTTP, with the official client


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("long-values"))
    yield live
    stop_server(live)


def test_official_client_over_http(server, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.prompt.registry_utils import PromptCache

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    PromptCache._reset_instance()
    client = mlflow.MlflowClient(server.url)
    api = server.url + "/api/2.0/mlflow"
    limit = v.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH

    name = _name("http-model")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/model")
    client.set_model_version_tag(name, "1", "long", _text(limit))
    assert client.get_model_version(name, "1").tags["long"] == _text(limit)
    client.set_registered_model_tag(name, "long", _text(limit))
    assert client.get_registered_model(name).tags["long"] == _text(limit)

    exp = client.create_experiment(_name("http-exp"))
    client.set_experiment_tag(exp, "long", _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH))
    assert client.get_experiment(exp).tags["long"] == _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH)
    run_id = client.create_run(exp).info.run_id
    client.set_tag(run_id, "long", _text(v.MAX_TAG_VAL_LENGTH))
    assert client.get_run(run_id).data.tags["long"] == _text(v.MAX_TAG_VAL_LENGTH)

    # One over each limit, straight to the server (the official client checks some limits itself).
    over = [
        ("/model-versions/set-tag", {"name": name, "version": "1", "key": "long", "value": _text(limit + 1)}),
        ("/registered-models/set-tag", {"name": name, "key": "long", "value": _text(limit + 1)}),
        (
            "/experiments/set-experiment-tag",
            {"experiment_id": exp, "key": "long", "value": _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH + 1)},
        ),
        ("/runs/set-tag", {"run_id": run_id, "key": "long", "value": _text(v.MAX_TAG_VAL_LENGTH + 1)}),
    ]
    for path, body in over:
        resp = httpx.post(api + path, json=body, timeout=30)
        assert resp.status_code == 400, (path, resp.text)
        error = resp.json()
        assert error["error_code"] == "INVALID_PARAMETER_VALUE", error
        assert f"length {len(body['value'])}" in error["message"], error
    assert client.get_model_version(name, "1").tags["long"] == _text(limit)
    assert client.get_registered_model(name).tags["long"] == _text(limit)
    assert client.get_experiment(exp).tags["long"] == _text(v.MAX_EXPERIMENT_TAG_VAL_LENGTH)
    assert client.get_run(run_id).data.tags["long"] == _text(v.MAX_TAG_VAL_LENGTH)

    # A 60,000-character prompt registered by the official client, loaded by both clients.
    prompt = _name("http-prompt")
    mlflow.set_tracking_uri(server.url)
    try:
        mlflow.genai.register_prompt(prompt, _text(60_000))
        assert mlflow.genai.load_prompt(f"prompts:/{prompt}/1").template == _text(60_000)
    finally:
        mlflow.set_tracking_uri(None)
    mltrail.set_tracking_uri(server.url)
    try:
        assert mltrail.genai.load_prompt(f"prompts:/{prompt}/1", cache_ttl_seconds=0).template == _text(
            60_000
        )
    finally:
        mltrail.set_tracking_uri(None)
