"""Label schemas, review queues and workspaces over HTTP: the official client and mltrail's SDK against one server.

``mlflow.genai.label_schemas`` / ``review_queues`` (mlflow 3.17.2) and ``mlflow.*_workspace``
drive a real ``mltrail server``; mltrail's own ``mltrail.genai.*`` reads what they wrote over
REST; bad input answers 400 with MLflow's error codes and writes nothing.
"""

from __future__ import annotations

import time

import httpx
import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.genai import label_schemas as mls
from mlflow.genai import review_queues as mrq

import mltrail
from mltrail.genai import label_schemas as ls
from mltrail.genai import review_queues as rq
from support.live_server import start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("review-api"))
    yield srv
    stop_server(srv)


@pytest.fixture
def experiment(server) -> tuple[str, str]:
    """A new experiment with one finished trace, made by the official client: (experiment id, trace id)."""
    mlflow.set_tracking_uri(server.url)
    exp = mlflow.create_experiment(f"review-{time.time_ns()}")
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_span("answer") as span:
        span.set_inputs({"q": "2+2?"})
        span.set_outputs("4")
    mlflow.flush_trace_async_logging()
    return exp, span.trace_id


def test_official_client_review_flow_read_back_by_mltrail(server, experiment) -> None:
    exp, trace_id = experiment
    tone = mls.create_label_schema(
        "tone",
        type="feedback",
        input=mls.InputPassFail(positive_label="Polite", negative_label="Rude"),
        experiment_id=exp,
    )
    score = mls.create_label_schema(
        "score",
        type="expectation",
        input=mls.InputNumeric(min_value=0, max_value=1),
        enable_comment=True,
        experiment_id=exp,
    )
    # newest first: the default question is seeded by this first list
    assert [s.name for s in mls.list_label_schemas(exp)] == ["Feedback", "score", "tone"]
    assert mls.get_label_schema("tone", experiment_id=exp).schema_id == tone.schema_id
    updated = mls.update_label_schema(
        score.schema_id, instruction="0 to 1", input=mls.InputNumeric(min_value=0, max_value=10)
    )
    assert (updated.instruction, updated.input) == ("0 to 1", mls.InputNumeric(min_value=0.0, max_value=10.0))
    with pytest.raises(MlflowException, match="cannot be changed"):
        mls.update_label_schema(score.schema_id, input=mls.InputText())

    queue = mrq.create_review_queue(
        "Triage",
        queue_type="custom",
        users=["Ann"],
        schema_ids=[tone.schema_id, score.schema_id],
        experiment_id=exp,
    )
    [item] = mrq.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    assert item.status == mrq.ReviewStatus.PENDING
    mine = mrq.get_or_create_user_queue("Bob", experiment_id=exp)
    assert mrq.get_or_create_user_queue("bob", experiment_id=exp).queue_id == mine.queue_id

    # mltrail's SDK over REST sees the same records, and its answers are the official client's to read.
    mltrail.set_tracking_uri(server.url)
    assert {s.name for s in ls.list_label_schemas(exp)} == {"score", "tone", "Feedback"}
    assert ls.get_label_schema(schema_id=tone.schema_id).input == ls.InputPassFail("Polite", "Rude")
    ours = rq.get_review_queue(name="triage", experiment_id=exp)
    assert (ours.queue_id, ours.users, ours.queue_type) == (
        queue.queue_id,
        ["ann"],
        rq.ReviewQueueType.CUSTOM,
    )
    done = rq.set_review_queue_item_status(
        queue.queue_id, item_id=trace_id, status="complete", completed_by="Ann"
    )
    assert (done.status, done.completed_by) == (rq.ReviewStatus.COMPLETE, "ann")
    [seen] = mrq.list_review_queue_items(queue.queue_id, status="complete")
    assert (seen.item_id, seen.completed_by) == (trace_id, "ann")
    assert [q.queue_id for q in mrq.list_review_queues(user="ann", experiment_id=exp)] == [queue.queue_id]
    renamed = mrq.update_review_queue(queue.queue_id, name="Triage 2", users=[])
    assert (renamed.name, renamed.users) == ("Triage 2", [])

    mrq.remove_items_from_review_queue(queue.queue_id, item_ids=[trace_id])
    rq.delete_review_queue(queue.queue_id)
    mls.delete_label_schema(schema_id=tone.schema_id)
    assert [q.name for q in mrq.list_review_queues(experiment_id=exp)] == ["bob"]
    assert {s.name for s in mls.list_label_schemas(exp)} == {"score", "Feedback"}


