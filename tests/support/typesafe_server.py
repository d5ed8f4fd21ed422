"""A small TypeSafe System One API server on loopback, for tests.

It stands in for api.typesafe.ai (an external service tests may not reach) and speaks
the wire format MLflow 3.17's TypeSafe provider and its ``typesafe:/`` / ``gateway:/``
judges use: ``POST /v1/systemone`` with ``Authorization: Bearer <key>`` and a JSON body
``{"model", "state", "questions"}``, where each question is ``{"type": "noul",
"instructions"}`` (a yes/no probability) or ``{"type": "choice", "instructions",
"criteria": {label: description}}``. The answer is ``{"model", "answers": {name: answer},
"usage": {"input_tokens", "output_tokens"}}`` with a ``noul`` answer ``{"type": "noul",
"noul": p}`` or a ``choice`` answer ``{"type": "choice", "choice", "probabilities",
"confidence"}``. OpenRouter serves the same API at ``<its base>/systemone``, so the fake
stands in for it too (point the secret's ``api_base`` at ``server.base_url``).

Like the real API it refuses a wrong key (401), a body without ``model``, ``state`` or
``questions``, an unknown question type and top-level fields it does not know (a chat
``messages`` body, ``stream``), as ``{"error": {"type", "message"}}``.

Usage::

    from support.typesafe_server import TypeSafeServer

    with TypeSafeServer("ts-key", "sk-or-key") as server:  # the API keys it accepts
        ...  # server.base_url is ``<root>/v1``; server.requests lists what arrived

``server.set_responder(fn)`` answers each question with ``fn(name, question, state)``
(a ``noul`` probability, or a ``choice`` label); by default a ``noul`` question is 0.8
and a ``choice`` question its first label.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from support.fake_http import FakeHTTPServer, JSONHandler

TEST_API_KEY = "ts-test-key-never-log-me-0123456789"
Responder = Callable[[str, dict[str, Any], dict[str, Any]], "float | str"]
_KNOWN_FIELDS = frozenset({"model", "state", "questions"})


def default_responder(name: str, question: dict[str, Any], state: dict[str, Any]) -> float | str:
    """0.8 for a yes/no question, the first label of a choice."""
    return 0.8 if question["type"] == "noul" else next(iter(question["criteria"]))


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        return f"Unknown fields: {', '.join(unknown)}."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' is required."
    if not isinstance(body.get("state"), dict):
        return "'state' must be an object."
    questions = body.get("questions")
    if not isinstance(questions, dict) or not questions:
        return "'questions' must be a non-empty object."
    for name, q in questions.items():
        if not isinstance(q, dict) or q.get("type") not in ("noul", "choice"):
            return f"questions.{name}.type must be 'noul' or 'choice'."
        if not isinstance(q.get("instructions"), str) or not q["instructions"].strip():
            return f"questions.{name}.instructions must be a non-empty string."
        if q["type"] == "choice" and (not isinstance(q.get("criteria"), dict) or not q["criteria"]):
            return f"questions.{name}.criteria must be a non-empty object."
    return None


def _answer(question: dict[str, Any], value: float | str) -> dict[str, Any]:
    if question["type"] == "noul":
        return {"type": "noul", "noul": float(value)}
    labels = list(question["criteria"])
    rest = (1.0 - 0.9) / (len(labels) - 1) if len(labels) > 1 else 0.0
    probabilities = {label: (0.9 if label == value else rest) if len(labels) > 1 else 1.0 for label in labels}
    return {"type": "choice", "choice": value, "probabilities": probabilities, "confidence": 0.9}


class _Handler(JSONHandler):
    server: _Server

    def _error(self, status: int, kind: str, message: str) -> None:
        self._send_json(status, {"error": {"type": kind, "message": message}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path != "/v1/systemone":
            self._error(404, "not_found", f"No route {path}")
            return
        if self.headers.get("Authorization") not in {f"Bearer {key}" for key in self.server.api_keys}:
            self._error(401, "authentication_error", "Invalid API key.")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "invalid_request_error", "The request body is not valid JSON.")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append({"path": path, "body": body, "headers": headers})
        problem = _problem(body)
        if problem:
            self._error(400, "invalid_request_error", problem)
            return
        responder = self.server.responder or default_responder
        answers = {
            name: _answer(q, responder(name, q, body["state"])) for name, q in body["questions"].items()
        }
        words = len(json.dumps(body["state"]).split()) + sum(
            len(q["instructions"].split()) for q in body["questions"].values()
        )
        self._send_json(
            200,
            {
                "model": body["model"],
                "answers": answers,
                "usage": {"input_tokens": words, "output_tokens": len(answers)},
            },
        )


class _Server(ThreadingHTTPServer):
    api_keys: tuple[str, ...]
    responder: Responder | None
    requests: list[dict[str, Any]]


class TypeSafeServer(FakeHTTPServer):
    """The fake TypeSafe API on a free loopback port (``base_url`` ends in ``/v1``)."""

    thread_name = "fake-typesafe"

    def __init__(self, *api_keys: str) -> None:
        super().__init__(_Server, _Handler)
        self._server.api_keys = api_keys or (TEST_API_KEY,)
        self._server.responder = None

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"
