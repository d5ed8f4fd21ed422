"""A small Gemini API (``generativelanguage.googleapis.com``) server on loopback, for tests.

It stands in for Google's hosted API and speaks its wire format:
``POST /v1beta/models/{model}:generateContent`` with the ``x-goog-api-key`` header and
a JSON body ``{"contents": [{"role", "parts": [{"text"}]}], ...}``, answered with
``candidates`` and ``usageMetadata``; ``:streamGenerateContent?alt=sse`` answers the
same as server-sent events, one text piece per event, usage on the last. A wrong
key is a 400 ``API_KEY_INVALID`` as there; every accepted request is recorded in
``server.requests``.

Usage::

    from support.gemini_server import GeminiServer

    with GeminiServer(api_key="g-test") as server:
        ...  # server.base_url ends in /v1beta
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from support.fake_http import FakeHTTPServer, JSONHandler

Responder = Callable[[dict[str, Any]], str]
TEST_API_KEY = "gemini-test-key-never-log-me"
_PREFIX = "/v1beta/models/"


def default_responder(request: dict[str, Any]) -> str:
    """A deterministic answer naming the last user text."""
    texts = [p.get("text", "") for c in request.get("contents") or [] for p in c.get("parts") or []]
    return f"Gemini says: {texts[-1] if texts else ''}"


class _Handler(JSONHandler):
    server: _Server

    def _error(self, status: int, message: str, reason: str = "INVALID_ARGUMENT") -> None:
        self._send_json(status, {"error": {"code": status, "message": message, "status": reason}})

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        model, _, action = path.removeprefix(_PREFIX).partition(":")
        if not path.startswith(_PREFIX) or action not in ("generateContent", "streamGenerateContent"):
            self._error(404, f"Unknown path {path}", "NOT_FOUND")
            return
        if self.headers.get("x-goog-api-key") != self.server.api_key:
            self._error(400, "API key not valid. Please pass a valid API key.")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "Invalid JSON payload received.")
            return
        if not isinstance(body, dict) or not body.get("contents"):
            self._error(400, "* GenerateContentRequest.contents: contents is not specified")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append({"path": self.path, "model": model, "body": body, "headers": headers})
        answer = self.server.responder(body)
        prompt = sum(len(p.get("text", "").split()) for c in body["contents"] for p in c.get("parts") or [])
        usage = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": len(answer.split()),
            "totalTokenCount": prompt + len(answer.split()),
        }
        if action == "generateContent":
            self._send_json(200, _answer(answer, model, usage))
            return
        if query != "alt=sse":
            self._error(400, "This fake streams only with ?alt=sse")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        words = answer.split(" ")
        for i, word in enumerate(words):
            piece = _answer(word if i == 0 else " " + word, model, usage if i == len(words) - 1 else None)
            self.wfile.write(f"data: {json.dumps(piece)}\r\n\r\n".encode())
        self.wfile.flush()


def _answer(text: str, model: str, usage: dict[str, int] | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "modelVersion": model,
    }
    if usage:
        found["usageMetadata"] = usage
    return found


class _Server(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    responder: Responder
    api_key: str


class GeminiServer(FakeHTTPServer):
    """Start with ``with GeminiServer() as s``; ``s.base_url`` is ``http://127.0.0.1:<port>/v1beta``."""

    thread_name = "fake-gemini"

    def __init__(self, responder: Responder = default_responder, api_key: str = TEST_API_KEY) -> None:
        super().__init__(_Server, _Handler)
        self._server.responder = responder
        self._server.api_key = api_key

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1beta"
