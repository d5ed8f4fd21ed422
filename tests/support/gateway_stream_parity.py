"""The script the parity test runs against both servers: streamed gateway calls whose provider fails.

``stream_failures(url, fake)`` makes three endpoints on the loopback OpenAI fake (``sf-flaky``),
on nothing (``sf-dead``) and on both (``sf-failover``: dead first, the fake as its fallback), has
the fake fail each call it means to (``fail_next``) and returns what each call answered, in a
form both servers can be compared in: the whole answer where MLflow's words are mltrail's, the
events' shape where the error is the HTTP client's own (aiohttp in MLflow, httpx in mltrail).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from support.gateway_kit import chat_endpoints
from support.openai_server import OpenAIServer
from support.parity_norm import rest_store

DEAD = "http://127.0.0.1:9/v1"  # nothing listens there
HI = [{"role": "user", "content": "Hi there"}]


def _stream(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[int, str | None, str]:
    with client.stream("POST", url, json=body) as resp:
        return resp.status_code, resp.headers.get("content-type"), resp.read().decode()


def _shape(answer: tuple[int, str | None, str]) -> dict[str, Any]:
    """A stream's status and type, and per event its keys, its ``error``'s keys, and whether [DONE] ends it."""
    status, kind, text = answer
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    return {
        "status": status,
        "type": kind,
        "events": [sorted(e) if "error" not in e else {"error": sorted(e["error"])} for e in events],
        "done": text.rstrip().endswith("[DONE]"),
    }


def stream_failures(url: str, fake: OpenAIServer) -> dict[str, Any]:
    """Each streamed failure's answer (see the module), and a streamed compaction's refusal."""
    from mlflow.entities import FallbackConfig, FallbackStrategy, GatewayEndpointModelConfig
    from mlflow.entities import GatewayModelLinkageType as L

    store = rest_store(url)
    made = chat_endpoints(store, fake.base_url, "sf-flaky", secret="sf-key", definition="sf-model")
    made.update(chat_endpoints(store, DEAD, "sf-dead", secret="sf-dead-key", definition="sf-dead-model"))
    models = [made[n].model_mappings[0].model_definition for n in ("sf-dead", "sf-flaky")]
    made["sf-failover"] = store.create_gateway_endpoint(
        "sf-failover",
        [GatewayEndpointModelConfig(models[0].model_definition_id, L.PRIMARY),
         GatewayEndpointModelConfig(models[1].model_definition_id, L.FALLBACK, 1.0, 1)],
        fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=1),
    )  # fmt: skip
    chat = {"messages": HI, "stream": True}
    out: dict[str, Any] = {}
    with httpx.Client(timeout=120) as client:
        # An HTTP error from the provider before the first chunk, on each route that streams.
        for path, body in {
            "unified": ("/gateway/mlflow/v1/chat/completions", {"model": "sf-flaky", **chat}),
            "invocations": ("/gateway/sf-flaky/mlflow/invocations", chat),
            "openai_chat": ("/gateway/openai/v1/chat/completions", {"model": "sf-flaky", **chat}),
            "responses": (
                "/gateway/openai/v1/responses",
                {"model": "sf-flaky", "input": "Hi", "stream": True},
            ),
        }.items():
            fake.fail_next(500, message="The server had an error")
            out[f"http_error_{path}"] = _stream(client, url + body[0], body[1])
        fake.fail_next(400, message="'messages' is too long")
        out["http_400"] = _stream(
            client, f"{url}/gateway/openai/v1/chat/completions", {"model": "sf-flaky", **chat}
        )
        # Every model of a fallback endpoint failing: the primary unreachable, the fallback a 502.
        fake.fail_next(502, message="bad gateway")
        out["fallbacks_failed"] = _stream(
            client, f"{url}/gateway/openai/v1/chat/completions", {"model": "sf-failover", **chat}
        )
        # The shapes only: the errors of the HTTP clients themselves.
        out["unreachable"] = _shape(
            _stream(client, f"{url}/gateway/mlflow/v1/chat/completions", {"model": "sf-dead", **chat})
        )
        # (MLflow asks an OpenAI passthrough stream for its usage chunk too: an event more.)
        answered = _shape(
            _stream(client, f"{url}/gateway/openai/v1/chat/completions", {"model": "sf-failover", **chat})
        )
        out["fallback_answers"] = {**answered, "events": [e for e in answered["events"] if "error" in e]}
        fake.fail_next("cut")
        out["cut"] = _shape(
            _stream(client, f"{url}/gateway/openai/v1/chat/completions", {"model": "sf-flaky", **chat})
        )
        compact = client.post(
            f"{url}/gateway/openai/v1/responses/compact",
            json={"model": "sf-flaky", "input": "Hi", "stream": True},
        )
        said = compact.json()
        out["compact"] = (compact.status_code, said.get("message", said.get("detail")))
    for endpoint in made.values():
        store.delete_gateway_endpoint(endpoint.endpoint_id)
    for definition in models:
        store.delete_gateway_model_definition(definition.model_definition_id)
        store.delete_gateway_secret(definition.secret_id)
    return out
