"""A small Anthropic Messages API server on loopback, for tests.

It stands in for api.anthropic.com (an external service tests may not reach)
and speaks its wire format: ``POST /v1/messages`` with the ``x-api-key`` and
``anthropic-version`` headers and a JSON body ``{"model", "max_tokens",
"messages", ...}``, answered with a ``message`` object (or, with ``"stream": true``,
its server-sent events: ``message_start`` … ``message_stop``) whose ``content`` is a
list of ``{"type": "text", "text": ...}`` blocks. Like the real API it rejects a
wrong key (401 ``authentication_error``), a missing version header, a missing
``max_tokens`` and top-level fields the API does not know (OpenAI-only ones
such as ``n`` or ``stop``), all as ``{"type": "error", "error": {"type",
"message"}}``.

Usage::

    from support.anthropic_server import AnthropicServer

    with AnthropicServer(api_key="sk-ant-test") as server:
        ...  # server.base_url is the server root; requests go to /v1/messages

or the ``anthropic_server`` fixture, which also sets ``ANTHROPIC_BASE_URL`` and
``ANTHROPIC_API_KEY``. ``server.fail_next(status, times)`` answers the next
requests with an error (``status="drop"`` closes the connection unanswered);
``server.break_next_stream(message)`` ends the next stream with an ``error`` event.

As the API does, an answer stops at the first of ``stop_sequences`` it contains
(``stop_reason: "stop_sequence"``) or after ``max_tokens`` tokens (one per word here,
``"max_tokens"``); a responder answering ``tool_use`` blocks stops with ``"tool_use"``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from support.fake_http import FakeHTTPServer, JSONHandler

# A responder answers text, or a list of content blocks (``text`` and ``tool_use``).
Responder = Callable[[dict[str, Any]], "str | list[dict[str, Any]]"]

TEST_API_KEY = "sk-ant-api03-test-key-never-log-me"

# Top-level request fields of the Messages API; anything else is a 400, as there.
_KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "metadata", "stop_sequences", "stream", "system",
        "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier",
        "container", "mcp_servers", "context_management", "output_config", "output_format",
    }
)  # fmt: skip
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def default_responder(request: dict[str, Any]) -> str:
    """A deterministic answer that names the last user message."""
    return f"Answer to: {_text(request['messages'][-1]['content'])}"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict))


class _Handler(JSONHandler):
    server: _Server

    def extra_headers(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:24]}"}

    def _error(self, status: int, message: str) -> None:
        kind = _ERROR_TYPES.get(status, "api_error")
        self._send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def do_GET(self) -> None:
        self._error(404, "Not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?", 1)[0] != "/v1/messages":
            self._error(404, "Not found")
            return
        if self._scripted_failure():
            return
        if self.headers.get("x-api-key") != self.server.api_key:
            self._error(401, "invalid x-api-key")
            return
        if not self.headers.get("anthropic-version"):
            self._error(400, "anthropic-version: header is required")
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self._error(400, "Content-Type must be application/json")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "There was an issue with your request body: it is not valid JSON")
            return
        problem = _validate(body)
        if problem:
            self._error(400, problem)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append({"path": "/v1/messages", "body": body, "headers": headers})
        blocks, stop_reason, stop_sequence = _answer_blocks(self.server.responder(body), body)
        input_tokens = sum(len(_text(m["content"]).split()) for m in body["messages"])
        output_tokens = sum(
            len(b["text"].split()) if b["type"] == "text" else len(json.dumps(b["input"]).split())
            for b in blocks
        )
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        if body.get("stream"):
            self._stream(message)
        else:
            self._send_json(200, message)

    def _stream(self, message: dict[str, Any]) -> None:
        """The Messages API's event stream: message_start, each block in deltas, message_delta, stop."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
        }
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                events.append(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    }
                )
                events += (
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": word if i == 0 else " " + word},
                    }
                    for i, word in enumerate(block["text"].split(" "))
                )
            else:  # tool_use: the input arrives as partial JSON, in two pieces
                events.append(
                    {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
                )
                raw = json.dumps(block["input"])
                events += (
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    }
                    for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :])
                )
            events.append({"type": "content_block_stop", "index": index})
        events += [
            {"type": "message_delta",
             "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
             "usage": {"output_tokens": message["usage"]["output_tokens"]}},
            {"type": "message_stop"},
        ]  # fmt: skip
        with self.server.lock:
            broken, self.server.break_stream = self.server.break_stream, None
        if broken:  # the API's mid-stream failure: an error event after the first text, then the end
            events = [
                *events[:3],
                {"type": "error", "error": {"type": "overloaded_error", "message": broken}},
            ]
        for event in events:
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        self.wfile.flush()

    def _scripted_failure(self) -> bool:
        """Answer with the next scripted failure, if any is left."""
        with self.server.lock:
            if not self.server.failures:
                return False
            status, message = self.server.failures.pop(0)
            self.server.failed += 1
        if status == "drop":
            self.close_connection = True
            self.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees the connection dropped
            return True
        self._error(int(status), message)
        return True


