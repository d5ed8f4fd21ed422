"""A small MLflow deployments server (AI Gateway) on loopback, for tests.

The real one (``mlflow deployments start-server``) needs packages this
project does not install, so this double speaks its REST protocol, the one
MLflow's deployments client and ``endpoints:/`` judges use:

* ``GET /api/2.0/endpoints/{name}`` -> ``{"name", "endpoint_type", "model":
  {"name", "provider"}, "endpoint_url", "limit"}``; an unknown name is a 404
  ``{"detail": "The endpoint '...' is not present or active on the server..."}``
* ``GET /api/2.0/endpoints/`` -> ``{"endpoints": [...], "next_page_token": null}``
* ``POST /endpoints/{name}/invocations`` with ``{"messages": [...], ...}``
  (``llm/v1/chat``, answered with a ``chat.completion``) or ``{"prompt": ...}``
  (``llm/v1/completions``, answered with a ``text_completion``).

``server.token`` (optional) makes every call require ``Authorization: Bearer
<token>``, as a gateway behind an authenticating proxy does.

Usage: the ``deployments_server`` fixture, which sets
``MLFLOW_DEPLOYMENTS_TARGET``; ``server.fail_next(status, times)`` answers the
next invocations with an error.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from support.fake_http import FakeHTTPServer, JSONHandler

Responder = Callable[[dict[str, Any]], str]

DEFAULT_ENDPOINTS: dict[str, dict[str, Any]] = {
    "judge-chat": {"endpoint_type": "llm/v1/chat", "model": {"name": "gpt-4o-mini", "provider": "openai"}},
    "judge-completions": {
        "endpoint_type": "llm/v1/completions",
        "model": {"name": "gpt-3.5-turbo-instruct", "provider": "openai"},
    },
    "embeddings": {
        "endpoint_type": "llm/v1/embeddings",
        "model": {"name": "text-embedding-3-small", "provider": "openai"},
    },
}
_CRUD_BASE = "/api/2.0/endpoints/"


def default_responder(request: dict[str, Any]) -> str:
    """A deterministic answer naming the prompt (the last user message, or ``prompt``)."""
    if "prompt" in request:
        return f"Answer to: {request['prompt']}"
    return f"Answer to: {request['messages'][-1]['content']}"


def _describe(name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint_type": config["endpoint_type"],
        "model": config["model"],
        "endpoint_url": f"/endpoints/{name}/invocations",
        "limit": None,
    }


class _Handler(JSONHandler):
    server: _Server

    def _detail(self, status: int, detail: Any) -> None:
        self._send_json(status, {"detail": detail})

    def _record(self, method: str, path: str, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append({"method": method, "path": path, "body": body, "headers": headers})

    def _authorized(self) -> bool:
        token = self.server.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self._detail(401, "Unauthorized")
            return False
        return True

    def _unknown(self, name: str) -> None:
        self._detail(
            404,
            f"The endpoint '{name}' is not present or active on the server. Please verify the endpoint name.",
        )

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self._record("GET", path, None)
        if path == "/health":
            self._send_json(200, {"status": "OK"})
            return
        if not self._authorized():
            return
        if path == _CRUD_BASE:
            endpoints = [_describe(n, c) for n, c in self.server.endpoints.items()]
            self._send_json(200, {"endpoints": endpoints, "next_page_token": None})
        elif path.startswith(_CRUD_BASE):
            name = unquote(path[len(_CRUD_BASE) :])
            config = self.server.endpoints.get(name)
            if config is None:
                self._unknown(name)
            else:
                self._send_json(200, _describe(name, config))
        else:
            self._detail(404, "Not Found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
            self._detail(404, "Not Found")
            return
        name = unquote(parts[1])
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            self._detail(400, "JSON decode error")
            return
        self._record("POST", path, body)
        if not self._authorized():
            return
        config = self.server.endpoints.get(name)
        if config is None:
            self._unknown(name)
            return
        with self.server.lock:
            failure = self.server.failures.pop(0) if self.server.failures else None
        if failure is not None:
            self._detail(failure, f"scripted failure {failure}")
            return
        kind = config["endpoint_type"]
        field = {"llm/v1/chat": "messages", "llm/v1/completions": "prompt"}.get(kind)
        if field is None:
            self._detail(404, f"Unexpected route type {kind!r} for route {name!r}.")
            return
        if not isinstance(body, dict) or field not in body:
            # FastAPI's answer to a body that fails the endpoint's request model.
            self._detail(422, [{"type": "missing", "loc": ["body", field], "msg": "Field required"}])
            return
        answer = self.server.responder(body)
        usage = {
            "prompt_tokens": 1,
            "completion_tokens": len(answer.split()),
            "total_tokens": 1 + len(answer.split()),
        }
        common = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": config["model"]["name"],
        }
        if field == "messages":
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
            self._send_json(200, {**common, "object": "chat.completion", "choices": [choice], "usage": usage})
        else:
            choice = {"index": 0, "text": answer, "finish_reason": "stop"}
            self._send_json(200, {**common, "object": "text_completion", "choices": [choice], "usage": usage})


class _Server(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    responder: Responder
    endpoints: dict[str, dict[str, Any]]
    token: str | None
    failures: list[int]
    lock: threading.Lock


class DeploymentsServer(FakeHTTPServer):
    """Start with ``with DeploymentsServer() as s``; ``s.base_url`` is the deployments target URI."""

    thread_name = "fake-deployments"

    def __init__(
        self, responder: Responder = default_responder, endpoints: dict[str, dict[str, Any]] | None = None
    ) -> None:
        super().__init__(_Server, _Handler)
        self._server.responder = responder
        self._server.endpoints = dict(endpoints or DEFAULT_ENDPOINTS)
        self._server.token = None
        self._server.failures = []
        self._server.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.root_url

    def require_token(self, token: str | None) -> None:
        self._server.token = token

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` invocations with HTTP ``status``."""
        with self._server.lock:
            self._server.failures.extend([status] * times)


@pytest.fixture
def deployments_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeploymentsServer]:
    """A running fake deployments server, with ``MLFLOW_DEPLOYMENTS_TARGET`` pointing at it."""
    with DeploymentsServer() as server:
        monkeypatch.setenv("MLFLOW_DEPLOYMENTS_TARGET", server.base_url)
        yield server
