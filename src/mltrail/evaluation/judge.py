"""Calls to the judge model of LLM-as-judge metrics, and parsing of its verdicts.

A judge is named by a URI ``openai:/<model>``; the call goes through the
``openai`` package (imported only here, lazily) to any OpenAI-compatible
endpoint, honouring ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``. Rate limits
(429), server errors (5xx) and dropped connections are retried with
exponential backoff; the verdict is a JSON object with an integer ``score``
and a ``justification``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from mltrail.exceptions import invalid

SUPPORTED_SCHEMES = ("openai",)
DEFAULT_JUDGE = "openai:/gpt-4o-mini"
_RETRIES_VAR = "MLTRAIL_GENAI_JUDGE_MAX_RETRIES"
_DEFAULT_RETRIES = 3
_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Verdict:
    """One graded row: ``score`` is ``None`` when the judge could not be used or understood."""

    score: int | None
    justification: str | None


def parse_judge_uri(uri: str) -> tuple[str, str]:
    """``"openai:/gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; anything else is INVALID_PARAMETER_VALUE."""
    if not isinstance(uri, str) or ":" not in uri:
        raise invalid(
            f"Malformed judge model URI {uri!r}: expected '<provider>:/<model>', e.g. 'openai:/gpt-4o-mini'."
        )
    scheme, _, rest = uri.partition(":")
    model = rest.lstrip("/")
    if scheme not in SUPPORTED_SCHEMES:
        raise invalid(
            f"Unsupported judge model provider {scheme!r} in {uri!r}: supported providers are "
            f"{', '.join(SUPPORTED_SCHEMES)} (any OpenAI-compatible endpoint through OPENAI_BASE_URL)."
        )
    if not model:
        raise invalid(f"Malformed judge model URI {uri!r}: the model name is missing.")
    return scheme, model


_clients: dict[tuple[str | None, str | None], Any] = {}
_clients_lock = threading.Lock()


def _openai_client() -> Any:
    """One client per (base URL, key), shared by the worker threads (it pools connections)."""
    try:
        import openai
    except ImportError as err:  # pragma: no cover - openai is installed in dev/test envs
        raise invalid("LLM-as-judge metrics need the openai package: pip install 'mltrail[genai]'") from err
    key = (os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if not key[1]:
                raise invalid("OPENAI_API_KEY must be set to use an 'openai:/' judge model.")
            # Our own retry loop below decides what is retried and how often.
            client = openai.OpenAI(base_url=key[0], api_key=key[1], max_retries=0)
            _clients[key] = client
        return client


def check_judge_available(uri: str) -> None:
    """Fail early (before any row is sent or anything logged) if the judge cannot be called at all."""
    parse_judge_uri(uri)
    _openai_client()


def _retryable(err: Exception) -> bool:
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code == 429 or err.status_code >= 500
    return isinstance(err, (openai.APIConnectionError, openai.APITimeoutError))


def complete(uri: str, prompt: str, parameters: dict[str, Any] | None = None) -> str:
    """Send ``prompt`` to the judge as one user message and return the reply text (retrying transient errors)."""
    _, model = parse_judge_uri(uri)
    client = _openai_client()
    retries = int(os.environ.get(_RETRIES_VAR, _DEFAULT_RETRIES))
    params = {"temperature": 0.0, **(parameters or {})}
    attempt = 0
    while True:
        try:
            resp = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}], **params
            )
            return resp.choices[0].message.content or ""
        except Exception as err:
            if attempt >= retries or not _retryable(err):
                raise
            time.sleep(_BACKOFF_SECONDS * (2**attempt))
            attempt += 1


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_SCORE_FIELD = re.compile(r'"?score"?\s*[:=]\s*"?(\d+)', re.IGNORECASE)
_JUSTIFICATION_FIELD = re.compile(r'"?justification"?\s*[:=]\s*"(.*?)"\s*[,}]?\s*$', re.IGNORECASE | re.DOTALL)


def parse_verdict(text: str, low: int = 1, high: int = 5) -> Verdict:
    """Read ``{"score": n, "justification": "..."}`` from a judge reply.

    Accepts the object alone, wrapped in prose or a Markdown code fence. A reply
    without a whole-number score in ``[low, high]`` gives ``score=None`` and a
    justification saying why, quoting the reply.
    """
    data: Any = None
    for candidate in (text.strip(), *(_JSON_OBJECT.findall(text) or [])):
        try:
            data = json.loads(candidate)
            break
        except ValueError:
            continue
    if isinstance(data, dict):
        score, justification = data.get("score"), data.get("justification")
    else:  # loose "score: 4" replies, as some models give
        m = _SCORE_FIELD.search(text or "")
        score = m.group(1) if m else None
        j = _JUSTIFICATION_FIELD.search(text or "")
        justification = j.group(1) if j else None
    try:
        value = float(score) if isinstance(score, (int, float, str)) and not isinstance(score, bool) else None
    except ValueError:
        value = None
    if value is None or not value.is_integer() or not low <= value <= high:
        snippet = (text or "").strip()
        if len(snippet) > 300:
            snippet = snippet[:300] + "..."
        return Verdict(
            None,
            f"Failed to extract a score in [{low}, {high}] and a justification from the judge's reply: {snippet!r}",
        )
    return Verdict(int(value), None if justification is None else str(justification))