def _answer_blocks(answer: Any, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
    """The answer's content blocks, cut as the API cuts them, with its stop reason and sequence."""
    if not isinstance(answer, str):
        blocks = [dict(b) for b in answer]
        return blocks, "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn", None
    for stop in body.get("stop_sequences") or ():
        if stop in answer:
            return [{"type": "text", "text": answer[: answer.index(stop)]}], "stop_sequence", stop
    words = answer.split(" ")
    if len(words) > body["max_tokens"]:
        return [{"type": "text", "text": " ".join(words[: body["max_tokens"]])}], "max_tokens", None
    return [{"type": "text", "text": answer}], "end_turn", None


def _validate(body: Any) -> str | None:
    """The Messages API's request checks that matter to a client, with its messages."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    extra = sorted(set(body) - _KNOWN_FIELDS)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    if (
        not isinstance(body["max_tokens"], int)
        or isinstance(body["max_tokens"], bool)
        or body["max_tokens"] < 1
    ):
        return "max_tokens: Input should be a valid integer greater than or equal to 1"
    temperature = body.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 1):
        return "temperature: Input should be less than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if not isinstance(message.get("content"), (str, list)):
            return f"messages.{i}.content: Field required"
    if messages[0]["role"] != "user":
        return 'messages: first message must use the "user" role'
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        return "stop_sequences: Input should be a valid list of strings"
    return None


class _Server(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    responder: Responder
    api_key: str
    failures: list[tuple[int | str, str]]
    failed: int
    lock: threading.Lock
    break_stream: str | None


class AnthropicServer(FakeHTTPServer):
    """Start with ``with AnthropicServer() as s`` (or ``start()``/``stop()``); ``s.base_url`` is the root URL."""

    thread_name = "fake-anthropic"

    def __init__(self, responder: Responder = default_responder, api_key: str = TEST_API_KEY) -> None:
        super().__init__(_Server, _Handler)
        self._server.responder = responder
        self._server.api_key = api_key
        self._server.failures = []
        self._server.failed = 0
        self._server.lock = threading.Lock()
        self._server.break_stream = None

    @property
    def base_url(self) -> str:
        return self.root_url

    @property
    def failed(self) -> int:
        """How many requests were answered with a scripted failure."""
        return self._server.failed

    def set_api_key(self, api_key: str) -> None:
        """The key the server accepts (any other gets a 401)."""
        self._server.api_key = api_key

    def break_next_stream(self, message: str = "Overloaded") -> None:
        """The next streamed answer stops after its first words with an ``overloaded_error`` event."""
        with self._server.lock:
            self._server.break_stream = message

    def fail_next(self, status: int | str, times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (or ``"drop"`` the connection)."""
        text = (
            message
            or f"scripted {_ERROR_TYPES.get(status, 'failure') if isinstance(status, int) else status}"
        )
        with self._server.lock:
            self._server.failures.extend([(status, text)] * times)


@pytest.fixture
def anthropic_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    """A running fake server, with ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY`` pointing at it."""
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
        yield server
