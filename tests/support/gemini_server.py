"""A small Gemini API (``generativelanguage.googleapis.com``) server on loopback, for tests.

It stands in for Google's hosted API and speaks its wire format:
``POST /v1beta/models/{model}:generateContent`` with the ``x-goog-api-key`` header and
a JSON body ``{"contents": [{"role", "parts": [{"text"}]}], ...}``, answered with
``candidates`` and ``usageMetadata``; ``:streamGenerateContent?alt=sse`` answers the
same as server-sent events, one text piece per event, usage on the last. A wrong
key is a 400 ``API_KEY_INVALID`` as there; so is a field the API does not know
(``Unknown name "messages"``) or a role other than ``user`` / ``model``. The
``generationConfig`` is honoured as there: ``candidateCount`` candidates,
``stopSequences`` cut the text, ``maxOutputTokens`` (one token per word here) cuts it
with ``MAX_TOKENS``. A responder may answer a list of parts (``functionCall`` ones).
``:embedContent`` and ``:batchEmbedContents`` answer small deterministic vectors.
Every accepted request is recorded in ``server.requests``.

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

Responder = Callable[[dict[str, Any]], "str | list[dict[str, Any]]"]
TEST_API_KEY = "gemini-test-key-never-log-me"
_PREFIX = "/v1beta/models/"
_ACTIONS = ("generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents")
# generateContent's request fields (the API takes both spellings); anything else is a 400 there.
_KNOWN = frozenset(
    {"contents", "tools", "toolConfig", "tool_config", "safetySettings", "safety_settings",
     "systemInstruction", "system_instruction", "generationConfig", "generation_config",
     "cachedContent", "cached_content", "model"}
)  # fmt: skip


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
        if not path.startswith(_PREFIX) or action not in _ACTIONS:
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
        headers = {k.lower(): v for k, v in self.headers.items()}
        if action in ("embedContent", "batchEmbedContents"):
            self._embed(action, model, body, headers)
            return
        problem = _validate(body)
        if problem:
            self._error(400, problem)
            return
        self.server.requests.append({"path": self.path, "model": model, "body": body, "headers": headers})
        answer = self.server.responder(body)
        config = body.get("generationConfig") or body.get("generation_config") or {}
        candidates = [_candidate(answer, config, i) for i in range(int(config.get("candidateCount") or 1))]
        prompt = sum(len(p.get("text", "").split()) for c in body["contents"] for p in c.get("parts") or [])
        out = sum(_tokens(c["content"]["parts"]) for c in candidates)
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}
        if action == "generateContent":
            self._send_json(200, {"candidates": candidates, "usageMetadata": usage, "modelVersion": model})
            return
        if query != "alt=sse":
            self._error(400, "This fake streams only with ?alt=sse")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        events = _stream_events(candidates)
        for i, event in enumerate(events):
            piece = {
                **event,
                "modelVersion": model,
                **({"usageMetadata": usage} if i == len(events) - 1 else {}),
            }
            self.wfile.write(f"data: {json.dumps(piece)}\r\n\r\n".encode())
        self.wfile.flush()

    def _embed(self, action: str, model: str, body: Any, headers: dict[str, str]) -> None:
        """``embedContent`` (one ``content``) or ``batchEmbedContents`` (``requests``, each naming the model)."""
        requests = body.get("requests") if action == "batchEmbedContents" else [body]
        if not isinstance(requests, list) or not requests:
            self._error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
            return
        for i, request in enumerate(requests):
            if action == "batchEmbedContents" and request.get("model") != f"models/{model}":
                self._error(
                    400, f"* BatchEmbedContentsRequest.requests[{i}].model: model must be models/{model}"
                )
                return
            if not (request.get("content") or {}).get("parts"):
                self._error(400, "* EmbedContentRequest.content: content is not specified")
                return
        self.server.requests.append({"path": self.path, "model": model, "body": body, "headers": headers})
        vectors = [{"values": embedding(r, r.get("outputDimensionality") or 4)} for r in requests]
        self._send_json(
            200, {"embeddings": vectors} if action == "batchEmbedContents" else {"embedding": vectors[0]}
        )


def embedding(request: dict[str, Any], size: int = 4) -> list[float]:
    """The fake's vector for one embed request: its text's length, word count, then 0.5s."""
    text = " ".join(p.get("text", "") for p in request["content"]["parts"])
    return [float(len(text)), float(len(text.split())), *([0.5] * (size - 2))][:size]


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict) or not body.get("contents"):
        return "* GenerateContentRequest.contents: contents is not specified"
    for name in body:
        if name not in _KNOWN:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    for content in body["contents"]:
        if content.get("role") not in ("user", "model"):
            return "Please use a valid role: user, model."
    return None


def _tokens(parts: list[dict[str, Any]]) -> int:
    return sum(len(p["text"].split()) if "text" in p else 1 for p in parts)


def _candidate(answer: Any, config: dict[str, Any], index: int) -> dict[str, Any]:
    """One candidate: the responder's parts, or its text cut at a stop sequence or the token limit."""
    if not isinstance(answer, str):
        return {"content": {"parts": list(answer), "role": "model"}, "finishReason": "STOP", "index": index}
    finish = "STOP"
    for stop in config.get("stopSequences") or ():
        if stop in answer:
            answer = answer[: answer.index(stop)]
    words = answer.split(" ")
    limit = config.get("maxOutputTokens")
    if limit and len(words) > limit:
        answer, finish = " ".join(words[:limit]), "MAX_TOKENS"
    return {"content": {"parts": [{"text": answer}], "role": "model"}, "finishReason": finish, "index": index}


def _stream_events(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates as stream events: text one word per event (the finish reason on the last), calls whole."""
    events = []
    for c in candidates:
        parts = c["content"]["parts"]
        if len(parts) == 1 and "text" in parts[0]:
            words = parts[0]["text"].split(" ")
            for i, word in enumerate(words):
                last = i == len(words) - 1
                piece = {"content": {"parts": [{"text": word if i == 0 else " " + word}], "role": "model"},
                         "index": c["index"], **({"finishReason": c["finishReason"]} if last else {})}  # fmt: skip
                events.append({"candidates": [piece]})
        else:
            events.append({"candidates": [c]})
    return events


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
