"""A small OpenAI-compatible HTTP server on loopback, for tests.

It stands in for the hosted OpenAI API (the one external service tests may not
reach) and speaks its real wire format, so the official ``openai`` package
talks to it unchanged: ``POST /v1/chat/completions`` (JSON, or server-sent
events with ``"stream": true``), ``POST /v1/responses`` (the Responses API, JSON or
its typed events), ``POST /v1/embeddings`` and ``GET /v1/models``.
Every request body is recorded in ``server.requests`` for assertions.
``server.fail_next(status, times, message)`` answers the next requests with an OpenAI error
(``status="drop"`` closes the connection unanswered, ``"cut"`` hangs up a streamed answer after
its first chunk, before the length it announced).

Usage::

    from support.openai_server import OpenAIServer

    with OpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...

or the ``openai_server`` fixture (import it into a test module), which also
sets ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` so a bare ``openai.OpenAI()``
uses the server.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from support.fake_http import FakeHTTPServer, JSONHandler

Responder = Callable[[dict[str, Any]], str]


def default_responder(request: dict[str, Any]) -> str:
    """A deterministic answer that names the last user message."""
    user = [m for m in request.get("messages", []) if m.get("role") == "user"]
    question = _text(user[-1].get("content")) if user else ""
    return f"Answer to: {question}"


def _text(content: Any) -> str:
    """Message content as text (plain strings or the list-of-parts form)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def count_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


class _Handler(JSONHandler):
    server: _Server

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def _read_json(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "We could not parse the JSON body of your request.")
            return None
        if not isinstance(body, dict):
            self._error(400, "The request body must be a JSON object.")
            return None
        return body

    def _authorized(self) -> bool:
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._error(401, "You didn't provide an API key.", "invalid_api_key")
            return False
        return True

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            if self._authorized():
                models = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.server.models
                ]
                self._send_json(200, {"object": "list", "data": models})
            return
        self._error(404, f"Unknown path {self.path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._read_json()
        if body is None or not self._authorized():
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append({"path": path, "body": body, "headers": headers})
        if self._failed():
            return
        if path == "/v1/chat/completions":
            self._chat(body)
        elif path == "/v1/embeddings":
            self._embeddings(body)
        elif path in ("/v1/responses", "/v1/responses/compact"):
            self._responses(body)
        else:
            self._error(404, f"Unknown path {path}")

    def _failed(self) -> bool:
        """Answer with the next scripted failure, if any is left (a "cut" is left to the stream)."""
        with self.server.lock:
            if not self.server.failures or self.server.failures[0][0] == "cut":
                return False
            status, message = self.server.failures.pop(0)
        if status == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # the client sees the connection dropped
        else:
            self._error(
                int(status), message, "server_error" if int(status) >= 500 else "invalid_request_error"
            )
        return True

    def _cut(self) -> bool:
        with self.server.lock:
            if self.server.failures and self.server.failures[0][0] == "cut":
                self.server.failures.pop(0)
                return True
        return False

    def _chat(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            self._error(400, "'model' and a non-empty 'messages' array are required.")
            return
        answer = self.server.responder(body)
        prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in messages)
        completion_tokens = count_tokens(answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.get("stream"):
            self._stream(body, completion_id, created, answer, usage)
            return
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_test",
            },
        )

    def _stream(
        self, body: dict[str, Any], completion_id: str, created: int, answer: str, usage: dict
    ) -> None:
        cut = self._cut()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        if cut:  # a length the answer never reaches: the client sees the stream break
            self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict[str, Any], finish: str | None, with_usage: bool = False) -> None:
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if with_usage:
                payload["choices"] = []
                payload["usage"] = usage
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""}, None)
        if cut:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        words = answer.split(" ")
        for i, word in enumerate(words):
            chunk({"content": word if i == 0 else " " + word}, None)
        chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, None, with_usage=True)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _responses(self, body: dict[str, Any]) -> None:
        given = body.get("input")
        if not body.get("model") or not given:
            self._error(400, "'model' and 'input' are required.")
            return
        messages = [{"role": "user", "content": given}] if isinstance(given, str) else given
        answer = self.server.responder({**body, "messages": messages})
        input_tokens = sum(count_tokens(_text(m.get("content"))) for m in messages if isinstance(m, dict))
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": count_tokens(answer),
            "total_tokens": input_tokens + count_tokens(answer),
        }
        text = {"type": "output_text", "text": answer, "annotations": []}
        item = {"type": "message", "id": f"msg_{uuid.uuid4().hex[:24]}", "status": "completed",
                "role": "assistant", "content": [text]}  # fmt: skip
        response = {
            "id": f"resp_{uuid.uuid4().hex[:24]}", "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": body["model"], "output": [item], "usage": usage,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        }  # fmt: skip
        if not body.get("stream"):
            self._send_json(200, response)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        events = [
            {"type": "response.created", "response": {**response, "status": "in_progress", "output": [],
                                                      "usage": None}},
            *({"type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
               "content_index": 0, "delta": word if i == 0 else " " + word}
              for i, word in enumerate(answer.split(" "))),
            {"type": "response.completed", "response": response},
        ]  # fmt: skip
        for number, event in enumerate(events):
            event["sequence_number"] = number
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        self.wfile.flush()

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not body.get("model"):
            self._error(400, "'model' and 'input' are required.")
            return
        data = []
        for i, text in enumerate(inputs):
            # A deterministic 8-dimensional vector derived from the text.
            seed = sum(ord(c) for c in str(text))
            data.append(
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [((seed * (k + 1)) % 97) / 97 for k in range(8)],
                }
            )
        tokens = sum(count_tokens(str(t)) for t in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


class _Server(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    responder: Responder
    models: list[str]
    failures: list[tuple[int | str, str]]
    lock: threading.Lock


class OpenAIServer(FakeHTTPServer):
    """Start with ``with OpenAIServer() as s`` (or ``start()``/``stop()``); ``s.base_url`` ends in ``/v1``."""

    thread_name = "fake-openai"

    def __init__(self, responder: Responder = default_responder, models: list[str] | None = None) -> None:
        super().__init__(_Server, _Handler)
        self._server.responder = responder
        self._server.models = models or ["gpt-4o-mini", "gpt-4o"]
        self._server.failures = []
        self._server.lock = threading.Lock()

    def fail_next(self, status: int | str, times: int = 1, message: str = "The server had an error") -> None:
        """Answer the next ``times`` requests with HTTP ``status`` and ``message`` as OpenAI words an
        error, or ``"drop"`` the connection unanswered, or ``"cut"`` the next streamed chat answer."""
        with self._server.lock:
            self._server.failures.extend([(status, message)] * times)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    """A running fake server, with ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at it."""
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        yield server
