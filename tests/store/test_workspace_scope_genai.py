"""Workspaces as tenancy for the GenAI stores, on SQLite, PostgreSQL and MariaDB (migration 0019).

As in MLflow 3.17, registered scorers, label schemas and review queues (with their users,
questions and items) belong to the workspace of their experiment; the AI gateway's secrets,
model definitions and endpoints carry a workspace of their own (names unique per workspace),
and an endpoint's mappings, tags, bindings and usage are its workspace's. With a workspace
bound another workspace's record is ``RESOURCE_DOES_NOT_EXIST`` and lists show the bound
one's; ``delete_workspace``'s three modes cover them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mltrail.entities.trace_info import TraceInfo
from mltrail.exceptions import MltrailException
from mltrail.store.sql import schema as s
from mltrail.store.sql.engine import create_sql_engine
from mltrail.store.sql.gateway import SqlGatewayStore
from mltrail.store.sql.migrate import MIGRATIONS_DIR, current_revision, head_revision, upgrade_db
from mltrail.store.sql.review import SqlReviewStore
from mltrail.store.sql.scorers import SqlScorerStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from mltrail.store.sql.workspaces import SqlWorkspaceStore
from mltrail.store.workspace_scope import in_workspace
from support.databases import MYSQL_ADMIN_URI, MYSQL_BASE_URI, PG_ADMIN_URI, PG_BASE_URI, fresh_database
from support.sql_backends import SQL_BACKENDS

SCORER = json.dumps({"name": "tone", "builtin_scorer_class": "RelevanceToQuery"})
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


def _code(call) -> str:
    with pytest.raises(MltrailException) as caught:
        call()
    return caught.value.error_code


def _mapping(definition: dict) -> dict:
    return {"model_definition_id": definition["model_definition_id"], "linkage_type": "PRIMARY", "weight": 1.0}


def _two_workspaces(uri: str, tmp_path) -> tuple[SqlTrackingStore, dict[str, str]]:
    """``team-a`` and ``team-b``, each with an experiment called ``shared``: ``{workspace: its id}``."""
    tracking = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    exps = {}
    for name in ("team-a", "team-b"):
        SqlWorkspaceStore(uri).create(name)
        with in_workspace(name):
            exps[name] = tracking.create_experiment("shared")
    return tracking, exps


def _trace(uri: str, experiment_id: str, n: int) -> str:
    trace_id = f"tr-{n:032x}"
    info = TraceInfo(trace_id=trace_id, experiment_id=experiment_id, request_time=1, execution_duration=5, state="OK")
    SqlTraceStore(uri).start_trace(info)
    return trace_id


def test_scorers_follow_their_experiments_workspace(db_uri, tmp_path):
    _, exps = _two_workspaces(db_uri, tmp_path)
    a, b = exps["team-a"], exps["team-b"]
    scorers = SqlScorerStore(db_uri)
    with in_workspace("team-a"):
        mine = scorers.register_scorer(a, "tone", SCORER)
        scorers.upsert_online_scoring_config(a, "tone", sample_rate=1.0)
    with in_workspace("team-b"):
        theirs = scorers.register_scorer(b, "tone", SCORER)  # the same name, in b's own experiment
        assert [v.scorer_id for v in scorers.list_scorers(b)] == [theirs.scorer_id]
        assert _code(lambda: scorers.list_scorers(a)) == NOT_FOUND
        assert _code(lambda: scorers.get_scorer(a, "tone")) == NOT_FOUND
        assert _code(lambda: scorers.list_scorer_versions(a, "tone")) == NOT_FOUND
        assert _code(lambda: scorers.register_scorer(a, "tone", SCORER)) == NOT_FOUND
        assert _code(lambda: scorers.upsert_online_scoring_config(a, "tone", 0.0)) == NOT_FOUND
        assert _code(lambda: scorers.delete_scorer(a, "tone")) == NOT_FOUND
        assert scorers.get_online_scoring_configs([mine.scorer_id]) == []
    with in_workspace("team-a"):  # nothing of a's changed
        assert scorers.get_scorer(a, "tone").scorer_version == 1
        assert [c.sample_rate for c in scorers.get_online_scoring_configs([mine.scorer_id])] == [1.0]
    # Unbound (the online-scoring worker, workspaces off): one space.
    assert [x.version.scorer_id for x in scorers.active_scorers()] == [mine.scorer_id]
    assert scorers.get_scorer(b, "tone").scorer_id == theirs.scorer_id


def test_label_schemas_and_review_queues_follow_their_experiments_workspace(db_uri, tmp_path):
    _, exps = _two_workspaces(db_uri, tmp_path)
    a, b = exps["team-a"], exps["team-b"]
    review = SqlReviewStore(db_uri)
    with in_workspace("team-a"):
        tone = review.create_label_schema(a, "tone", "FEEDBACK", {"text": {}})
        queue = review.create_review_queue(a, "triage", "CUSTOM", users=["ann"], schema_ids=[tone["schema_id"]])
        trace = _trace(db_uri, a, 1)
        review.add_items(queue["queue_id"], [trace])
    sid, qid = tone["schema_id"], queue["queue_id"]
    with in_workspace("team-b"):
        # The same names in b's experiment are b's own.
        own = review.create_label_schema(b, "tone", "FEEDBACK", {"text": {}})
        own_queue = review.create_review_queue(b, "triage", "CUSTOM", schema_ids=[own["schema_id"]])
        assert sorted(x["name"] for x in review.list_label_schemas(b)[0]) == ["Feedback", "tone"]
        assert [q["queue_id"] for q in review.list_review_queues(b)[0]] == [own_queue["queue_id"]]
        # a's are not found, by id or through a's experiment
        assert _code(lambda: review.get_label_schema(sid)) == NOT_FOUND
        assert _code(lambda: review.update_label_schema(sid, instruction="x")) == NOT_FOUND
        assert _code(lambda: review.get_label_schema_by_name(a, "tone")) == NOT_FOUND
        assert _code(lambda: review.list_label_schemas(a)) == NOT_FOUND
        assert _code(lambda: review.create_label_schema(a, "new", "FEEDBACK", {"text": {}})) == NOT_FOUND
        assert _code(lambda: review.get_review_queue(qid)) == NOT_FOUND
        assert _code(lambda: review.get_review_queue_by_name(a, "triage")) == NOT_FOUND
        assert _code(lambda: review.list_review_queues(a)) == NOT_FOUND
        assert _code(lambda: review.update_review_queue(qid, name="mine")) == NOT_FOUND
        assert _code(lambda: review.add_items(qid, [trace])) == NOT_FOUND
        assert _code(lambda: review.list_items(qid)) == NOT_FOUND
        assert _code(lambda: review.set_item_status(qid, trace, "COMPLETE", "bob")) == NOT_FOUND
        assert _code(lambda: review.remove_items(qid, [trace])) == NOT_FOUND
        # b's queue cannot take a's schema nor a's trace
        with pytest.raises(MltrailException, match="not found for experiment"):
            review.update_review_queue(own_queue["queue_id"], schema_ids=[sid])
        assert _code(lambda: review.add_items(own_queue["queue_id"], [trace])) == NOT_FOUND
        assert (review.schema_experiment(sid), review.queue_experiment(qid)) == (None, None)
        review.delete_label_schema(sid)  # not this workspace's: nothing happens
        review.delete_review_queue(qid)
    with in_workspace("team-a"):
        assert review.get_label_schema(sid)["name"] == "tone"
        assert [i["item_id"] for i in review.list_items(qid)[0]] == [trace]
        assert review.get_review_queue(qid)["users"] == ["ann"]
    assert review.queue_experiment(qid) == a  # unbound: one space


def test_gateway_records_belong_to_a_workspace(db_uri):
    gateway = SqlGatewayStore(db_uri)
    for name in ("team-a", "team-b"):
        SqlWorkspaceStore(db_uri).create(name)
    made = {}
    for name in ("team-a", "team-b"):  # the same names in both
        with in_workspace(name):
            secret = gateway.create_secret("key", f"sealed-{name}", {"api_key": "sk-...abcd"}, "openai")
            model = gateway.create_model_definition("chat-model", secret["secret_id"], "openai", "gpt-4o")
            endpoint = gateway.create_endpoint("chat", [_mapping(model)], "me", None, None, None, False)
            gateway.set_tag(endpoint["endpoint_id"], "team", name)
            gateway.create_binding(endpoint["endpoint_id"], "scorer", f"scorer-{name}", "me")
            gateway.record_usage(endpoint["endpoint_id"], 3, 4, False)
            made[name] = (secret, model, endpoint)
    a_secret, a_model, a_end = made["team-a"]
    b_secret, b_model, b_end = made["team-b"]
    with in_workspace("team-a"):
        assert _code(lambda: gateway.create_secret("key", "x", {}, None)) == "RESOURCE_ALREADY_EXISTS"
        assert _code(lambda: gateway.create_endpoint("chat", [_mapping(a_model)], None, None, None, None, False)) == (
            "RESOURCE_ALREADY_EXISTS"
        )
        assert gateway.get_secret(name="key")["secret_id"] == a_secret["secret_id"]
        assert gateway.get_endpoint(name="chat")["tags"] == [{"key": "team", "value": "team-a"}]
        assert [x["secret_id"] for x in gateway.list_secrets()] == [a_secret["secret_id"]]
        assert [x["model_definition_id"] for x in gateway.list_model_definitions()] == [a_model["model_definition_id"]]
        assert [x["endpoint_id"] for x in gateway.list_endpoints()] == [a_end["endpoint_id"]]
        assert [x["resource_id"] for x in gateway.list_bindings()] == ["scorer-team-a"]
        assert [x["endpoint_id"] for x in gateway.usage()] == [a_end["endpoint_id"]]
        assert gateway.sealed_secret(a_secret["secret_id"])[0] == "sealed-team-a"
        # b's records by id: not found, and nothing of b's changes
        b_sid, b_mid, b_eid = b_secret["secret_id"], b_model["model_definition_id"], b_end["endpoint_id"]
        for call in (
            lambda: gateway.get_secret(b_sid),
            lambda: gateway.sealed_secret(b_sid),
            lambda: gateway.update_secret(b_sid, "x", {}, None, None),
            lambda: gateway.delete_secret(b_sid),
            lambda: gateway.get_model_definition(b_mid),
            lambda: gateway.update_model_definition(b_mid, model_name="x"),
            lambda: gateway.delete_model_definition(b_mid),
            lambda: gateway.get_endpoint(b_eid),
            lambda: gateway.update_endpoint(b_eid, "x", None, None, None, None, None, None),
            lambda: gateway.delete_endpoint(b_eid),
            lambda: gateway.set_tag(b_eid, "k", "v"),
            lambda: gateway.delete_tag(b_eid, "team"),
            lambda: gateway.create_binding(b_eid, "scorer", "s", None),
            lambda: gateway.delete_binding(b_eid, "scorer", "scorer-team-b"),
            lambda: gateway.detach_model(b_eid, b_mid),
            lambda: gateway.attach_model(b_eid, _mapping(a_model), None),
            # a's records cannot reach b's: a model definition on b's secret, an endpoint on b's model
            lambda: gateway.create_model_definition("m2", b_sid, "openai", "gpt-4o"),
            lambda: gateway.update_model_definition(a_model["model_definition_id"], secret_id=b_sid),
            lambda: gateway.create_endpoint("e2", [_mapping(b_model)], None, None, None, None, False),
            lambda: gateway.attach_model(a_end["endpoint_id"], {**_mapping(b_model), "linkage_type": "FALLBACK"}, None),
        ):
            assert _code(call) == NOT_FOUND
    with in_workspace("team-b"):
        kept = gateway.get_endpoint(name="chat")
        assert kept["endpoint_id"] == b_end["endpoint_id"]
        assert kept["tags"] == [{"key": "team", "value": "team-b"}]
        assert [m["model_definition_id"] for m in kept["model_mappings"]] == [b_model["model_definition_id"]]
        assert gateway.sealed_secret(b_secret["secret_id"])[0] == "sealed-team-b"
        assert [x["resource_id"] for x in gateway.list_bindings()] == ["scorer-team-b"]
    # Unbound (workspaces off): the `default` workspace, which has none of them.
    assert gateway.list_endpoints() == [] and gateway.list_secrets() == [] and gateway.usage() == []
    assert _code(lambda: gateway.get_endpoint(name="chat")) == NOT_FOUND
    own = gateway.create_secret("key", "sealed", {}, None)  # `default` may have its own `key`
    with in_workspace("default"):
        assert gateway.get_secret(name="key")["secret_id"] == own["secret_id"]


def test_delete_workspace_modes_cover_genai_records(db_uri, tmp_path):
    tracking = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    workspaces, gateway = SqlWorkspaceStore(db_uri), SqlGatewayStore(db_uri)
    review, scorers = SqlReviewStore(db_uri), SqlScorerStore(db_uri)

    def erase(conn, name):
        tracking.erase_workspace(conn, name)

    def fill(name: str, n: int) -> dict:
        workspaces.create(name)
        with in_workspace(name):
            exp = tracking.create_experiment(f"exp-{name}")
            secret = gateway.create_secret("key", "sealed", {}, None)
            model = gateway.create_model_definition("model", secret["secret_id"], "openai", "gpt-4o")
            endpoint = gateway.create_endpoint("chat", [_mapping(model)], None, None, None, None, False)
            gateway.set_tag(endpoint["endpoint_id"], "k", "v")
            gateway.create_binding(endpoint["endpoint_id"], "scorer", "s", None)
            gateway.record_usage(endpoint["endpoint_id"], 1, 1, False)
            schema = review.create_label_schema(exp, "tone", "FEEDBACK", {"text": {}})
            queue = review.create_review_queue(exp, "triage", "CUSTOM", users=["ann"], schema_ids=[schema["schema_id"]])
            review.add_items(queue["queue_id"], [_trace(db_uri, exp, n)])
            scorer = scorers.register_scorer(exp, "tone", SCORER)
            scorers.upsert_online_scoring_config(exp, "tone", 1.0)
            active = next(x for x in scorers.active_scorers() if x.version.scorer_id == scorer.scorer_id)
            scorers.claim(f"tr-{n:032x}", active)
        return {"exp": exp, "endpoint": endpoint, "queue": queue, "scorer": scorer}

    gw_only = "gw-only"  # RESTRICT: gateway records alone keep a workspace
    workspaces.create(gw_only)
    with in_workspace(gw_only):
        gateway.create_secret("lonely", "sealed", {}, None)
    with pytest.raises(MltrailException, match="gateway_secrets") as refused:
        workspaces.delete(gw_only, "RESTRICT")
    assert refused.value.error_code == "INVALID_STATE"

    moved = fill("move", 1)
    with in_workspace("default"):  # SET_DEFAULT would clash with default's own endpoint name
        key = gateway.create_secret("other-key", "sealed", {}, None)
        model = gateway.create_model_definition("other-model", key["secret_id"], "openai", "gpt-4o")
        clash = gateway.create_endpoint("chat", [_mapping(model)], None, None, None, None, False)
    with pytest.raises(MltrailException, match="gateway_endpoints: 'chat'") as clashed:
        workspaces.delete("move", "SET_DEFAULT")
    assert clashed.value.error_code == "INVALID_STATE" and workspaces.exists("move")
    with in_workspace("default"):
        gateway.delete_endpoint(clash["endpoint_id"])
    workspaces.delete("move", "SET_DEFAULT")
    with in_workspace("default"):  # everything followed, the experiment-bound records through it
        assert gateway.get_endpoint(name="chat")["endpoint_id"] == moved["endpoint"]["endpoint_id"]
        assert [x["resource_id"] for x in gateway.list_bindings()] == ["s"]
        assert review.get_review_queue(moved["queue"]["queue_id"])["name"] == "triage"
        assert scorers.get_scorer(moved["exp"], "tone").scorer_id == moved["scorer"].scorer_id

    gone = fill("gone", 2)
    workspaces.delete("gone", "CASCADE", erase)
    assert not workspaces.exists("gone")
    engine = create_sql_engine(db_uri)
    with engine.connect() as conn:
        def left(table: sa.Table, where: sa.ColumnElement[bool]) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()

        eid, qid = gone["endpoint"]["endpoint_id"], gone["queue"]["queue_id"]
        for table in (s.gateway_endpoint_model_mappings, s.gateway_endpoint_tags, s.gateway_endpoint_bindings, s.gateway_usage):
            assert left(table, table.c.endpoint_id == eid) == 0, table.name
        for table in (s.gateway_secrets, s.gateway_model_definitions, s.gateway_endpoints):
            assert left(table, table.c.workspace == "gone") == 0, table.name
        for table in (s.review_queue_users, s.review_queue_label_schemas, s.review_queue_items):
            assert left(table, table.c.queue_id == qid) == 0, table.name
        for table in (s.review_queues, s.label_schemas, s.scorers):
            assert left(table, table.c.experiment_id == int(gone["exp"])) == 0, table.name
        sid = gone["scorer"].scorer_id
        assert left(s.scorer_judged_traces, s.scorer_judged_traces.c.scorer_id == sid) == 0
        # what moved to `default` is untouched
        assert left(s.gateway_endpoints, s.gateway_endpoints.c.workspace == "default") == 1
        assert left(s.review_queues, s.review_queues.c.queue_id == moved["queue"]["queue_id"]) == 1
    engine.dispose()


def test_erasing_an_experiment_erases_its_queues_schemas_and_scorer_ledger(db_uri, tmp_path):
    """``gc`` (``hard_delete_experiment``) takes what names the experiment only by id along too."""
    tracking = SqlTrackingStore(db_uri, str(tmp_path / "artifacts"))
    review, scorers = SqlReviewStore(db_uri), SqlScorerStore(db_uri)
    kept, doomed = tracking.create_experiment("kept"), tracking.create_experiment("doomed")
    made = {}
    for n, exp in enumerate((kept, doomed), start=3):
        schema = review.create_label_schema(exp, "tone", "FEEDBACK", {"text": {}})
        queue = review.create_review_queue(exp, "triage", "CUSTOM", users=["ann"], schema_ids=[schema["schema_id"]])
        review.add_items(queue["queue_id"], [_trace(db_uri, exp, n)])
        scorer = scorers.register_scorer(exp, "tone", SCORER)
        scorers.upsert_online_scoring_config(exp, "tone", 1.0)
        active = next(x for x in scorers.active_scorers() if x.version.scorer_id == scorer.scorer_id)
        scorers.claim(f"tr-{n:032x}", active)
        made[exp] = (queue["queue_id"], scorer.scorer_id)
    tracking.delete_experiment(doomed)
    tracking.hard_delete_experiment(doomed)
    engine = create_sql_engine(db_uri)
    with engine.connect() as conn:
        def left(table: sa.Table, where: sa.ColumnElement[bool]) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()

        for exp, expected in ((doomed, 0), (kept, 1)):
            qid, sid = made[exp]
            for table in (s.review_queue_users, s.review_queue_label_schemas, s.review_queue_items):
                assert left(table, table.c.queue_id == qid) == expected, table.name
            for table in (s.review_queues, s.label_schemas, s.scorers):
                assert left(table, table.c.experiment_id == int(exp)) == expected, table.name
            assert left(s.scorer_judged_traces, s.scorer_judged_traces.c.scorer_id == sid) == expected
    engine.dispose()


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


def test_upgrade_from_0018_puts_gateway_records_in_default(fresh_db):
    from alembic import command
    from alembic.config import Config

    engine = create_sql_engine(fresh_db)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0018")
    audit = "created_at, last_updated_at"
    with engine.begin() as conn:  # rows as an mltrail before 0019 wrote them (no workspace column)
        conn.execute(sa.text(
            f"INSERT INTO gateway_secrets (secret_id, secret_name, encrypted_value, masked_value, {audit}) "
            "VALUES ('s-1', 'key', 'sealed', '{}', 1, 1)"
        ))  # fmt: skip
        conn.execute(sa.text(
            f"INSERT INTO gateway_model_definitions (model_definition_id, name, secret_id, provider, model_name, {audit}) "
            "VALUES ('d-1', 'model', 's-1', 'openai', 'gpt-4o', 1, 1)"
        ))  # fmt: skip
        conn.execute(sa.text(
            f"INSERT INTO gateway_endpoints (endpoint_id, name, usage_tracking, {audit}) VALUES ('e-1', 'chat', false, 1, 1)"
        ))  # fmt: skip
    engine.dispose()

    upgrade_db(fresh_db)
    engine = create_sql_engine(fresh_db)
    assert current_revision(engine) == head_revision()
    tables = ((s.gateway_secrets, "secret_name"), (s.gateway_model_definitions, "name"), (s.gateway_endpoints, "name"))
    with engine.connect() as conn:
        for table, _ in tables:
            assert conn.execute(sa.select(table.c.workspace)).scalars().all() == ["default"], table.name
    for table, _ in tables:  # a name is unique per workspace: again in team-a is fine, twice is not
        pk = next(iter(table.primary_key.columns)).name
        with engine.begin() as conn:
            old = dict(conn.execute(sa.select(table)).mappings().one())
            conn.execute(sa.insert(table).values({**old, pk: "x-2", "workspace": "team-a"}))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.insert(table).values({**old, pk: "x-3", "workspace": "team-a"}))
    engine.dispose()