def test_bad_input_is_400_and_writes_nothing(server, experiment) -> None:
    exp, trace_id = experiment
    api = f"{server.url}/api/3.0/mlflow"
    with httpx.Client(timeout=30) as http:

        def post(path: str, body: dict) -> tuple[int, str]:
            resp = http.post(f"{api}/{path}", json=body)
            return resp.status_code, resp.json().get("error_code", "")

        schema = {"experiment_id": exp, "name": "q", "type": "FEEDBACK"}
        assert post("label-schemas/create", schema) == (400, "INVALID_PARAMETER_VALUE")  # no input
        bad = {**schema, "input": {"categorical": {"options": ["a", "a"]}}}
        assert post("label-schemas/create", bad) == (400, "INVALID_PARAMETER_VALUE")
        assert post("label-schemas/create", {**schema, "type": "OPINION", "input": {"text": {}}}) == (
            400,
            "INVALID_PARAMETER_VALUE",
        )
        nowhere = {**schema, "experiment_id": "987654", "input": {"text": {}}}
        assert post("label-schemas/create", nowhere) == (404, "RESOURCE_DOES_NOT_EXIST")
        queue = {"experiment_id": exp, "name": "default", "queue_type": "CUSTOM"}
        assert post("review-queues/create", queue) == (400, "INVALID_PARAMETER_VALUE")  # reserved name
        user_queue = {"experiment_id": exp, "name": "ann", "queue_type": "USER", "users": ["bob"]}
        assert post("review-queues/create", user_queue) == (400, "INVALID_PARAMETER_VALUE")
        assert post("review-queues/items/add", {"queue_id": "rq-nope", "item_ids": [trace_id]}) == (
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
        listed = http.get(f"{api}/label-schemas/list", params={"experiment_id": exp}).json()["label_schemas"]
        assert [s["name"] for s in listed] == ["Feedback"]
        assert http.get(f"{api}/review-queues/list", params={"experiment_id": exp}).json() == {
            "review_queues": []
        }
        too_many = http.get(
            f"{api}/review-queues/list", params={"experiment_id": exp, "max_results": 50001}
        )  # MLflow: 1..50000
        assert too_many.status_code == 400
        openapi = http.get(f"{server.url}/openapi.json").json()["paths"]
        assert {
            "/api/3.0/mlflow/label-schemas/create",
            "/api/3.0/mlflow/review-queues/items/set-status",
        } <= set(openapi)
        assert "/api/3.0/mlflow/workspaces/{workspace_name}" in openapi


def test_workspaces_with_the_official_client(server) -> None:
    mlflow.set_tracking_uri(server.url)
    name = f"team-{time.time_ns() % 10**8}"
    created = mlflow.create_workspace(name, description="Team A")
    assert (created.name, created.description) == (name, "Team A")
    assert mlflow.get_workspace(name).description == "Team A"
    assert (
        mlflow.update_workspace(name, default_artifact_root="s3://bucket/team").default_artifact_root
        == "s3://bucket/team"
    )
    assert {"default", name} <= {w.name for w in mlflow.list_workspaces()}
    with pytest.raises(MlflowException, match="already exists"):
        mlflow.create_workspace(name)
    mltrail.set_tracking_uri(server.url)  # mltrail's functions over REST see and change the same list
    assert mltrail.get_workspace(name).default_artifact_root == "s3://bucket/team"
    ours = mltrail.create_workspace(name + "-b", description="B")
    assert (ours.name, ours.description) == (name + "-b", "B")
    assert mltrail.update_workspace(name + "-b", description="C").description == "C"
    assert mlflow.get_workspace(name + "-b").description == "C"
    mltrail.delete_workspace(name + "-b")
    mlflow.delete_workspace(name)
    assert not {name, name + "-b"} & {w.name for w in mltrail.list_workspaces()}
    with pytest.raises(MlflowException, match="not found"):
        mlflow.get_workspace(name)
    bad = httpx.post(f"{server.url}/api/3.0/mlflow/workspaces", json={"name": "Not_A_Name"}, timeout=30)
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
