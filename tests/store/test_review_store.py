"""Label schemas, review queues and workspaces on SQLite, PostgreSQL and MariaDB (migration 0014's tables)."""

from __future__ import annotations

import uuid

import pytest

from mltrail.entities.trace_info import TraceInfo
from mltrail.exceptions import MltrailException
from mltrail.store.sql.review import SqlReviewStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from mltrail.store.sql.workspaces import SqlWorkspaceStore
from support.sql_backends import SQL_BACKENDS

_ARTIFACTS: list[str] = []


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def uri(request, tmp_path_factory) -> str:
    _ARTIFACTS[:] = [str(tmp_path_factory.mktemp("review-artifacts"))]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('review-store') / 'mltrail.db'}"
    return request.getfixturevalue("postgres_uri" if request.param == "postgres" else "mysql_uri")


def _experiment(uri: str) -> str:
    return SqlTrackingStore(uri, _ARTIFACTS[0]).create_experiment(f"review-{uuid.uuid4().hex[:10]}")


def _trace(uri: str, experiment_id: str) -> str:
    trace_id = f"tr-{uuid.uuid4().hex}"
    info = TraceInfo(
        trace_id=trace_id, experiment_id=experiment_id, request_time=1, execution_duration=5, state="OK"
    )
    SqlTraceStore(uri).start_trace(info)
    return trace_id


def _code(call) -> str:
    with pytest.raises(MltrailException) as err:
        call()
    return err.value.error_code


def test_schemas_queues_items_and_their_rules(uri: str) -> None:
    store = SqlReviewStore(uri)
    exp = _experiment(uri)
    tone = store.create_label_schema(exp, "tone", "feedback", {"categorical": {"options": ["ok", "rude"]}})
    assert (tone["type"], tone["input"], tone["is_default"]) == (
        "FEEDBACK",
        {"categorical": {"options": ["ok", "rude"], "multi_select": False}},
        False,
    )
    assert (
        _code(lambda: store.create_label_schema(exp, "tone", "FEEDBACK", {"text": {}}))
        == "RESOURCE_ALREADY_EXISTS"
    )
    assert (
        _code(lambda: store.create_label_schema(exp, "feedback", "FEEDBACK", {"text": {}}))
        == "INVALID_PARAMETER_VALUE"
    )
    assert (
        _code(lambda: store.create_label_schema(exp, "x", "FEEDBACK", {"text": {}, "numeric": {}}))
        == "INVALID_PARAMETER_VALUE"
    )
    eleven = {"categorical": {"options": [str(i) for i in range(11)]}}
    assert _code(lambda: store.create_label_schema(exp, "x", "FEEDBACK", eleven)) == "INVALID_PARAMETER_VALUE"
    rows, token = store.list_label_schemas(exp, max_results=1)
    assert token and len(rows) == 1
    rest, _ = store.list_label_schemas(exp, page_token=token)
    names = {r["name"] for r in rows + rest}
    assert names == {"Feedback", "tone"}
    default = next(r for r in rows + rest if r["is_default"])
    assert _code(lambda: store.delete_label_schema(default["schema_id"])) == "INVALID_PARAMETER_VALUE"
    assert (
        _code(lambda: store.update_label_schema(tone["schema_id"], input={"text": {}}))
        == "INVALID_PARAMETER_VALUE"
    )
    renamed = store.update_label_schema(tone["schema_id"], name="politeness", instruction="Be fair")
    assert (renamed["name"], renamed["instruction"]) == ("politeness", "Be fair")

    queue = store.create_review_queue(
        exp, " Triage ", "CUSTOM", users=["Ann", "ann"], schema_ids=[tone["schema_id"]]
    )
    assert (queue["name"], queue["users"], queue["schema_ids"]) == ("Triage", ["ann"], [tone["schema_id"]])
    assert _code(lambda: store.create_review_queue(exp, "TRIAGE", "CUSTOM")) == "RESOURCE_ALREADY_EXISTS"
    assert (
        _code(lambda: store.create_review_queue(exp, "q", "CUSTOM", schema_ids=["ls-nope"]))
        == "INVALID_PARAMETER_VALUE"
    )
    mine = store.get_or_create_user_queue(exp, "Bob")
    assert store.get_or_create_user_queue(exp, "bob")["queue_id"] == mine["queue_id"]
    assert (
        _code(lambda: store.update_review_queue(mine["queue_id"], users=["x"])) == "INVALID_PARAMETER_VALUE"
    )
    listed, _ = store.list_review_queues(exp, user="ANN")
    assert [q["queue_id"] for q in listed] == [queue["queue_id"]]

    trace_id = _trace(uri, exp)
    other = _trace(uri, _experiment(uri))
    assert _code(lambda: store.add_items(queue["queue_id"], [other])) == "RESOURCE_DOES_NOT_EXIST"
    [item] = store.add_items(queue["queue_id"], [trace_id, trace_id])
    assert item["status"] == "PENDING"
    assert (
        _code(lambda: store.update_review_queue(queue["queue_id"], schema_ids=[]))
        == "INVALID_PARAMETER_VALUE"
    )
    assert (
        _code(lambda: store.set_item_status(queue["queue_id"], trace_id, "COMPLETE"))
        == "INVALID_PARAMETER_VALUE"
    )
    done = store.set_item_status(queue["queue_id"], trace_id, "complete", "Ann")
    assert (done["status"], done["completed_by"]) == ("COMPLETE", "ann")
    assert store.add_items(queue["queue_id"], [trace_id])[0]["status"] == "COMPLETE"  # re-attaching keeps it
    reopened = store.set_item_status(queue["queue_id"], trace_id, "PENDING")
    assert "completed_by" not in reopened
    assert store.list_items(queue["queue_id"], status="DECLINED") == ([], None)
    assert [q["queue_id"] for q in store.list_review_queues(exp, item_id=trace_id)[0]] == [queue["queue_id"]]
    SqlTraceStore(uri).delete_traces(exp, trace_ids=[trace_id])  # a deleted trace leaves its queues
    assert store.list_items(queue["queue_id"]) == ([], None)
    store.delete_review_queue(queue["queue_id"])
    assert _code(lambda: store.get_review_queue(queue["queue_id"])) == "RESOURCE_DOES_NOT_EXIST"
    store.delete_label_schema(tone["schema_id"])
    store.delete_label_schema(tone["schema_id"])  # unknown: nothing happens


def test_workspaces(uri: str) -> None:
    store = SqlWorkspaceStore(uri)
    name = f"team-{uuid.uuid4().hex[:8]}"
    assert store.create(name, description="Team")["description"] == "Team"
    assert _code(lambda: store.create(name)) == "RESOURCE_ALREADY_EXISTS"
    assert _code(lambda: store.create("default")) == "INVALID_PARAMETER_VALUE"
    assert _code(lambda: store.create("Bad_Name")) == "INVALID_PARAMETER_VALUE"
    assert store.update(name, default_artifact_root="s3://b/x") == {
        "name": name,
        "description": "Team",
        "default_artifact_root": "s3://b/x",
    }
    names = [w["name"] for w in store.list()]
    assert names[0] == "default" and name in names
    store.delete(name)
    assert _code(lambda: store.get(name)) == "RESOURCE_DOES_NOT_EXIST"
    assert _code(lambda: store.delete("default")) == "INVALID_PARAMETER_VALUE"
