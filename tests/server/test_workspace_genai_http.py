"""GenAI records per workspace over HTTP: a real ``mltrail server --enable-workspaces``, the official client.

Two workspaces create the same names (an experiment, a registered scorer, a label schema, a
review queue, a gateway secret, model definition and endpoint); each then sees its own only,
the other's ids are 404 ``RESOURCE_DOES_NOT_EXIST``, and the gateway proxy resolves an
endpoint's name in the workspace the request names (``X-MLFLOW-WORKSPACE``), so each call
reaches its own workspace's model with its own key. The provider is the loopback OpenAI fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from support.feedback import wait_feedback
from support.gateway_kit import chat_endpoints, official_store
from support.live_server import LOOPBACK_HTTP, LiveServer, start_server, stop_server
from support.openai_server import OpenAIServer

SERVER_KEY = "a-test-server-key-of-32-characters!"
WORKSPACES = ("ws-alpha", "ws-beta")
SCORER = json.dumps({"name": "tone", "builtin_scorer_class": "RelevanceToQuery"})


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: OpenAIServer) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("ws-genai"), None, "--enable-workspaces", *LOOPBACK_HTTP,
        env={"MLTRAIL_SECRET_KEY": SERVER_KEY, "MLTRAIL_SCORER_POLL_INTERVAL": "0.2"},
    )  # fmt: skip
    yield live
    stop_server(live)


def _status(call: Any) -> tuple[int, str]:
    """(HTTP status, error_code) of an official-client call that must fail."""
    with pytest.raises(MlflowException) as caught:
        call()
    return caught.value.get_http_status_code(), caught.value.error_code


def _fill(url: str, fake: OpenAIServer, workspace: str) -> dict[str, Any]:
    """The same names in ``workspace``: what the other workspace must not see."""
    from mlflow.genai import label_schemas as mls
    from mlflow.genai import review_queues as mrq

    store = official_store(url)
    exp = MlflowClient(url).create_experiment("shared")
    scorer = store.register_scorer(exp, "tone", SCORER)
    schema = mls.create_label_schema("tone", type="feedback", input=mls.InputText(), experiment_id=exp)
    queue = mrq.create_review_queue(
        "triage", queue_type="custom", schema_ids=[schema.schema_id], experiment_id=exp
    )
    key = f"sk-{workspace}-0123456789"
    endpoint = chat_endpoints(store, fake.base_url, "chat", model=f"gpt-{workspace}", api_key=key)["chat"]
    [secret] = store.list_secret_infos()
    [model] = store.list_gateway_model_definitions()
    return {
        "store": store, "exp": exp, "scorer": scorer, "schema": schema, "queue": queue,
        "secret": secret, "model": model, "endpoint": endpoint,
    }  # fmt: skip


def _chat(url: str, workspace: str | None) -> httpx.Response:
    headers = {"X-MLFLOW-WORKSPACE": workspace} if workspace else {}
    body = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}
    return httpx.post(f"{url}/gateway/mlflow/v1/chat/completions", json=body, headers=headers, timeout=60)


def test_two_workspaces_same_names_no_leakage(server: LiveServer, fake: OpenAIServer) -> None:
    import mlflow
    from mlflow.genai import label_schemas as mls
    from mlflow.genai import review_queues as mrq

    url = server.url
    mlflow.set_tracking_uri(url)
    for name in WORKSPACES:
        mlflow.create_workspace(name)
    made = {}
    try:
        for name in WORKSPACES:
            mlflow.set_workspace(name)
            made[name] = _fill(url, fake, name)
        alpha, beta = made["ws-alpha"], made["ws-beta"]
        store = beta["store"]
        assert alpha["exp"] != beta["exp"]

        mlflow.set_workspace("ws-beta")  # beta sees its own, and alpha's ids are not found
        assert [s.scorer_id for s in store.list_scorers(beta["exp"])] == [beta["scorer"].scorer_id]
        assert mls.get_label_schema("tone", experiment_id=beta["exp"]).schema_id == beta["schema"].schema_id
        assert [q.queue_id for q in mrq.list_review_queues(experiment_id=beta["exp"])] == [
            beta["queue"].queue_id
        ]
        assert store.get_gateway_endpoint(name="chat").endpoint_id == beta["endpoint"].endpoint_id
        assert [e.endpoint_id for e in store.list_gateway_endpoints()] == [beta["endpoint"].endpoint_id]
        assert [s.secret_id for s in store.list_secret_infos()] == [beta["secret"].secret_id]
        assert [m.name for m in store.list_gateway_model_definitions()] == ["model"]
        not_found = (404, "RESOURCE_DOES_NOT_EXIST")
        assert _status(lambda: store.list_scorers(alpha["exp"])) == not_found
        assert _status(lambda: store.get_scorer(alpha["exp"], "tone")) == not_found
        assert _status(lambda: mls.get_label_schema(schema_id=alpha["schema"].schema_id)) == not_found
        assert _status(lambda: mrq.get_review_queue(queue_id=alpha["queue"].queue_id)) == not_found
        assert _status(lambda: store.get_secret_info(secret_id=alpha["secret"].secret_id)) == not_found
        assert (
            _status(lambda: store.get_gateway_model_definition(alpha["model"].model_definition_id))
            == not_found
        )
        assert (
            _status(lambda: store.get_gateway_endpoint(endpoint_id=alpha["endpoint"].endpoint_id))
            == not_found
        )
        # An endpoint's traces cannot be sent to another workspace's experiment.
        from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

        own = [GatewayEndpointModelConfig(beta["model"].model_definition_id, GatewayModelLinkageType.PRIMARY)]
        assert (
            _status(lambda: store.create_gateway_endpoint("leak", own, experiment_id=alpha["exp"]))
            == not_found
        )
        assert (
            store.create_gateway_endpoint("kept", own, experiment_id=beta["exp"]).experiment_id == beta["exp"]
        )
        assert _status(lambda: store.delete_gateway_endpoint(alpha["endpoint"].endpoint_id)) == not_found

        mlflow.set_workspace(None)  # `default` has none of them
        assert _status(lambda: store.get_gateway_endpoint(name="chat")) == not_found
        assert store.list_gateway_endpoints() == []
    finally:
        mlflow.set_workspace(None)

    # The proxy resolves "chat" in the request's workspace: its own model, with its own key.
    for name in WORKSPACES:
        answered = _chat(url, name)
        assert answered.status_code == 200, answered.text
        sent = fake.requests[-1]
        assert sent["body"]["model"] == f"gpt-{name}"
        assert sent["headers"]["authorization"] == f"Bearer sk-{name}-0123456789"
    unknown = _chat(url, None)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # Each workspace's usage counts its own call only.
    for name in WORKSPACES:
        usage = httpx.get(
            f"{url}/ajax-api/3.0/mltrail/gateway/usage", headers={"X-MLFLOW-WORKSPACE": name}
        ).json()
        assert [(u["endpoint_id"], u["requests"]) for u in usage["usage"]] == [
            (made[name]["endpoint"].endpoint_id, 1)
        ]


def _judge_endpoint(url: str, fake: OpenAIServer, workspace: str | None) -> None:
    """A ``judge-ep`` endpoint in ``workspace`` (``None``: default) on a model named after it."""
    import mlflow

    mlflow.set_workspace(workspace)
    chat_endpoints(official_store(url), fake.base_url, "judge-ep", secret="judge-key", definition="judge-model",
                   model=f"gpt-{workspace}")  # fmt: skip


def test_gateway_judges_reach_the_endpoint_of_their_workspace(server: LiveServer, fake: OpenAIServer) -> None:
    """``gateway:/judge-ep`` names the client's workspace, in the SDK and in the server's online scoring.

    The same endpoint name exists in ``default`` (model ``gpt-None``) and in ``ws-judge`` (model
    ``gpt-ws-judge``): a judge called by mltrail's SDK with ``set_workspace("ws-judge")``, and a judge
    started on an experiment of ``ws-judge`` and run by the server's scorer worker, both reach the latter.
    """
    import mlflow
    from mlflow.genai.judges import make_judge as official_make_judge
    from mlflow.genai.scorers import ScorerSamplingConfig

    import mltrail
    from mltrail.genai.judges import make_judge

    fake.set_responder(lambda request: json.dumps({"result": "yes", "rationale": "judged"}))
    url = server.url
    mlflow.set_tracking_uri(url)
    mlflow.create_workspace("ws-judge")
    try:
        _judge_endpoint(url, fake, None)
        _judge_endpoint(url, fake, "ws-judge")

        mltrail.set_tracking_uri(url)
        mltrail.set_workspace("ws-judge")
        try:
            judge = make_judge(name="ok", instructions="Is {{ outputs }} fine?", model="gateway:/judge-ep")
            assert judge(outputs="hello").value == "yes"
        finally:
            mltrail.set_workspace(None)
            mltrail.set_tracking_uri(None)
        assert fake.requests[-1]["body"]["model"] == "gpt-ws-judge"

        mlflow.set_workspace("ws-judge")
        mlflow.set_experiment("judged-online")
        started = (
            official_make_judge(
                name="fine",
                instructions="Is {{ outputs }} fine?",
                model="gateway:/judge-ep",
                feedback_value_type=str,
            )
            .register(name="fine")
            .start(sampling_config=ScorerSamplingConfig(sample_rate=1.0))
        )
        assert started.sample_rate == 1.0
        before = len(fake.requests)

        @mlflow.trace(name="answer")
        def answer(question: str) -> str:
            return "all good"

        answer("how is it?")
        mlflow.flush_trace_async_logging()
        feedback = wait_feedback(url, mlflow.get_last_active_trace_id(), "fine", workspace="ws-judge")[0]
        assert feedback["feedback"]["value"] == "yes", feedback
        assert [r["body"]["model"] for r in fake.requests[before:]] == ["gpt-ws-judge"]
    finally:
        mlflow.set_workspace(None)
        mlflow.set_tracking_uri(None)
